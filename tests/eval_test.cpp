// `descent eval` and `descent predict` (descent/train.h: load_run, eval_set, predict_run,
// eval_report): the numbers equal what training measured on the same test set, the confusion
// matrix and per-class accuracy agree with the predictions, the stored standardization is what gets
// applied (a refit on another split would change the numbers), and every bad input is a one-line
// error naming what is wrong.
//
// To add a case: a config in the fixture's runs (trained once per test program), then assert on
// the report or on the CLI's output.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "descent/descent.h"
#include "descent/io.h"

using namespace descent;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string csv(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/csv/" + name; }
std::string idx(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/idx/" + name; }

std::string training(const std::string& loss, int epochs) {
  return "[loss]\ntype = \"" + loss + "\"\n[optimizer]\ntype = \"adam\"\nlr = 0.02\n"
         "[train]\nepochs = " + std::to_string(epochs) + "\nbatch_size = 4\nseed = 5\nthreads = 1\nprogress = false\n"
         "[checkpoint]\nevery_epochs = 1\nmin_seconds = 0\n";
}

// Weather (12 rows, string labels no/yes, a categorical column), 3 held out for test, standardized
// on the 9 training rows: evaluating with statistics of another split would change the numbers.
std::string weather(const std::string& task = "classification") {
  const bool binary = task == "binary";
  return "[data]\nformat = \"csv\"\ntrain_file = \"" + csv("weather.csv") + "\"\n"
         "targets = [\"play\"]\ndrop = [\"id\"]\ncategorical = [\"outlook\"]\nstandardize = \"standard\"\n"
         "test_fraction = 0.25\ntask = \"" + task + "\"\n"
         "[model]\ninput_shape = [5]\nlayers = [ { type = \"linear\", out_features = 6 }, { type = \"tanh\" },\n"
         "  { type = \"linear\", out_features = " + (binary ? "1" : "2") + " } ]\n" +
         training(binary ? "bce_with_logits" : "cross_entropy", 15);
}

std::string houses() {
  return "[data]\nformat = \"csv\"\ntrain_file = \"" + csv("houses.tsv") + "\"\ndelimiter = \"tab\"\n"
         "targets = [\"price\", \"rent\"]\ntask = \"regression\"\nstandardize = \"standard\"\ntest_fraction = 0.25\n"
         "[model]\ninput_shape = [2]\nlayers = [ { type = \"linear\", out_features = 2 } ]\n" + training("mse", 5);
}

std::string images() {
  return "[data]\ntrain_images = \"" + idx("images-idx3-ubyte") + "\"\ntrain_labels = \"" + idx("labels-idx1-ubyte") + "\"\n"
         "test_images = \"" + idx("images-idx3-ubyte.gz") + "\"\ntest_labels = \"" + idx("labels-idx1-ubyte.gz") + "\"\n"
         "[model]\ninput_shape = [20]\nlayers = [ { type = \"linear\", out_features = 10 } ]\n" +
         training("cross_entropy", 2);
}

fs::path root() {
  static const fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("descent_eval_test_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// Trains `text` once into root()/name; later calls return the folder.
fs::path trained(const std::string& name, const std::string& text) {
  static std::map<std::string, fs::path> done;
  if (auto it = done.find(name); it != done.end()) return it->second;
  const fs::path dir = root() / name;
  train::Trainer t(parse_config(text, name + ".toml"), {.run_dir = dir.string(), .progress = false});
  t.fit();
  return done[name] = dir;
}

json last_metrics(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return json::parse(last);
}

struct Output {
  int code = -1;
  std::string out;
};

Output cli(const std::string& args) {
  Output o;
  FILE* p = ::popen((std::string(DESCENT_CLI) + " " + args + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
  const int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

train::EvalReport report_of(const train::LoadedRun& run, const train::EvalSet& set) {
  double loss = 0.0;
  Tensor out = train::predict_run(run, set, &loss);
  return train::eval_report(set, out, loss);
}

// Removes this process's scratch folder after the last test (ctest runs each test in its own process).
class Cleanup : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(root()); }
};
[[maybe_unused]] ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new Cleanup);

}  // namespace

TEST(Eval, TestSetNumbersEqualTrainingsAndTheConfusionMatrixAgrees) {
  const fs::path run = trained("weather", weather());
  train::LoadedRun r = train::load_run(run.string());
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.standardizer.scaling(), data::Scaling::Standard);
  train::EvalSet set = train::eval_set(r);
  train::EvalReport rep = report_of(r, set);
  const json m = last_metrics(run);
  EXPECT_EQ(rep.count, 3);
  EXPECT_DOUBLE_EQ(rep.loss, m["test_loss"].get<double>());  // same samples, weights and standardization
  EXPECT_DOUBLE_EQ(rep.accuracy, m["test_acc"].get<double>());
  EXPECT_EQ(rep.class_names, (std::vector<std::string>{"no", "yes"}));
  ASSERT_EQ(rep.confusion.size(), 2u);
  int64_t total = 0, diagonal = 0;
  for (size_t i = 0; i < 2; ++i) {
    int64_t row = 0;
    for (size_t j = 0; j < 2; ++j) row += rep.confusion[i][j], total += rep.confusion[i][j];
    diagonal += rep.confusion[i][i];
    if (row) EXPECT_DOUBLE_EQ(rep.per_class_accuracy[i], static_cast<double>(rep.confusion[i][i]) / static_cast<double>(row));
    else EXPECT_TRUE(std::isnan(rep.per_class_accuracy[i]));
  }
  EXPECT_EQ(total, 3);
  EXPECT_DOUBLE_EQ(rep.accuracy, static_cast<double>(diagonal) / 3.0);
}

TEST(Eval, TheStoredStandardizationIsAppliedAndAMissingOneIsRefittedWithAWarning) {
  const fs::path run = trained("weather", weather());
  io::SafetensorsData final_file = io::load_safetensors((run / "final.safetensors").string());
  ASSERT_TRUE(final_file.metadata.count("descent.standardizer"));
  EXPECT_EQ(final_file.metadata.at("format"), "pt");
  // Every checkpoint records it too (eval --from latest|best).
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    if (e.path().extension() == ".json") {
      io::CheckpointStore store((run / "checkpoints").string());
      auto c = store.load(*io::CheckpointId::parse(e.path().stem().string()));
      EXPECT_TRUE(json::parse(c.state_json)["standardizer"].is_object()) << e.path();
    }
  train::LoadedRun stored = train::load_run(run.string());
  const train::EvalReport want = report_of(stored, train::eval_set(stored));

  // A run folder whose weights lack the statistics (written before they were stored): refitted on
  // the same split with a warning, same numbers.
  const fs::path copy = root() / "weather_no_metadata";
  fs::copy(run, copy, fs::copy_options::recursive);
  io::save_safetensors((copy / "final.safetensors").string(), final_file.tensors, {{"format", "pt"}});
  train::LoadedRun refit = train::load_run(copy.string());
  ASSERT_EQ(refit.warnings.size(), 1u);
  EXPECT_NE(refit.warnings[0].find("refitted"), std::string::npos) << refit.warnings[0];
  EXPECT_EQ(refit.standardizer.to_json(), stored.standardizer.to_json());
  EXPECT_DOUBLE_EQ(report_of(refit, train::eval_set(refit)).loss, want.loss);

  // Other statistics give other numbers: the stored ones are what is applied.
  io::save_safetensors((copy / "final.safetensors").string(), final_file.tensors,
                       {{"format", "pt"}, {"descent.standardizer",
                                           R"({"scaling": "standard", "fill": [0,0,0,0,0], "shift": [0,0,0,0,0], "scale": [1,1,1,1,1]})"}});
  train::LoadedRun identity = train::load_run(copy.string());
  EXPECT_NE(report_of(identity, train::eval_set(identity)).loss, want.loss);
  fs::remove_all(copy);
}

TEST(Eval, LatestCheckpointOfAFinishedRunGivesTheFinalNumbers) {
  const fs::path run = trained("weather", weather());
  train::LoadedRun fin = train::load_run(run.string()), latest = train::load_run(run.string(), "latest");
  EXPECT_NE(latest.weights_source.find("ckpt-"), std::string::npos);
  EXPECT_DOUBLE_EQ(report_of(latest, train::eval_set(latest)).loss, report_of(fin, train::eval_set(fin)).loss);
}

TEST(Eval, BinaryTaskReportsAucAndRegressionItsOwnMetrics) {
  const fs::path bin = trained("weather_binary", weather("binary"));
  train::LoadedRun b = train::load_run(bin.string());
  train::EvalReport rb = report_of(b, train::eval_set(b));
  const json mb = last_metrics(bin);
  EXPECT_EQ(rb.task, data::Task::Binary);
  EXPECT_DOUBLE_EQ(rb.loss, mb["test_loss"].get<double>());
  ASSERT_EQ(rb.confusion.size(), 2u);  // logit > 0 predicts class 1
  EXPECT_DOUBLE_EQ(rb.accuracy, static_cast<double>(rb.confusion[0][0] + rb.confusion[1][1]) / static_cast<double>(rb.count));
  ASSERT_TRUE(rb.metrics.count("auc"));
  if (mb["test_auc"].is_number()) EXPECT_DOUBLE_EQ(rb.metrics["auc"], mb["test_auc"].get<double>());
  else EXPECT_TRUE(std::isnan(rb.metrics["auc"]));

  const fs::path reg = trained("houses", houses());
  train::LoadedRun h = train::load_run(reg.string());
  train::EvalReport rr = report_of(h, train::eval_set(h));
  const json mr = last_metrics(reg);
  EXPECT_EQ(rr.task, data::Task::Regression);
  EXPECT_TRUE(rr.confusion.empty());
  EXPECT_DOUBLE_EQ(rr.loss, mr["test_loss"].get<double>());
  for (const char* k : {"rmse", "mae"}) EXPECT_DOUBLE_EQ(rr.metrics.at(k), mr[std::string("test_") + k].get<double>()) << k;
  const json j = json::parse(train::eval_json(rr));
  EXPECT_FALSE(j.contains("confusion"));
  EXPECT_TRUE(j.contains("rmse") && j.contains("mae") && j.contains("r2")) << j.dump();
  EXPECT_EQ(j["target_names"], json({"price", "rent"}));
}

TEST(EvalCli, JsonHasTheDocumentedKeysAndTheTableShowsClassNames) {
  const fs::path run = trained("weather", weather());
  Output o = cli("eval " + run.string() + " --json");
  ASSERT_EQ(o.code, 0) << o.out;
  const json j = json::parse(o.out);
  for (const char* k : {"loss", "accuracy", "per_class_accuracy", "confusion", "class_names", "count"})
    EXPECT_TRUE(j.contains(k)) << k << ": " << o.out;
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), last_metrics(run)["test_acc"].get<double>());
  EXPECT_EQ(j["class_names"], json({"no", "yes"}));
  Output t = cli("eval " + run.string());
  ASSERT_EQ(t.code, 0) << t.out;
  for (const char* s : {"accuracy", "confusion matrix", "no", "yes", "1 = yes", "the test set of weather.csv (3 samples)"})
    EXPECT_NE(t.out.find(s), std::string::npos) << s << "\n" << t.out;

  // Another file, encoded like the training file (its categories and classes).
  Output other = cli("eval " + run.string() + " --data " + csv("weather_test.csv") + " --json");
  ASSERT_EQ(other.code, 0) << other.out;
  EXPECT_EQ(json::parse(other.out)["count"], 2);
}

TEST(PredictCli, OneRowPerSampleWithIndexPredictedClassAndOutputs) {
  const fs::path run = trained("weather", weather());
  const fs::path out = root() / "pred.csv";
  Output o = cli("predict " + run.string() + " --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.out;
  train::LoadedRun r = train::load_run(run.string());
  train::EvalSet set = train::eval_set(r);
  std::vector<double> want = train::predict_run(r, set).to_vector();
  std::ifstream in(out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "index,predicted,no,yes");
  size_t rows = 0;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string index, predicted, a, b;
    std::getline(ss, index, ',');
    std::getline(ss, predicted, ',');
    std::getline(ss, a, ',');
    std::getline(ss, b, ',');
    ASSERT_LT(rows, set.ids.size());
    EXPECT_EQ(std::stoll(index), set.ids[rows]);
    EXPECT_EQ(std::stod(a), want[2 * rows]);  // exact: the shortest text that reads back the same double
    EXPECT_EQ(std::stod(b), want[2 * rows + 1]);
    EXPECT_EQ(predicted, want[2 * rows + 1] > want[2 * rows] ? "yes" : "no");
    ++rows;
  }
  EXPECT_EQ(rows, 3u);
}

TEST(EvalCli, BadInputIsAOneLineErrorNamingWhat) {
  const fs::path run = trained("weather", weather());
  const fs::path images_run = trained("images", images());
  // Weights whose shapes do not fit the config: every mismatch named, nothing evaluated.
  const fs::path wrong = root() / "wrong_shapes";
  fs::copy(run, wrong, fs::copy_options::recursive);
  io::save_safetensors((wrong / "final.safetensors").string(),
                       {{"0.weight", zeros({7, 5})}, {"0.bias", zeros({7})}, {"2.weight", zeros({2, 6})}, {"2.bias", zeros({2})}},
                       {{"format", "pt"}});
  const fs::path unfinished = root() / "unfinished";
  fs::copy(run, unfinished, fs::copy_options::recursive);
  fs::remove(unfinished / "final.safetensors");
  struct Bad {
    std::string args;
    std::vector<std::string> fragments;
  };
  const std::vector<Bad> cases = {
      {"eval " + root().string(), {"no config.toml"}},
      {"eval " + wrong.string(), {"final.safetensors", "0.weight", "[7, 5]", "[6, 5]"}},
      {"eval " + unfinished.string(), {"final.safetensors: missing", "--from latest"}},
      {"eval " + run.string() + " --data " + csv("nope.csv"), {"nope.csv: no such file"}},
      {"eval " + run.string() + " --data " + csv("weather_unseen.csv"), {"weather_unseen.csv", "snow"}},
      {"eval " + run.string() + " --labels " + csv("weather.csv"), {"--labels needs --data"}},
      {"eval " + images_run.string() + " --data " + idx("images-idx3-ubyte"), {"images-idx3-ubyte", "--labels"}},
      {"predict " + run.string() + " --data " + csv("houses.tsv") + " --out " + (root() / "x.csv").string(), {"houses.tsv"}},
  };
  for (const Bad& c : cases) {
    Output o = cli(c.args);
    EXPECT_EQ(o.code, 2) << c.args << "\n" << o.out;
    EXPECT_EQ(o.out.rfind("error: ", 0), 0u) << o.out;
    EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 1) << c.args << "\n" << o.out;
    for (const auto& f : c.fragments) EXPECT_NE(o.out.find(f), std::string::npos) << c.args << ": " << f << "\n" << o.out;
  }
  EXPECT_FALSE(fs::exists(root() / "x.csv"));
  // IDX data with its labels works.
  Output ok = cli("eval " + images_run.string() + " --data " + idx("images-idx3-ubyte") + " --labels " +
                  idx("labels-idx1-ubyte") + " --json");
  EXPECT_EQ(ok.code, 0) << ok.out;
  fs::remove_all(wrong);
  fs::remove_all(unfinished);
}

TEST(ExportCli, WritesTheStandardizationAlongAndRefusesLayersWithoutOnnx) {
  const fs::path run = trained("weather", weather());
  // safetensors out of the best checkpoint keeps the statistics next to the weights.
  const fs::path st = root() / "best.safetensors";
  Output o = cli("export " + run.string() + " --format safetensors --from best --out " + st.string());
  ASSERT_EQ(o.code, 0) << o.out;
  io::SafetensorsData d = io::load_safetensors(st.string());
  EXPECT_EQ(d.metadata.at("descent.standardizer"), train::load_run(run.string()).standardizer.to_json());
  if (io::onnx_available()) {
    const fs::path onnx = root() / "model.onnx";
    Output e = cli("export " + run.string() + " --out " + onnx.string());
    ASSERT_EQ(e.code, 0) << e.out;
    EXPECT_NE(e.out.find("raw features standardized in the graph (standard)"), std::string::npos) << e.out;
  }
  // A layer ONNX cannot express: a one-line error naming it, and no file.
  const fs::path gelu = root() / "gelu";
  fs::copy(run, gelu, fs::copy_options::recursive);
  std::string cfg = io::read_file((gelu / "config.toml").string());
  ASSERT_NE(cfg.find("tanh"), std::string::npos);
  cfg.replace(cfg.find("tanh"), 4, "gelu");
  std::ofstream(gelu / "config.toml") << cfg;
  const fs::path out = root() / "gelu.onnx";
  Output g = cli("export " + gelu.string() + " --out " + out.string());
  EXPECT_EQ(g.code, 2) << g.out;
  EXPECT_EQ(std::count(g.out.begin(), g.out.end(), '\n'), 1) << g.out;
  EXPECT_NE(g.out.find(io::onnx_available() ? "layer 1 (GELU" : "libonnx-dev"), std::string::npos) << g.out;
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(gelu);
}
