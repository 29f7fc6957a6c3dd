// The `descent` command as a user runs it: a tiny training run end to end, the run folder it
// writes, determinism, and every kind of bad input — each must give exit code 2, one line on
// stderr naming the file and field, and no run folder.
//
// To add an error case: add a row to kBadConfigs() with a config edit and the text the message
// must contain.
#include <gtest/gtest.h>

#include "process_test_util.h"
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

using process_test::read_file;
using process_test::RunResult;

fs::path temp_dir(const std::string& name) { return process_test::temp_dir("cli_test", name); }

RunResult run(const std::string& args, const fs::path& dir) {
  return process_test::shell(std::string(DESCENT_CLI) + " " + args, dir);
}

std::string idx(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/idx/" + name; }

// A complete config over the 6-image IDX fixture (4x5 pixels, labels < 10).
std::string tiny_config(const std::string& images = idx("images-idx3-ubyte"), const std::string& labels = idx("labels-idx1-ubyte")) {
  return "[data]\n"
         "train_images = \"" + images + "\"\n"
         "train_labels = \"" + labels + "\"\n"
         "test_images = \"" + idx("images-idx3-ubyte.gz") + "\"\n"
         "test_labels = \"" + idx("labels-idx1-ubyte.gz") + "\"\n"
         "[model]\n"
         "input_shape = [20]\n"
         "layers = [ { type = \"linear\", out_features = 8 }, { type = \"relu\" }, { type = \"linear\", out_features = 10 } ]\n"
         "[optimizer]\n"
         "type = \"sgd\"\n"
         "lr = 0.1\n"
         "momentum = 0.9\n"
         "[train]\n"
         "epochs = 3\n"
         "batch_size = 4\n"
         "seed = 7\n"
         "threads = 1\n";
}

fs::path write_config(const fs::path& dir, const std::string& text, const std::string& name = "tiny.toml") {
  fs::path p = dir / name;
  std::ofstream(p) << text;
  return p;
}

std::vector<nlohmann::json> read_metrics(const fs::path& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Cli, VersionAndHelp) {
  auto dir = temp_dir("version");
  RunResult r = run("--version", dir);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("descent "), std::string::npos);
  r = run("train --help", dir);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--set"), std::string::npos);
}

TEST(Cli, TrainWritesTheRunFolder) {
  auto dir = temp_dir("train");
  auto cfg = write_config(dir, tiny_config());
  RunResult r = run("train " + cfg.string() + " --out " + (dir / "run").string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("test accuracy:"), std::string::npos);
  EXPECT_NE(r.out.find("run folder: " + (dir / "run").string()), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "run" / "config.toml"));
  auto manifest = nlohmann::json::parse(read_file(dir / "run" / "manifest.json"));
  EXPECT_EQ(manifest["status"], "completed");
  EXPECT_EQ(manifest["seed"], 7);
  EXPECT_EQ(manifest["threads"], 1);
  EXPECT_EQ(manifest["dtype"], "float32");
  auto metrics = read_metrics(dir / "run");
  ASSERT_EQ(metrics.size(), 3u);
  for (const char* key : {"epoch", "step", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "samples_per_s"})
    EXPECT_TRUE(metrics[0].contains(key)) << key;
  EXPECT_EQ(metrics[2]["epoch"], 3);
  EXPECT_EQ(metrics[2]["step"], 6);  // 6 samples, batch 4, last partial batch kept: 2 steps per epoch
  EXPECT_DOUBLE_EQ(metrics[2]["lr"].get<double>(), 0.1);
  // The resolved config reads back as the same training.
  RunResult again = run("train " + (dir / "run" / "config.toml").string() + " --out " + (dir / "run2").string(), dir);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(read_metrics(dir / "run2")[2]["train_loss"], metrics[2]["train_loss"]);
}

TEST(Cli, SameSeedGivesIdenticalMetrics) {
  auto dir = temp_dir("determinism");
  auto cfg = write_config(dir, tiny_config());
  ASSERT_EQ(run("train " + cfg.string() + " --out " + (dir / "a").string(), dir).code, 0);
  ASSERT_EQ(run("train " + cfg.string() + " --out " + (dir / "b").string(), dir).code, 0);
  ASSERT_EQ(run("train " + cfg.string() + " --set train.seed=8 --out " + (dir / "c").string(), dir).code, 0);
  auto a = read_metrics(dir / "a"), b = read_metrics(dir / "b"), c = read_metrics(dir / "c");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (auto* j : {&a[i], &b[i], &c[i]}) j->erase("seconds"), j->erase("samples_per_s");
    EXPECT_EQ(a[i], b[i]) << "epoch " << i + 1;
  }
  EXPECT_NE(a.back()["train_loss"], c.back()["train_loss"]) << "another seed must change the run";
}

TEST(Cli, SetOverridesAnyKey) {
  auto dir = temp_dir("set");
  auto cfg = write_config(dir, tiny_config());
  RunResult r = run("train " + cfg.string() + " --set train.epochs=1 --set optimizer.lr=0.05 --set model.layers.0.out_features=5 --out " +
                        (dir / "run").string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto m = read_metrics(dir / "run");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_DOUBLE_EQ(m[0]["lr"].get<double>(), 0.05);
  EXPECT_NE(read_file(dir / "run" / "config.toml").find("out_features = 5"), std::string::npos);
}

struct BadConfig {
  std::string name;
  std::function<std::string()> config;  // config text
  std::string extra_args;
  std::vector<std::string> expect;      // substrings the error line must hold
};

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  if (pos == std::string::npos) throw std::runtime_error("fixture edit not found: " + from);
  return s.replace(pos, from.size(), to);
}

const std::vector<BadConfig>& kBadConfigs() {
  static const std::vector<BadConfig> cases = {
      {"unknown key", [] { return replace(tiny_config(), "epochs = 3", "epoch = 3"); }, "",
       {"tiny.toml", "[train]", "unknown key 'epoch'", "did you mean 'epochs'"}},
      {"wrong type", [] { return replace(tiny_config(), "batch_size = 4", "batch_size = \"big\""); }, "",
       {"tiny.toml", "[train]", "batch_size"}},
      {"wrong type of lr", [] { return replace(tiny_config(), "lr = 0.1", "lr = \"fast\""); }, "",
       {"tiny.toml", "[optimizer]", "'lr' must be a number"}},
      {"unknown section", [] { return tiny_config() + "[trian]\nx = 1\n"; }, "", {"tiny.toml", "unknown section [trian]", "[train]"}},
      {"unknown layer type", [] { return replace(tiny_config(), "type = \"relu\"", "type = \"reluu\""); }, "",
       {"tiny.toml", "layers[1]", "unknown layer type 'reluu'", "relu"}},
      {"unknown layer key", [] { return replace(tiny_config(), "out_features = 8", "out_features = 8, bais = false"); }, "",
       {"layers[0]", "unknown key 'bais'", "bias"}},
      {"layers do not chain",
       [] { return replace(tiny_config(), "{ type = \"linear\", out_features = 10 }", "{ type = \"linear\", in_features = 9, out_features = 10 }"); },
       "", {"layers[2]", "in_features = 9", "8"}},
      {"input shape does not match data", [] { return replace(tiny_config(), "input_shape = [20]", "input_shape = [21]"); }, "",
       {"input_shape [21]", "[1, 4, 5]"}},
      {"output does not match classes",
       [] { return replace(tiny_config(), "{ type = \"linear\", out_features = 10 }", "{ type = \"linear\", out_features = 7 }"); }, "",
       {"10 classes"}},
      {"missing data file", [] { return tiny_config(idx("no-such-file")); }, "", {"no-such-file"}},
      {"truncated data file", [] { return tiny_config(idx("truncated-images")); }, "", {"truncated-images"}},
      {"corrupt gzip", [] { return tiny_config(idx("corrupt-stream.gz")); }, "", {"corrupt-stream.gz"}},
      {"wrong IDX magic", [] { return tiny_config(idx("bad-magic")); }, "", {"bad-magic", "magic"}},
      {"label outside classes", [] { return tiny_config(idx("images-idx3-ubyte"), idx("label-out-of-range")); }, "",
       {"label-out-of-range"}},
      {"bad --set", [] { return tiny_config(); }, "--set trainepochs", {"--set", "section.key=value"}},
      {"TOML syntax error", [] { return replace(tiny_config(), "lr = 0.1", "lr = = 0.1"); }, "", {"tiny.toml:"}},
      {"negative epochs", [] { return replace(tiny_config(), "epochs = 3", "epochs = -1"); }, "", {"epochs must be positive"}},
      {"unknown optimizer", [] { return replace(tiny_config(), "type = \"sgd\"", "type = \"sdg\""); }, "",
       {"[optimizer]", "unknown optimizer type 'sdg'", "sgd"}},
      {"unknown loss", [] { return tiny_config() + "[loss]\ntype = \"crossentropy\"\n"; }, "", {"[loss]", "crossentropy", "cross_entropy"}},
  };
  return cases;
}

class CliBadInput : public ::testing::TestWithParam<size_t> {};

TEST_P(CliBadInput, ExitsTwoWithOneLineAndNoRunFolder) {
  const BadConfig& c = kBadConfigs()[GetParam()];
  auto dir = temp_dir("bad" + std::to_string(GetParam()));
  auto cfg = write_config(dir, c.config());
  fs::path out = dir / "run";
  RunResult r = run("train " + cfg.string() + " " + c.extra_args + " --quiet --out " + out.string(), dir);
  EXPECT_EQ(r.code, 2) << c.name << ": " << r.err;
  ASSERT_FALSE(r.err.empty()) << c.name;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  for (const auto& s : c.expect) EXPECT_NE(r.err.find(s), std::string::npos) << c.name << ": '" << s << "' not in: " << r.err;
  EXPECT_FALSE(fs::exists(out)) << c.name << ": a failed run must leave no run folder";
}

INSTANTIATE_TEST_SUITE_P(Table, CliBadInput, ::testing::Range<size_t>(0, kBadConfigs().size()), [](const auto& info) {
  std::string n = kBadConfigs()[info.param].name;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

// `descent summary`: the layers with shapes and counts, each parameter's optimizer group (biases
// and norm parameters without weight decay by default), without reading any data.
TEST(Cli, SummaryShowsLayersShapesAndOptimizerGroups) {
  auto dir = temp_dir("summary");
  RunResult r = run("summary " + std::string(DESCENT_SOURCE_DIR) + "/examples/fashion_cnn_bn.toml", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("[64, 5, 5]"), std::string::npos) << r.out;       // after the second max-pool
  EXPECT_NE(r.out.find("total parameters: 225226"), std::string::npos) << r.out;  // torch counts the same net so
  auto row = [&](const std::string& name) {
    const size_t at = r.out.find("\n" + name + " ");
    return at == std::string::npos ? std::string() : r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(row("9.weight").find("0.01"), std::string::npos) << row("9.weight");  // decayed
  EXPECT_TRUE(row("9.bias").ends_with(" 0")) << row("9.bias");  // no decay on biases
  EXPECT_NE(row("1.running_var").find("buffer"), std::string::npos) << r.out;
  // A bad config is one line and exit 2, like train.
  write_config(dir, "[data]\nname = \"fashion-mnist\"\n[model]\ninput_shape = [4]\nlayers = [{ type = \"lineer\", out_features = 2 }]\n[optimizer]\nlr = 0.1\n");
  r = run("summary " + (dir / "tiny.toml").string(), dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("did you mean 'linear'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, RefusesToOverwriteARun) {
  auto dir = temp_dir("overwrite");
  auto cfg = write_config(dir, tiny_config());
  ASSERT_EQ(run("train " + cfg.string() + " --out " + (dir / "run").string(), dir).code, 0);
  std::string before = read_file(dir / "run" / "metrics.jsonl");
  RunResult r = run("train " + cfg.string() + " --out " + (dir / "run").string(), dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("already holds a run"), std::string::npos);
  EXPECT_EQ(read_file(dir / "run" / "metrics.jsonl"), before) << "a refused run must not touch the old one";
}

}  // namespace
