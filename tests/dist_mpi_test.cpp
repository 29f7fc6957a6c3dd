// Data-parallel runs on two ranks (label `mpi`): exact all-reduces, 2-rank training equal to the
// one-process run with the same global batch (MLP in float64 and float32, the batch-norm CNN with
// sync_batchnorm), the CLI under mpirun, and the faults: configs that differ between ranks and a
// rank that raises, each stopping both ranks in seconds with the cause printed once.
//
// Each TEST starts as an ordinary process and launches `mpirun -n 2` — on this binary, filtered
// to the same test with DESCENT_DIST_WORKER=1 (the body after RUN_ON_TWO_RANKS() then runs on
// both ranks, and either rank failing fails the launch), or on the descent CLI. Without MPI in the
// build or without mpirun on PATH the tests skip, saying why.
//
// To add a case: a TEST that starts with RUN_ON_TWO_RANKS() and asserts on both ranks (EXPECT, not
// ASSERT, before a collective: a rank leaving early would leave the other waiting), or one that
// runs the CLI through mpirun() and checks its output.
#include <gtest/gtest.h>

#include "process_test_util.h"
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "descent/descent.h"
#include "descent/dist.h"

namespace fs = std::filesystem;
using namespace descent;

namespace {

// Flags CI needs: more ranks than cores allowed, as root; one OpenMP thread per rank. `timeout`
// turns a hang into a failure instead of a stuck CI job.
std::string mpirun(int ranks = 2) {
  return "timeout 120 mpirun --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 -n " + std::to_string(ranks);
}

using process_test::read_file;
using process_test::RunResult;
using process_test::shell;

fs::path temp_dir(const std::string& name) { return process_test::temp_dir("dist_mpi", name); }

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string why_not_mpi() {
  if (!dist::mpi_built()) return "descent was built without MPI (DESCENT_USE_MPI=OFF)";
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) return "mpirun is not on PATH (install openmpi-bin)";
  return "";
}

bool in_worker() { return std::getenv("DESCENT_DIST_WORKER") != nullptr; }

// Parent: runs the current test on two ranks under mpirun and checks that both passed.
void launch_current_test() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter = std::string(info->test_suite_name()) + "." + info->name();
  const fs::path dir = temp_dir(info->name());
  RunResult r = shell(mpirun() + " -x DESCENT_DIST_WORKER=" + dir.string() + " " +
                          fs::read_symlink("/proc/self/exe").string() + " --gtest_color=no --gtest_filter=" + filter,
                      dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(count(r.out, "[  PASSED  ] 1 test"), 2u) << r.out << r.err;  // one line per rank
  fs::remove_all(dir);
}

// Worker: MPI up (once per process), two ranks.
void start_worker() {
  static bool started = false;
  if (!started) {
    int argc = 0;
    char** argv = nullptr;
    dist::init(argc, argv);
    started = true;
  }
}

#define RUN_ON_TWO_RANKS()                                                \
  do {                                                                    \
    if (std::string why = why_not_mpi(); !why.empty()) GTEST_SKIP() << why; \
    if (!in_worker()) return launch_current_test();                       \
    start_worker();                                                       \
    ASSERT_EQ(dist::world().size(), 2);                                   \
  } while (0)

// A 3-class problem of 90 rows of 16 features (a 1x4x4 "image" for the CNN) in the launch's
// folder, written by rank 0 while rank 1 waits.
fs::path shared_fixture() {
  const fs::path p = fs::path(std::getenv("DESCENT_DIST_WORKER")) / "data.csv";
  if (dist::world().rank() != 0) {
    dist::world().barrier();
    return p;
  }
  std::ostringstream out;
  for (int j = 0; j < 16; ++j) out << "f" << j << ",";
  out << "label\n";
  uint64_t state = 12345;
  auto next = [&] { state = state * 6364136223846793005ull + 1442695040888963407ull; return static_cast<double>(state >> 40) / 16777216.0; };
  for (int i = 0; i < 90; ++i) {
    const int label = i % 3;
    for (int j = 0; j < 16; ++j) out << (next() + (j % 3 == label ? 0.8 : 0.0)) << ",";
    out << label << "\n";
  }
  std::ofstream(p) << out.str() << std::flush;
  dist::world().barrier();
  return p;
}

// 72 training rows in batches of 13: shards of 6 and 7 rows, and a last batch of 7 (3 and 4);
// 18 test rows, evaluated 9 per rank. 20 steps.
std::string csv_config(const fs::path& csv, const std::string& dtype, const std::string& model, const std::string& optimizer,
                       const std::string& extra = "") {
  return "[data]\nformat = \"csv\"\ntrain_file = \"" + csv.string() + "\"\ntest_fraction = 0.2\nsample_shape = [1, 4, 4]\n" +
         "[model]\n" + model + "[optimizer]\n" + optimizer + "[train]\nepochs = 4\nmax_steps = 20\nbatch_size = 13\nseed = 5\n" +
         "threads = 1\nprogress = false\ndtype = \"" + dtype + "\"\n" + extra;
}

const char* kMlp =
    "input_shape = [16]\nlayers = [ { type = \"linear\", out_features = 12 }, { type = \"tanh\" },\n"
    "  { type = \"linear\", out_features = 3 } ]\n";
const char* kBnCnn =
    "input_shape = [1, 4, 4]\nlayers = [ { type = \"conv2d\", out_channels = 4, kernel_size = 2 }, { type = \"batch_norm2d\" },\n"
    "  { type = \"relu\" }, { type = \"flatten\" }, { type = \"linear\", out_features = 3 } ]\n";

// Largest |a - b| over a state dict, relative to the largest |b| of each tensor.
double max_relative_difference(const nn::NamedTensors& a, const nn::NamedTensors& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    auto x = a[i].second.to_vector(), y = b[i].second.to_vector();
    double diff = 0, scale = 1e-30;
    for (size_t k = 0; k < x.size(); ++k) diff = std::max(diff, std::abs(x[k] - y[k])), scale = std::max(scale, std::abs(y[k]));
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

// Trains on both ranks together, then alone on each rank; returns the relative weight difference.
double two_ranks_vs_one(const std::string& toml, std::vector<train::EpochMetrics>* two_history = nullptr,
                        std::vector<train::EpochMetrics>* one_history = nullptr) {
  Config cfg = parse_config(toml, "dist.toml");
  train::Trainer two(cfg, {.progress = false});
  two.fit();
  train::Trainer one(cfg, {.progress = false, .comm = dist::local()});
  one.fit();
  EXPECT_EQ(two.history().back().step, 20);
  EXPECT_EQ(one.history().back().step, 20);
  if (two_history) *two_history = two.history();
  if (one_history) *one_history = one.history();
  const double diff = max_relative_difference(two.model().state_dict(), one.model().state_dict());
  if (dist::world().rank() == 0) std::cout << "2 ranks vs 1 process: max relative weight difference " << diff << "\n";
  return diff;
}

}  // namespace

TEST(DistMpi, AllreduceSumAndMeanAreExact) {
  RUN_ON_TWO_RANKS();
  dist::Communicator& comm = dist::world();
  const double r = comm.rank();
  for (DType d : {DType::F32, DType::F64}) {
    Tensor t = from_vector({1 + r, -3 * r, 0.25 + r, 1e6 * (r + 1)}, {4}, d);
    comm.allreduce(t, dist::ReduceOp::Sum);
    EXPECT_EQ(t.to_vector(), (std::vector<double>{3, -3, 1.5, 3e6})) << dtype_name(d);
    Tensor m = from_vector({1 + r, -3 * r, 0.25 + r, 1e6 * (r + 1)}, {4}, d);
    comm.allreduce(m, dist::ReduceOp::Mean);
    EXPECT_EQ(m.to_vector(), (std::vector<double>{1.5, -1.5, 0.75, 1.5e6})) << dtype_name(d);
  }
  Tensor i = from_vector({r, 1 << 20}, {2}, DType::I64);
  comm.allreduce(i, dist::ReduceOp::Max);
  EXPECT_EQ(i.to_vector(), (std::vector<double>{1, 1 << 20}));
  std::vector<double> v{r + 0.5, 2.0};
  auto req = comm.iallreduce(v.data(), 2, DType::F64, dist::ReduceOp::Sum);
  req->wait();
  EXPECT_EQ(v, (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ(comm.allgather(static_cast<uint64_t>(7 + comm.rank())), (std::vector<uint64_t>{7, 8}));
  std::string s = comm.rank() == 0 ? "from rank 0" : "";
  comm.broadcast(s, 0);
  EXPECT_EQ(s, "from rank 0");
}

TEST(DistMpi, MlpFloat64MatchesOneProcess) {
  RUN_ON_TWO_RANKS();
  std::vector<train::EpochMetrics> two, one;
  double diff = two_ranks_vs_one(
      csv_config(shared_fixture(), "float64", kMlp, "type = \"sgd\"\nlr = 0.2\nmomentum = 0.9\n"), &two, &one);
  EXPECT_LE(diff, 1e-10);
  ASSERT_EQ(two.size(), one.size());
  for (size_t e = 0; e < two.size(); ++e) {  // metrics are over the whole batch and test set
    EXPECT_NEAR(two[e].train_loss, one[e].train_loss, 1e-10 * one[e].train_loss);
    EXPECT_NEAR(two[e].test_loss, one[e].test_loss, 1e-10 * one[e].test_loss);
    EXPECT_EQ(two[e].train_acc, one[e].train_acc);
    EXPECT_EQ(two[e].test_acc, one[e].test_acc);
  }
}

TEST(DistMpi, MlpFloat32WithAdamAndClassWeightsMatchesOneProcess) {
  RUN_ON_TWO_RANKS();
  // Class weights make the shards' shares of the loss unequal (Σ w[y] per shard, not rows).
  EXPECT_LE(two_ranks_vs_one(csv_config(shared_fixture(), "float32", kMlp, "type = \"adam\"\nlr = 0.01\n",
                                        "[loss]\ntype = \"cross_entropy\"\nweight = [1.0, 3.0, 0.5]\n")),
            1e-5);
}

TEST(DistMpi, SumReductionWithPenaltyAndClippingMatchesOneProcess) {
  RUN_ON_TWO_RANKS();
  // reduction = "sum": every rank's share is 1; the L2 penalty every rank computes must still count
  // once, and clipping must see the summed gradient.
  EXPECT_LE(two_ranks_vs_one(csv_config(shared_fixture(), "float64", kMlp, "type = \"sgd\"\nlr = 0.01\n",
                                        "[loss]\ntype = \"cross_entropy\"\nreduction = \"sum\"\n"
                                        "[regularization]\nl2 = 0.05\nclip_grad_norm = 5.0\n")),
            1e-10);
}

TEST(DistMpi, BatchNormCnnMatchesOneProcessOnlyWithSyncBatchnorm) {
  RUN_ON_TWO_RANKS();
  const fs::path csv = shared_fixture();
  const std::string sgd = "type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n";
  EXPECT_LE(two_ranks_vs_one(csv_config(csv, "float64", kBnCnn, sgd, "[distributed]\nsync_batchnorm = true\n")), 1e-10);
  EXPECT_LE(two_ranks_vs_one(csv_config(csv, "float32", kBnCnn, sgd, "[distributed]\nsync_batchnorm = true\n")), 1e-5);
  // per-rank statistics (the default) normalize each shard by itself: a different run
  EXPECT_GT(two_ranks_vs_one(csv_config(csv, "float64", kBnCnn, sgd)), 1e-4);
}

TEST(DistMpi, SmallBucketsOverlapAndGiveTheSameResult) {
  RUN_ON_TWO_RANKS();
  // 1 KiB buckets: several all-reduces in flight during backward, started in order on both ranks
  EXPECT_LE(two_ranks_vs_one(csv_config(shared_fixture(), "float64", kMlp, "type = \"sgd\"\nlr = 0.2\n",
                                        "[distributed]\nbucket_mb = 0.001\n")),
            1e-10);
}

// ---- the CLI under mpirun ----------------------------------------------------------------

namespace {

std::string idx(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/idx/" + name; }

// The 6-image IDX fixture in batches of 5: shards of 2 and 3 rows, then a last batch of one
// sample, which leaves rank 0 without a shard.
std::string tiny_config(const std::string& layers, const std::string& extra = "") {
  return "[data]\ntrain_images = \"" + idx("images-idx3-ubyte") + "\"\ntrain_labels = \"" + idx("labels-idx1-ubyte") +
         "\"\ntest_images = \"" + idx("images-idx3-ubyte.gz") + "\"\ntest_labels = \"" + idx("labels-idx1-ubyte.gz") +
         "\"\n[model]\ninput_shape = [20]\nlayers = [ " + layers + " ]\n[optimizer]\ntype = \"sgd\"\nlr = 0.1\n" +
         "momentum = 0.9\n[train]\nepochs = 10\nbatch_size = 5\nseed = 7\nthreads = 1\ndtype = \"float64\"\nlog_every = 1\n" +
         extra;
}

const char* kTinyMlp = "{ type = \"linear\", out_features = 8 }, { type = \"relu\" }, { type = \"linear\", out_features = 10 }";

std::vector<nlohmann::json> jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

#define SKIP_WITHOUT_MPI() \
  if (std::string why = why_not_mpi(); !why.empty()) GTEST_SKIP() << why

}  // namespace

TEST(DistMpi, CliTwoRanksTakeTheOneProcessStepsAndOnlyRankZeroWrites) {
  SKIP_WITHOUT_MPI();
  fs::path dir = temp_dir("cli");
  std::ofstream(dir / "tiny.toml") << tiny_config(kTinyMlp);
  const std::string cli = DESCENT_CLI, cfg = (dir / "tiny.toml").string();
  RunResult two = shell(mpirun() + " " + cli + " train " + cfg + " --out " + (dir / "two").string(), dir);
  ASSERT_EQ(two.code, 0) << two.out << two.err;
  RunResult one = shell(cli + " train " + cfg + " --out " + (dir / "one").string(), dir);
  ASSERT_EQ(one.code, 0) << one.out << one.err;
  EXPECT_EQ(count(two.out, "run folder:"), 1u) << two.out;
  EXPECT_EQ(count(two.out, "epoch 10/10  loss"), 1u) << two.out;  // plain lines: ranks' stdout is no terminal
  auto steps2 = jsonl(dir / "two" / "steps.jsonl"), steps1 = jsonl(dir / "one" / "steps.jsonl");
  ASSERT_EQ(steps2.size(), 20u);
  ASSERT_EQ(steps1.size(), 20u);
  for (size_t i = 0; i < steps1.size(); ++i) {  // the loss of each global batch, step by step
    const double a = steps2[i]["loss"].get<double>(), b = steps1[i]["loss"].get<double>();
    EXPECT_NEAR(a, b, 1e-10 * std::abs(b)) << "step " << i + 1;
  }
  auto m2 = jsonl(dir / "two" / "metrics.jsonl"), m1 = jsonl(dir / "one" / "metrics.jsonl");
  ASSERT_EQ(m2.size(), 10u);
  EXPECT_EQ(m2.back()["test_acc"], m1.back()["test_acc"]);
  EXPECT_NEAR(m2.back()["test_loss"].get<double>(), m1.back()["test_loss"].get<double>(), 1e-9);
  auto manifest = nlohmann::json::parse(read_file(dir / "two" / "manifest.json"));
  EXPECT_EQ(manifest["ranks"], 2);
  EXPECT_EQ(manifest["status"], "completed");
  fs::remove_all(dir);
}

TEST(DistMpi, ConfigsThatDifferBetweenRanksStopBothWithOneMessage) {
  SKIP_WITHOUT_MPI();
  fs::path dir = temp_dir("mismatch");
  std::ofstream(dir / "tiny.toml") << tiny_config(kTinyMlp);
  const std::string run = std::string(DESCENT_CLI) + " train " + (dir / "tiny.toml").string() + " --out " + (dir / "run").string();
  // MPMD: rank 0 and rank 1 get different --set overrides
  std::string cmd = mpirun(1) + " " + run + " --set optimizer.lr=0.1 : -n 1 -x OMP_NUM_THREADS=1 " + run +
                    " --set optimizer.lr=0.2";
  RunResult r = shell(cmd, dir);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(count(r.err, "differs between ranks"), 1u) << r.err;
  EXPECT_NE(r.err.find("is 'lr = 0.2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("on rank 1 but 'lr = 0.1"), std::string::npos) << r.err;
  EXPECT_LT(r.seconds, 30);
  EXPECT_FALSE(fs::exists(dir / "run" / "metrics.jsonl"));
  fs::remove_all(dir);
}

TEST(DistMpi, ARankThatRaisesStopsAllRanksInSeconds) {
  SKIP_WITHOUT_MPI();
  fs::path dir = temp_dir("raise");
  // Per-rank batch norm: the second batch (one sample) gives rank 1 a single row, which batch
  // norm rejects, while rank 0 (no rows) already waits in the gradient all-reduce.
  std::ofstream(dir / "bn.toml")
      << tiny_config("{ type = \"linear\", out_features = 8 }, { type = \"batch_norm1d\" }, { type = \"linear\", out_features = 10 }");
  RunResult r = shell(mpirun() + " " + DESCENT_CLI + " train " + (dir / "bn.toml").string() + " --out " +
                          (dir / "run").string(),
                      dir);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(count(r.err, "expected more than 1 value per channel"), 1u) << r.err;
  EXPECT_NE(r.err.find("rank 1/2: error: batch_norm"), std::string::npos) << r.err;
  EXPECT_LT(r.seconds, 30);
  fs::remove_all(dir);
}

// A rank that dies without a word (SIGKILL: no error path runs) while the other waits in an
// all-reduce: mpirun must stop the survivor and say which rank died — no hang.
TEST(DistMpi, ARankKilledBySigkillStopsTheOtherInSeconds) {
  if (std::string why = why_not_mpi(); !why.empty()) GTEST_SKIP() << why;
  if (!in_worker()) {
    const fs::path dir = temp_dir("sigkill");
    RunResult r = shell(mpirun() + " -x DESCENT_DIST_WORKER=" + dir.string() + " " +
                            fs::read_symlink("/proc/self/exe").string() +
                            " --gtest_color=no --gtest_filter=DistMpi.ARankKilledBySigkillStopsTheOtherInSeconds",
                        dir);
    EXPECT_NE(r.code, 0) << r.out << r.err;
    EXPECT_LT(r.seconds, 30) << "the surviving rank hung";
    EXPECT_NE((r.out + r.err).find("signal 9"), std::string::npos) << r.out << r.err;
    fs::remove_all(dir);
    return;
  }
  start_worker();
  dist::Communicator& comm = dist::world();
  comm.barrier();
  if (comm.rank() == 1) std::raise(SIGKILL);
  Tensor t = from_vector({1.0}, {1}, DType::F64);
  comm.allreduce(t, dist::ReduceOp::Sum);  // rank 0 waits here for a partner that is gone
  ADD_FAILURE() << "the all-reduce returned without rank 1";
}

TEST(DistMpi, ASetupErrorOnEveryRankIsPrintedOnce) {
  SKIP_WITHOUT_MPI();
  fs::path dir = temp_dir("setup");
  std::string text = tiny_config(kTinyMlp);
  text.replace(text.find("epochs = 10"), 11, "epoch = 10");
  std::ofstream(dir / "typo.toml") << text;
  RunResult r = shell(mpirun() + " " + DESCENT_CLI + " train " + (dir / "typo.toml").string(), dir);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(count(r.err, "unknown key 'epoch'"), 1u) << r.err;
  EXPECT_LT(r.seconds, 30);
  fs::remove_all(dir);
}
