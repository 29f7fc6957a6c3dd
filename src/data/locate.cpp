// Named datasets come from Debian packages, so a user never downloads anything by hand:
// dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist/*-ubyte.gz. Debian ships no
// MNIST package (only Fashion-MNIST), so "mnist" points at a folder of the user's own files.
#include <fmt/format.h>

#include <filesystem>

#include "descent/data.h"

namespace descent::data {
namespace {

namespace fs = std::filesystem;

// The file `stem` in dir, compressed or not; empty when neither exists.
std::string find_variant(const fs::path& dir, const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    fs::path p = dir / (stem + suffix);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

// The four files in dir, or the name of the first one missing.
bool try_files_in(const fs::path& dir, IdxFiles& out, std::string& missing) {
  std::string* slots[] = {&out.train_images, &out.train_labels, &out.test_images, &out.test_labels};
  const char* stems[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                         "t10k-labels-idx1-ubyte"};
  for (int i = 0; i < 4; ++i) {
    *slots[i] = find_variant(dir, stems[i]);
    if (slots[i]->empty()) {
      missing = (dir / (std::string(stems[i]) + "[.gz]")).string();
      return false;
    }
  }
  return true;
}

}  // namespace

IdxFiles idx_files_in(const std::string& dir) {
  IdxFiles files;
  std::string missing;
  if (!try_files_in(dir, files, missing)) {
    throw Error(fmt::format("data dir {}: missing {} (expected the four MNIST-style files "
                            "{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz])",
                            dir, missing));
  }
  return files;
}

IdxFiles locate_idx(const std::string& name) {
  const fs::path dir = fs::path(kDebianDatasetDir) / name;
  IdxFiles files;
  std::string missing;
  if (name == "fashion-mnist") {
    if (!try_files_in(dir, files, missing)) {
      throw Error(fmt::format("dataset 'fashion-mnist' not found: {} is missing; install the Debian package "
                              "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
                              missing));
    }
    return files;
  }
  if (name == "mnist") {
    // Looked up anyway: should Debian ever package MNIST, it would land here.
    if (try_files_in(dir, files, missing)) return files;
    throw Error("dataset 'mnist': Debian ships no MNIST package (only dataset-fashion-mnist); put the four "
                "MNIST files in a folder and set [data] dir to it, or use name = \"fashion-mnist\"");
  }
  throw Error(fmt::format("unknown IDX dataset name '{}' (known: fashion-mnist, mnist)", name));
}

std::vector<std::string> idx_class_names(const std::string& name) {
  if (name == "fashion-mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  }
  std::vector<std::string> names;
  for (int c = 0; c < 10; ++c) names.push_back(std::to_string(c));
  return names;
}

}  // namespace descent::data
