// Exact resume: a run stopped mid-epoch (by request_stop(), SIGINT, or SIGKILL at a random moment)
// and resumed from its newest valid checkpoint ends with the same bits as a run never stopped —
// final weights, buffers and every metric except the times. Also: a damaged newest checkpoint is
// skipped for the previous one, a changed config is refused, and init_from checks names/shapes.
//
// To add a case: a config variant in tiny() (a layer with state, another optimizer or schedule),
// then the stop point(s) to test in a TEST_P instance.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "descent/descent.h"
#include "descent/io.h"

using namespace descent;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string idx(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/idx/" + name; }

// 6 training images (4x5), batches of 4 and 2: epoch e has steps 2e-1 (mid-epoch) and 2e (last).
// Batch norm (running stats, num_batches_tracked), dropout (a generator), SGD momentum and a
// cosine schedule: every kind of state a checkpoint must carry.
std::string tiny(const std::string& optimizer = "type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n", int64_t epochs = 4,
                 const std::string& checkpoint = "every_steps = 1\nkeep_last = 3\nmin_seconds = 0\n") {
  return "[data]\n"
         "train_images = \"" + idx("images-idx3-ubyte") + "\"\n"
         "train_labels = \"" + idx("labels-idx1-ubyte") + "\"\n"
         "test_images = \"" + idx("images-idx3-ubyte.gz") + "\"\n"
         "test_labels = \"" + idx("labels-idx1-ubyte.gz") + "\"\n"
         "[model]\n"
         "input_shape = [20]\n"
         "layers = [ { type = \"linear\", out_features = 8 }, { type = \"batch_norm1d\" }, { type = \"relu\" },\n"
         "           { type = \"dropout\", p = 0.25 }, { type = \"linear\", out_features = 10 } ]\n"
         "[optimizer]\n" + optimizer +
         "[schedule]\n"
         "main = { type = \"cosine\" }\n"
         "[train]\n"
         "epochs = " + std::to_string(epochs) + "\n"
         "batch_size = 4\n"
         "seed = 7\n"
         "threads = 1\n"
         "progress = false\n"
         "[checkpoint]\n" + checkpoint;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("descent_resume_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  return d;
}

std::string read(const fs::path& p) { return io::read_file(p.string()); }

// metrics.jsonl without the keys that measure time.
std::vector<json> metrics_without_times(const fs::path& run) {
  std::vector<json> out;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    j.erase("seconds");
    j.erase("samples_per_s");
    out.push_back(j);
  }
  return out;
}

// Stops the trainer after a given step, as Ctrl-C would.
class StopAt : public train::Callback {
 public:
  StopAt(train::Trainer& t, int64_t step) : t_(t), step_(step) {}
  void on_step(int64_t step, double, double) override {
    if (step == step_) t_.request_stop();
  }

 private:
  train::Trainer& t_;
  int64_t step_;
};

Config config_of(const std::string& text) { return parse_config(text, "tiny.toml"); }

// The run never stopped, trained once per config text (cached: several tests compare with it).
const fs::path& uninterrupted(const std::string& text) {
  static std::map<std::string, fs::path> runs;
  auto it = runs.find(text);
  if (it != runs.end()) return it->second;
  fs::path dir = temp_dir("full" + std::to_string(runs.size()));
  train::Trainer t(config_of(text), {.run_dir = dir.string(), .progress = false});
  t.fit();
  return runs[text] = dir;
}

void expect_same_run(const fs::path& a, const fs::path& b) {
  ASSERT_TRUE(fs::exists(b / "final.safetensors"));
  EXPECT_EQ(read(a / "final.safetensors"), read(b / "final.safetensors")) << "final weights differ";
  std::vector<json> ma = metrics_without_times(a), mb = metrics_without_times(b);
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) EXPECT_EQ(ma[i].dump(), mb[i].dump()) << "epoch " << i + 1;
}

}  // namespace

class ResumeAt : public ::testing::TestWithParam<std::tuple<std::string, int64_t>> {};

TEST_P(ResumeAt, IsBitIdenticalToTheUninterruptedRun) {
  const auto& [optimizer, stop_step] = GetParam();
  const std::string text = tiny(optimizer);
  const fs::path& full = uninterrupted(text);
  fs::path run = temp_dir("stop" + std::to_string(stop_step));
  {
    train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false});
    t.add_callback(std::make_shared<StopAt>(t, stop_step));
    t.fit();
    ASSERT_TRUE(t.interrupted());
    EXPECT_FALSE(fs::exists(run / "final.safetensors"));
    EXPECT_EQ(json::parse(read(run / "manifest.json"))["status"], "interrupted");
    EXPECT_EQ(metrics_without_times(run).size(), static_cast<size_t>((stop_step - 1) / 2));  // no line for a partial epoch
    // The newest checkpoint is the stop step's, mid-epoch for odd steps (4 of 6 samples seen).
    io::CheckpointStore store((run / "checkpoints").string());
    io::LoadedCheckpoint c = *store.load_newest();
    EXPECT_EQ(c.id.step, stop_step);
    EXPECT_FALSE(c.id.epoch_end);
    json state = json::parse(c.state_json);
    EXPECT_EQ(state["loader"]["position"], stop_step % 2 ? 4 : 6);
    EXPECT_NE(read(run / "checkpoints" / (c.id.name() + ".safetensors")), std::string());
  }
  train::Trainer resumed(config_of(text), {.run_dir = run.string(), .progress = false, .resume = true});
  resumed.fit();
  EXPECT_FALSE(resumed.interrupted());
  EXPECT_EQ(json::parse(read(run / "manifest.json"))["status"], "completed");
  expect_same_run(full, run);
  // Not trivially equal: training moved the weights away from their initial values.
  train::Trainer fresh(config_of(text));
  EXPECT_NE(io::safetensors_bytes(fresh.model().state_dict()), io::safetensors_bytes(resumed.model().state_dict()));
  fs::remove_all(run);
}

INSTANTIATE_TEST_SUITE_P(Steps, ResumeAt,
                         ::testing::Combine(::testing::Values("type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n",
                                                              "type = \"adam\"\nlr = 0.01\n"),
                                            ::testing::Values(1, 2, 3, 6)));

// Each kind of damage to the newest checkpoint (docs/CONFIG.md [checkpoint]): detected by the
// sizes and checksums in its JSON, skipped with a warning naming it, moved aside as *.damaged, and
// the run resumes from the previous checkpoint to the same bits as a run never stopped.
struct Damage {
  const char* what;
  std::function<void(const fs::path& stem)> apply;
};
[[maybe_unused]] void PrintTo(const Damage& d, std::ostream* os) { *os << d.what; }  // not its bytes

class ResumeDamaged : public ::testing::TestWithParam<Damage> {};

TEST_P(ResumeDamaged, FallsBackToThePreviousCheckpointWithAWarning) {
  const std::string text = tiny();
  fs::path run = temp_dir("damaged");
  {
    train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false});
    t.add_callback(std::make_shared<StopAt>(t, 5));
    t.fit();
  }
  io::CheckpointStore store((run / "checkpoints").string());
  std::vector<io::CheckpointId> ids = store.list();
  ASSERT_GE(ids.size(), 2u);
  ASSERT_EQ(ids[0].step, 5);
  const fs::path stem = run / "checkpoints" / ids[0].name();
  GetParam().apply(stem);
  train::Trainer resumed(config_of(text), {.run_dir = run.string(), .progress = false, .resume = true});
  ::testing::internal::CaptureStderr();
  resumed.fit();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: skipped"), std::string::npos) << err;
  EXPECT_NE(err.find(ids[0].name()), std::string::npos) << err;
  json m = json::parse(read(run / "manifest.json"));
  ASSERT_EQ(m["resumes"].size(), 1u);
  EXPECT_NE(m["resumes"][0]["from"].get<std::string>().find(ids[1].name()), std::string::npos) << m.dump();
  EXPECT_TRUE(fs::exists(stem.string() + ".json.damaged"));  // kept for inspection, out of the way
  expect_same_run(uninterrupted(text), run);                 // any valid checkpoint resumes exactly
  fs::remove_all(run);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, ResumeDamaged,
    ::testing::Values(
        Damage{"flipped_byte", [](const fs::path& s) {  // one bit in the middle of the tensor data
                 const fs::path p = s.string() + ".safetensors";
                 std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
                 f.seekg(static_cast<std::streamoff>(fs::file_size(p) / 2));
                 char c = static_cast<char>(f.peek());
                 f.seekp(static_cast<std::streamoff>(fs::file_size(p) / 2));
                 f.put(static_cast<char>(c ^ 0x10));
               }},
        Damage{"truncated_tensors", [](const fs::path& s) {
                 fs::resize_file(s.string() + ".safetensors", fs::file_size(s.string() + ".safetensors") - 3);
               }},
        Damage{"truncated_json", [](const fs::path& s) { fs::resize_file(s.string() + ".json", 100); }},
        Damage{"missing_tensor_file", [](const fs::path& s) { fs::remove(s.string() + ".safetensors"); }},
        Damage{"missing_metadata", [](const fs::path& s) {  // the JSON without its size, SHA-256 and checksum
                 json j = json::parse(read(s.string() + ".json"));
                 j.erase("checksum");
                 j.erase("tensors");
                 std::ofstream(s.string() + ".json") << j.dump();
               }}),
    [](const ::testing::TestParamInfo<Damage>& i) { return std::string(i.param.what); });

// A checkpoint that verifies but whose tensors do not fit the model (shapes differ): a clear error
// naming the checkpoint, the tensor and both shapes, not a silent fallback or a crash.
TEST(Resume, ACheckpointWithOtherShapesIsAClearError) {
  const std::string text = tiny();
  fs::path run = temp_dir("shapes");
  {
    train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false});
    t.add_callback(std::make_shared<StopAt>(t, 3));
    t.fit();
  }
  io::CheckpointStore store((run / "checkpoints").string());
  io::LoadedCheckpoint c = *store.load_newest();
  for (auto& [name, t] : c.tensors)
    if (name == "model.0.weight") t = zeros({9, 20});  // the config builds [8, 20]
  store.save(c.id, c.tensors, c.state_json);  // written with valid sizes and checksums
  try {
    train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false, .resume = true});
    t.fit();
    FAIL() << "resumed from a checkpoint with other shapes";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const std::string& f : {c.id.name(), std::string("0.weight"), std::string("[9, 20]"), std::string("[8, 20]")})
      EXPECT_NE(m.find(f), std::string::npos) << f << ": " << m;
  }
  fs::remove_all(run);
}

TEST(Resume, ChangedConfigAndMissingCheckpointsAreClearErrors) {
  const std::string text = tiny();
  fs::path run = temp_dir("config");
  {
    train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false});
    t.add_callback(std::make_shared<StopAt>(t, 3));
    t.fit();
  }
  std::string wider = text;
  wider.replace(wider.find("out_features = 8"), 16, "out_features = 9");
  try {
    train::Trainer t(config_of(wider), {.run_dir = run.string(), .progress = false, .resume = true});
    t.fit();
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("config differs"), std::string::npos) << m;
    EXPECT_NE(m.find("out_features = 9"), std::string::npos) << m;
  }
  for (const auto& e : fs::directory_iterator(run / "checkpoints")) fs::resize_file(e.path(), 10);  // all damaged
  try {
    train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false, .resume = true});
    t.fit();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no valid checkpoint"), std::string::npos) << e.what();
  }
  fs::remove_all(run);
}

// The divergence guard's counters travel in the checkpoint: lr 10 blows the loss up, the guard
// rolls back and scales the lr (of a schedule) down; a run stopped after the first rollbacks and
// resumed keeps the scaled lr, the smoothed loss and the rollback count, and ends with the same
// bits and the same guard events as the run never stopped.
TEST(Resume, KeepsTheDivergenceGuardsState) {
  std::string text = io::read_file(std::string(DESCENT_TEST_DATA) + "/diag/relu_lr10.toml");
  std::string data_dir = "\"";  // the fixture's paths are relative to the repository root
  data_dir += DESCENT_TEST_DATA;
  data_dir += "/";
  for (size_t at; (at = text.find("\"tests/data/")) != std::string::npos;) text.replace(at, 12, data_dir);
  text.replace(text.find("epochs = 8"), 10, "epochs = 3");
  text += "[schedule]\nmain = { type = \"cosine\" }\n[checkpoint]\nevery_epochs = 0\nmin_seconds = 0\n";
  const fs::path& full = uninterrupted(text);
  auto guard_events = [](const fs::path& run) {
    std::vector<json> out;
    std::ifstream in(run / "health.jsonl");
    for (std::string line; std::getline(in, line);)
      if (json j = json::parse(line); j["kind"] == "guard") out.push_back(j);
    return out;
  };
  const std::vector<json> events = guard_events(full);
  ASSERT_GE(events.size(), 2u) << "the fixture no longer makes the guard roll back";
  const int64_t stop = events[1]["step"].get<int64_t>() + 1;  // after the second rollback
  fs::path run = temp_dir("guard");
  {
    train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false});
    t.add_callback(std::make_shared<StopAt>(t, stop));
    t.fit();
    ASSERT_TRUE(t.interrupted());
  }
  train::Trainer resumed(config_of(text), {.run_dir = run.string(), .progress = false, .resume = true});
  resumed.fit();
  expect_same_run(full, run);
  const std::vector<json> after = guard_events(run);
  ASSERT_EQ(after.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(after[i].dump(), events[i].dump()) << i;
  fs::remove_all(run);
}

TEST(Resume, KeepsTheLastKAndTheBestEpoch) {
  // every_steps = 1, keep_last = 3, metric test_acc: the last three plus the best epoch's.
  const std::string text =
      tiny("type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n", 4, "every_steps = 1\nkeep_last = 3\nmin_seconds = 0\nmetric = \"test_acc\"\n");
  fs::path run = temp_dir("keep");
  train::Trainer t(config_of(text), {.run_dir = run.string(), .progress = false});
  t.fit();
  io::CheckpointStore store((run / "checkpoints").string());
  std::vector<io::CheckpointId> ids = store.list();
  json last = json::parse(store.load(ids[0]).state_json);
  ASSERT_TRUE(last["best"].is_object());
  // The best epoch by test_acc (maximized; ties keep the earliest).
  double best = -1;
  int64_t best_epoch = 0;
  for (const auto& m : t.history())
    if (m.test_acc > best) best = m.test_acc, best_epoch = m.epoch;
  EXPECT_EQ(last["best"]["epoch"], best_epoch);
  EXPECT_EQ(last["best"]["value"].get<double>(), best);
  std::vector<std::string> names;
  for (const auto& id : ids) names.push_back(id.name());
  EXPECT_EQ(ids.size(), best_epoch >= 4 ? 3u : 4u) << ::testing::PrintToString(names);
  EXPECT_NE(std::find(names.begin(), names.end(), last["best"]["name"].get<std::string>()), names.end());
  fs::remove_all(run);
}

// ---- the command line: SIGINT, and SIGKILL at random moments --------------------------------

namespace {

// Starts `descent ARGS...` with stdout/stderr to files in `dir`; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& dir) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string bin = DESCENT_CLI;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (!freopen((dir / "stdout.txt").c_str(), "w", stdout) || !freopen((dir / "stderr.txt").c_str(), "w", stderr)) _exit(99);
    ::execv(bin.c_str(), argv.data());
    _exit(98);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_cli(const std::vector<std::string>& args, const fs::path& dir) { return wait_exit(spawn(args, dir)); }

size_t lines_in(const fs::path& p) {
  std::ifstream in(p);
  size_t n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  return n;
}

bool any_checkpoint(const fs::path& run) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run / "checkpoints", ec))
    if (e.path().extension() == ".json") return true;
  return false;
}

template <class Pred>
bool wait_for(Pred pred, int timeout_ms = 20000) {
  for (int t = 0; t < timeout_ms && !pred(); t += 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return pred();
}

}  // namespace

TEST(ResumeCli, SigintStopsAtAStepWithACheckpointAndResumeFinishesIdentically) {
  fs::path dir = temp_dir("sigint");
  fs::create_directories(dir);
  // No periodic checkpoints: the only one is the signal's, mid-run.
  std::ofstream(dir / "long.toml") << tiny("type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n", 3000, "every_steps = 0\nevery_epochs = 0\n");
  const std::string cfg = (dir / "long.toml").string();
  ASSERT_EQ(run_cli({"train", cfg, "--quiet", "--out", (dir / "full").string()}, dir), 0) << read(dir / "stderr.txt");
  const fs::path run = dir / "run";
  pid_t pid = spawn({"train", cfg, "--quiet", "--out", run.string()}, dir);
  ASSERT_TRUE(wait_for([&] { return lines_in(run / "metrics.jsonl") >= 20; }));
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130);
  const std::string err = read(dir / "stderr.txt");
  EXPECT_NE(err.find("continue with: descent train --resume " + run.string()), std::string::npos) << err;
  EXPECT_EQ(json::parse(read(run / "manifest.json"))["status"], "interrupted");
  const size_t done = lines_in(run / "metrics.jsonl");
  EXPECT_LT(done, 3000u);
  ASSERT_TRUE(any_checkpoint(run));
  EXPECT_FALSE(fs::exists(run / "final.safetensors"));
  ASSERT_EQ(run_cli({"train", "--resume", run.string(), "--quiet"}, dir), 0) << read(dir / "stderr.txt");
  EXPECT_NE(read(dir / "stdout.txt").find("resuming from"), std::string::npos);
  expect_same_run(dir / "full", run);
  // A finished run cannot be resumed again; --resume takes no config.
  EXPECT_EQ(run_cli({"train", "--resume", run.string()}, dir), 2);
  EXPECT_NE(read(dir / "stderr.txt").find("already completed"), std::string::npos);
  EXPECT_EQ(run_cli({"train", cfg, "--resume", run.string()}, dir), 2);
  fs::remove_all(dir);
}

TEST(ResumeCli, SigkillAtRandomMomentsResumesFromTheLastCompleteCheckpoint) {
  // A checkpoint every step (4 fsyncs each): a random SIGKILL lands inside a write often.
  fs::path dir = temp_dir("sigkill");
  fs::create_directories(dir);
  std::ofstream(dir / "k.toml") << tiny("type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n", 25);
  const std::string cfg = (dir / "k.toml").string();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_cli({"train", cfg, "--quiet", "--out", (dir / "full").string()}, dir), 0) << read(dir / "stderr.txt");
  // Kill within the first half of a run's duration as measured here, so that a fast machine does
  // not finish the run before the kill lands.
  const int half_ms = std::max<int>(
      2, int(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() / 2));
  const fs::path run = dir / "run";
  std::mt19937 rng(2024);
  pid_t pid = spawn({"train", cfg, "--quiet", "--out", run.string()}, dir);
  int kills = 0;
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(wait_for([&] { return any_checkpoint(run); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(1, half_ms)(rng)));
    ::kill(pid, SIGKILL);
    kills += wait_exit(pid) == 128 + SIGKILL;  // 0 when it had already finished
    if (fs::exists(run / "final.safetensors")) break;
    pid = spawn({"train", "--resume", run.string(), "--quiet"}, dir);
  }
  if (!fs::exists(run / "final.safetensors")) {
    EXPECT_EQ(wait_exit(pid), 0) << read(dir / "stderr.txt");
  }
  EXPECT_GE(kills, 1);
  expect_same_run(dir / "full", run);
  fs::remove_all(dir);
}

// ---- init_from ------------------------------------------------------------------------------

TEST(InitFrom, StartsFromTheFileAndChecksNamesAndShapes) {
  fs::path dir = temp_dir("init");
  const std::string text = tiny();
  const fs::path& full = uninterrupted(text);
  const std::string weights = (full / "final.safetensors").string();
  // [model] init_from: the model starts with exactly the file's tensors (buffers included).
  std::string from = text;
  from.replace(from.find("input_shape"), 0, "init_from = \"" + weights + "\"\n");
  train::Trainer t(config_of(from));
  EXPECT_EQ(io::safetensors_bytes(t.model().state_dict()), io::safetensors_bytes(io::load_safetensors(weights).tensors));
  // --init-from on the command line, into a model whose hidden layer is wider: exit 2, one line
  // naming the config, the file and each mismatching tensor; no run folder.
  fs::create_directories(dir);
  std::string wider = text;
  wider.replace(wider.find("out_features = 8"), 16, "out_features = 9");
  std::ofstream(dir / "wider.toml") << wider;
  EXPECT_EQ(run_cli({"train", (dir / "wider.toml").string(), "--init-from", weights, "--out", (dir / "run").string()}, dir), 2);
  const std::string err = read(dir / "stderr.txt");
  EXPECT_NE(err.find("wider.toml: [model] init_from: " + weights), std::string::npos) << err;
  EXPECT_NE(err.find("'0.weight' has shape [8, 20] in the file but [9, 20] in the model"), std::string::npos) << err;
  EXPECT_NE(err.find("'1.running_mean' has shape [8] in the file but [9] in the model"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(dir / "run"));
  // The same file into the same architecture trains from it.
  std::ofstream(dir / "same.toml") << text;
  EXPECT_EQ(run_cli({"train", (dir / "same.toml").string(), "--init-from", weights, "--quiet", "--out", (dir / "ok").string()}, dir), 0)
      << read(dir / "stderr.txt");
  EXPECT_NE(read(dir / "ok" / "config.toml").find("init_from"), std::string::npos);  // recorded in the resolved config
  fs::remove_all(dir);
}
