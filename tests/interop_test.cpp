// Models that leave descent (label `interop`): tiny runs are trained with the CLI, then Debian's
// Python (/usr/bin/python3 with python3-torch, -onnx, -opencv, -numpy; scripts/install-deps.sh
// --interop, which `make test` runs) checks them with scripts/check_torch_load.py (final.safetensors
// into the equivalent torch.nn.Sequential with load_state_dict(strict=True), same outputs and
// predictions on the test samples) and scripts/check_onnx.py (onnx.checker full check, OpenCV dnn
// outputs within 1e-4 of descent's, the standardization exported as Sub/Div nodes). Missing Python
// modules fail the tests with the command that installs them; nothing is skipped.
//
// To add a case: a model (and data) in kCases; the scripts build the torch model from config.toml.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

struct Output {
  int code = -1;
  std::string text;
};

// Runs a shell command; stdout and stderr together.
Output run(const std::string& cmd) {
  Output o;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return o;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.text.append(buf.data(), n);
  const int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string data_file(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/" + name; }

// 600 training and 200 test 8x8 images of 10 classes.
std::string blobs_data() {
  return "[data]\n"
         "train_images = \"" + data_file("diag/blobs-train-images-idx3-ubyte.gz") + "\"\n"
         "train_labels = \"" + data_file("diag/blobs-train-labels-idx1-ubyte.gz") + "\"\n"
         "test_images = \"" + data_file("diag/blobs-test-images-idx3-ubyte.gz") + "\"\n"
         "test_labels = \"" + data_file("diag/blobs-test-labels-idx1-ubyte.gz") + "\"\n";
}

std::string training(int epochs) {
  return "[loss]\ntype = \"cross_entropy\"\n"
         "[optimizer]\ntype = \"sgd\"\nlr = 0.05\nmomentum = 0.9\n"
         "[train]\nepochs = " + std::to_string(epochs) + "\nbatch_size = 32\nseed = 3\nthreads = 2\nprogress = false\n";
}

struct Case {
  const char* name;
  std::string config;
};
// gtest prints the parameter in test names: its name, not its bytes.
[[maybe_unused]] void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Case kCases[] = {
    {"mlp", blobs_data() +
                "[model]\ninput_shape = [64]\n"
                "layers = [ { type = \"linear\", out_features = 32 }, { type = \"relu\" }, { type = \"dropout\", p = 0.1 },\n"
                "           { type = \"linear\", out_features = 16 }, { type = \"tanh\" }, { type = \"linear\", out_features = 10 } ]\n" +
                training(3)},
    {"cnn", blobs_data() +
                "[model]\ninput_shape = [1, 8, 8]\n"
                "layers = [ { type = \"conv2d\", out_channels = 8, kernel_size = 3, padding = 1 }, { type = \"relu\" },\n"
                "           { type = \"max_pool2d\", kernel_size = 2 },\n"
                "           { type = \"conv2d\", out_channels = 8, kernel_size = 3, padding = 1 }, { type = \"elu\" },\n"
                "           { type = \"avg_pool2d\", kernel_size = 2 }, { type = \"flatten\" },\n"
                "           { type = \"linear\", out_features = 10 } ]\n" +
                training(2)},
    {"cnn_bn", blobs_data() +
                   "[model]\ninput_shape = [1, 8, 8]\n"
                   "layers = [ { type = \"conv2d\", out_channels = 8, kernel_size = 3, padding = 1, bias = false },\n"
                   "           { type = \"batch_norm2d\" }, { type = \"relu\" }, { type = \"max_pool2d\", kernel_size = 2 },\n"
                   "           { type = \"conv2d\", out_channels = 16, kernel_size = 3 }, { type = \"batch_norm2d\" },\n"
                   "           { type = \"leaky_relu\" }, { type = \"flatten\" }, { type = \"linear\", out_features = 16 },\n"
                   "           { type = \"batch_norm1d\" }, { type = \"relu\" }, { type = \"linear\", out_features = 10 } ]\n" +
                   training(2)},
    // String labels, a categorical column, a separate test file, standardized features: the ONNX
    // graph must take the raw columns.
    // (The training file is also the test file: 12 samples to compare rather than 2.)
    {"csv_weather", "[data]\nformat = \"csv\"\n"
                    "train_file = \"" + data_file("csv/weather.csv") + "\"\n"
                    "test_file = \"" + data_file("csv/weather.csv") + "\"\n"
                    "targets = [\"play\"]\ndrop = [\"id\"]\ncategorical = [\"outlook\"]\nstandardize = \"standard\"\n"
                    "[model]\ninput_shape = [5]\n"
                    "layers = [ { type = \"linear\", out_features = 8 }, { type = \"tanh\" }, { type = \"linear\", out_features = 2 } ]\n" +
                    training(20)},
    // Features on very different scales (python3-sklearn's wine data), min-max scaled.
    {"csv_wine", "[data]\nname = \"wine\"\ntest_fraction = 0.25\nstandardize = \"minmax\"\n"
                 "[model]\ninput_shape = [13]\n"
                 "layers = [ { type = \"linear\", out_features = 16 }, { type = \"relu\" }, { type = \"linear\", out_features = 3 } ]\n" +
                 training(10)},
};

fs::path work_dir() {
  static const fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("descent_interop_test_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// The first number after `label` in the script's output ("max |opencv - descent| = 3.1e-07").
std::string measured(const std::string& text, const std::string& label) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex(std::regex_replace(label, std::regex(R"([|()\-])"), R"(\$&)") + R"( = ([0-9.eE+-]+))")))
    return m[1];
  return "?";
}

// Removes this process's scratch folder after the last test (ctest runs each test in its own process).
class Cleanup : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(work_dir()); }
};
[[maybe_unused]] ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new Cleanup);

}  // namespace

TEST(Interop, DebianPythonModulesAreInstalled) {
  Output o = run(std::string(kPython) + " -c 'import torch, onnx, cv2, numpy; print(torch.__version__, onnx.__version__, cv2.__version__)'");
  ASSERT_EQ(o.code, 0) << "the interop tests need Debian's python3-torch, python3-onnx, python3-opencv and "
                          "python3-numpy for /usr/bin/python3: run scripts/install-deps.sh --interop (make test does)\n"
                       << o.text;
  std::cout << "torch, onnx, OpenCV: " << o.text;
}

class InteropRun : public ::testing::TestWithParam<Case> {};

TEST_P(InteropRun, TorchLoadsTheWeightsAndOnnxRunsInOpenCv) {
  const Case& c = GetParam();
  const fs::path cfg = work_dir() / (std::string(c.name) + ".toml"), dir = work_dir() / c.name;
  std::ofstream(cfg) << c.config;
  Output t = run(std::string(DESCENT_CLI) + " train " + quote(cfg.string()) + " --out " + quote(dir.string()) + " --quiet");
  ASSERT_EQ(t.code, 0) << t.text;
  ASSERT_TRUE(fs::exists(dir / "final.safetensors")) << t.text;

  const std::string scripts = std::string(DESCENT_SOURCE_DIR) + "/scripts/";
  Output torch_check = run(std::string(kPython) + " " + scripts + "check_torch_load.py " + quote(dir.string()) +
                           " --descent " + DESCENT_CLI);
  EXPECT_EQ(torch_check.code, 0) << torch_check.text;
  EXPECT_NE(torch_check.text.find("load_state_dict(strict=True): ok"), std::string::npos) << torch_check.text;
  EXPECT_NE(torch_check.text.find("same predictions: True"), std::string::npos) << torch_check.text;

  Output onnx_check = run(std::string(kPython) + " " + scripts + "check_onnx.py " + quote(dir.string()) + " --descent " +
                          DESCENT_CLI + " --atol 1e-4");
  EXPECT_EQ(onnx_check.code, 0) << onnx_check.text;
  EXPECT_NE(onnx_check.text.find("check_model(full_check=True): ok"), std::string::npos) << onnx_check.text;
  const bool standardized = c.config.find("standardize") != std::string::npos;
  EXPECT_NE(onnx_check.text.find("standardization nodes (Sub, Div) first: "s + (standardized ? "True" : "False")),
            std::string::npos)
      << onnx_check.text;
  std::cout << c.name << ": max |torch - descent| = " << measured(torch_check.text, "max |torch - descent|")
            << ", max |opencv - descent| = " << measured(onnx_check.text, "max |opencv - descent|") << "\n";
  ::testing::Test::RecordProperty("torch_max_abs_diff", measured(torch_check.text, "max |torch - descent|"));
  ::testing::Test::RecordProperty("opencv_max_abs_diff", measured(onnx_check.text, "max |opencv - descent|"));
  if (!HasFailure()) fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Models, InteropRun, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });
