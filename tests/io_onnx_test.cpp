// ONNX export (descent/io.h): the file is read back with libonnx's protobuf classes and checker, and
// each layer's node, attributes and initializer bytes are compared with the model. Numerical
// agreement with an independent runtime is checked by scripts/check_onnx.py (OpenCV's dnn).
//
// To add a layer: build a model holding it, export, and assert its node and attributes below.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "descent/descent.h"
#include "descent/io.h"

#ifdef DESCENT_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#endif

using namespace descent;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("descent_onnx_test_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST(OnnxExport, UnsupportedLayerIsAnErrorNamingItAndWritesNothing) {
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(4, 3));
  net.push_back(std::make_shared<nn::GELU>());
  const fs::path out = temp_path("gelu.onnx");
  try {
    io::export_onnx(net, {4}, out.string());
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(out.string()), std::string::npos) << m;
    if (io::onnx_available()) EXPECT_NE(m.find("layer 1 (GELU)"), std::string::npos) << m;
    else EXPECT_NE(m.find("libonnx-dev"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(out));
}

#ifdef DESCENT_WITH_ONNX

namespace {

onnx::ModelProto read_model(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromIstream(&in));
  onnx::checker::check_model(m);  // throws on an invalid model
  return m;
}

std::vector<std::string> op_types(const onnx::ModelProto& m) {
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  return ops;
}

const onnx::AttributeProto& attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a;
  throw std::runtime_error(n.op_type() + " has no attribute " + name);
}

std::vector<int64_t> ints(const onnx::NodeProto& n, const std::string& name) {
  const auto& a = attribute(n, name);
  return {a.ints().begin(), a.ints().end()};
}

// The initializer's float32 values equal the tensor's (converted to float32).
void expect_initializer(const onnx::ModelProto& m, const std::string& name, const Tensor& t) {
  for (const auto& init : m.graph().initializer()) {
    if (init.name() != name) continue;
    EXPECT_EQ(init.data_type(), onnx::TensorProto::FLOAT) << name;
    EXPECT_EQ(std::vector<int64_t>(init.dims().begin(), init.dims().end()), t.shape()) << name;
    Tensor f = t.to(DType::F32);
    ASSERT_EQ(init.raw_data().size(), static_cast<size_t>(f.numel()) * 4) << name;
    EXPECT_EQ(std::memcmp(init.raw_data().data(), f.raw_data(), init.raw_data().size()), 0) << name;
    return;
  }
  ADD_FAILURE() << "no initializer " << name;
}

std::vector<int64_t> dims(const onnx::ValueInfoProto& v) {
  std::vector<int64_t> out;
  for (const auto& d : v.type().tensor_type().shape().dim()) out.push_back(d.has_dim_param() ? -1 : d.dim_value());
  return out;
}

}  // namespace

TEST(OnnxExport, MlpBecomesGemmsWithTheStateDictAsInitializers) {
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(4, 5, nn::LinearOptions{.dtype = DType::F64, .seed = 1}));
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(std::make_shared<nn::Dropout>(0.3));
  net.push_back(std::make_shared<nn::Linear>(5, 3, nn::LinearOptions{.bias = false, .dtype = DType::F64, .seed = 2}));
  net.push_back(std::make_shared<nn::LeakyReLU>(0.2));
  net.push_back(std::make_shared<nn::LogSoftmax>(1));
  const fs::path out = temp_path("mlp.onnx");
  io::export_onnx(net, {4}, out.string());
  onnx::ModelProto m = read_model(out);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Gemm", "Relu", "Gemm", "LeakyRelu", "LogSoftmax"}));
  const auto& g = m.graph();
  EXPECT_EQ(attribute(g.node(0), "transB").i(), 1);
  EXPECT_EQ(g.node(0).input_size(), 3);  // X, W, B
  EXPECT_EQ(g.node(2).input_size(), 2);  // no bias
  EXPECT_FLOAT_EQ(attribute(g.node(3), "alpha").f(), 0.2f);
  EXPECT_EQ(attribute(g.node(4), "axis").i(), 1);
  expect_initializer(m, "0.weight", net.state_dict()[0].second);
  expect_initializer(m, "0.bias", net.state_dict()[1].second);
  expect_initializer(m, "3.weight", net.state_dict()[2].second);
  EXPECT_EQ(g.input(0).name(), "input");
  EXPECT_EQ(dims(g.input(0)), (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(g.output(0).name(), "output");
  EXPECT_EQ(dims(g.output(0)), (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(g.node(g.node_size() - 1).output(0), "output");
  fs::remove(out);
}

TEST(OnnxExport, CnnWithBatchNormKeepsEveryAttribute) {
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Conv2d>(1, 2, std::array<int64_t, 2>{3, 3},
                                             nn::Conv2dOptions{.padding = {1, 1}, .seed = 3}));
  net.push_back(std::make_shared<nn::BatchNorm2d>(2, nn::BatchNormOptions{.eps = 1e-3}));
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(std::make_shared<nn::MaxPool2d>(ops::Pool2dOptions{.kernel_size = {2, 2}}));
  net.push_back(std::make_shared<nn::AvgPool2d>(ops::Pool2dOptions{.kernel_size = {2, 2}, .padding = {1, 1}}));
  net.push_back(std::make_shared<nn::GlobalAvgPool2d>());
  net.push_back(std::make_shared<nn::Linear>(2, 3, nn::LinearOptions{.seed = 4}));
  Generator gen(5);
  net(normal({4, 1, 6, 6}, 0.5, 2.0, gen));  // training-mode forward: running statistics move off 0 and 1
  const fs::path out = temp_path("cnn.onnx");
  io::export_onnx(net, {1, 6, 6}, out.string(), {.opset = 17});
  onnx::ModelProto m = read_model(out);
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool",
                                                   "GlobalAveragePool", "Flatten", "Gemm"}));
  const auto& g = m.graph();
  EXPECT_EQ(ints(g.node(0), "kernel_shape"), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(ints(g.node(0), "pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(ints(g.node(0), "strides"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(attribute(g.node(0), "group").i(), 1);
  EXPECT_FLOAT_EQ(attribute(g.node(1), "epsilon").f(), 1e-3f);
  EXPECT_EQ(ints(g.node(3), "strides"), (std::vector<int64_t>{2, 2}));  // stride 0 means the kernel
  EXPECT_EQ(ints(g.node(4), "pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(attribute(g.node(4), "count_include_pad").i(), 1);  // torch's default, not ONNX's
  auto* bn = dynamic_cast<nn::BatchNorm2d*>(net.at(1).get());
  EXPECT_NE(bn->running_mean.at({0}), 0.0);
  expect_initializer(m, "1.running_mean", bn->running_mean);
  expect_initializer(m, "1.running_var", bn->running_var);
  expect_initializer(m, "0.weight", dynamic_cast<nn::Conv2d*>(net.at(0).get())->weight);
  EXPECT_EQ(dims(g.output(0)), (std::vector<int64_t>{-1, 3}));
  fs::remove(out);
}

TEST(OnnxExport, BatchNormWithoutRunningStatsAndOldOpsetsAreErrors) {
  nn::Sequential net;
  net.push_back(std::make_shared<nn::BatchNorm1d>(4, nn::BatchNormOptions{.track_running_stats = false}));
  const fs::path out = temp_path("bn.onnx");
  try {
    io::export_onnx(net, {4}, out.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 (BatchNorm1d)"), std::string::npos) << e.what();
  }
  nn::Sequential relu;
  relu.push_back(std::make_shared<nn::ReLU>());
  EXPECT_THROW(io::export_onnx(relu, {4}, out.string(), {.opset = 11}), Error);
  EXPECT_FALSE(fs::exists(out));
}

TEST(OnnxExport, StandardizationBecomesSubAndDivInFrontOfTheNetwork) {
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(3, 2, nn::LinearOptions{.seed = 6}));
  const fs::path out = temp_path("standardized.onnx");
  io::export_onnx(net, {3}, out.string(), {.input_shift = {1.5, -2.0, 100.0}, .input_scale = {0.5, 4.0, 25.0}});
  onnx::ModelProto m = read_model(out);
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Sub", "Div", "Gemm"}));
  const auto& g = m.graph();
  EXPECT_EQ(g.node(0).input(0), "input");
  EXPECT_EQ(g.node(0).input(1), "standardize.shift");
  EXPECT_EQ(g.node(1).input(0), g.node(0).output(0));
  EXPECT_EQ(g.node(1).input(1), "standardize.scale");
  EXPECT_EQ(g.node(2).input(0), g.node(1).output(0));
  Tensor shift = zeros({3}), scale = zeros({3});
  const float sh[] = {1.5f, -2.0f, 100.0f}, sc[] = {0.5f, 4.0f, 25.0f};
  std::memcpy(shift.raw_data(), sh, sizeof sh);
  std::memcpy(scale.raw_data(), sc, sizeof sc);
  expect_initializer(m, "standardize.shift", shift);
  expect_initializer(m, "standardize.scale", scale);
  EXPECT_EQ(dims(g.input(0)), (std::vector<int64_t>{-1, 3}));

  // One value per input element, or a clear error and no file.
  const fs::path bad = temp_path("standardized_bad.onnx");
  try {
    io::export_onnx(net, {3}, bad.string(), {.input_shift = {0.0, 0.0}, .input_scale = {1.0, 1.0}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 shift and 2 scale values for inputs of shape [3]"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(bad));
  fs::remove(out);
}

#endif  // DESCENT_WITH_ONNX
