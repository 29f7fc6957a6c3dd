// LibTorch peer of descent's CNN (examples/fashion_cnn.toml) under the protocol of
// bench/compare.sh (libtorch_protocol.h): conv(1->32, 3x3)-ReLU-maxpool2-conv(32->64, 3x3)-ReLU-
// maxpool2-linear(1600->128)-ReLU-linear(128->10).
//
//   libtorch_cnn [epochs=3] [threads=2]
#include "libtorch_protocol.h"

int main(int argc, char** argv) {
  return peer::run_libtorch("cnn", {1, 28, 28}, 3, argc, argv, [] {
    namespace tnn = torch::nn;
    return tnn::Sequential(tnn::Conv2d(tnn::Conv2dOptions(1, 32, 3)), tnn::ReLU(),
                           tnn::MaxPool2d(tnn::MaxPool2dOptions(2)), tnn::Conv2d(tnn::Conv2dOptions(32, 64, 3)),
                           tnn::ReLU(), tnn::MaxPool2d(tnn::MaxPool2dOptions(2)), tnn::Flatten(),
                           tnn::Linear(1600, 128), tnn::ReLU(), tnn::Linear(128, 10));
  });
}
