// `mpirun -n 2 descent tune ...` (label `mpi`): every rank runs trials, rank 0 coordinates.
//
// Each TEST launches the descent CLI under `mpirun -n 2` on a study in a fresh folder and reads
// what rank 0 wrote (study.db, trials.csv) afterwards. The trials are a shell script that
// records the rank running it (DESCENT_TUNE_RANK) and whether it saw the launcher's variables,
// or real `descent train` runs of the diag fixtures. Without MPI in the build or without mpirun
// on PATH the tests skip, saying why.
//
// To add a case: write a study with study_file(), run it with tune_on_two_ranks(), and assert on
// the result and on hpo::load_trials(out).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "process_test_util.h"
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "descent/dist.h"
#include "descent/hpo.h"
#include "diag_test_util.h"

namespace fs = std::filesystem;
namespace hpo = descent::hpo;
using hpo::TrialState;

namespace {

std::string why_not_mpi() {
  if (!descent::dist::mpi_built()) return "descent was built without MPI (DESCENT_USE_MPI=OFF)";
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) return "mpirun is not on PATH (install openmpi-bin)";
  return "";
}

using process_test::read_file;
using process_test::RunResult;

// A fresh folder per test under the system temp dir, removed afterwards.
struct TempDir : process_test::TempDir {
  TempDir() : process_test::TempDir("hpo_mpi") {}
};

// `descent tune ARGS` on two ranks; `timeout` turns a hang into a failure.
RunResult tune_on_two_ranks(const fs::path& dir, const std::string& args) {
  return process_test::shell(fmt::format("timeout 120 mpirun --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 "
                                         "-n 2 {} tune {}",
                                         DESCENT_CLI, args),
                             dir);
}

// A trial program: writes "RANK LAUNCHER_VARIABLE" to TRIAL_DIR/rank.txt, then 6 steps of
// "intermediate STEP (x - 0.3)^2 + 1/STEP" 0.1 s apart and the objective (x - 0.3)^2; with mode
// "fail" it exits 3 before step 1 with a message on stderr.
fs::path write_program(const fs::path& dir) {
  const fs::path p = dir / "program.sh";
  std::ofstream(p) << R"(#!/bin/sh
x=$1; mode=$2; out=$3
echo "${DESCENT_TUNE_RANK:-none} ${OMPI_COMM_WORLD_SIZE:-none}" > "$out/rank.txt"
s=1
while [ "$s" -le 6 ]; do
  sleep 0.1
  if [ "$mode" = fail ]; then echo "boom before step 1" >&2; exit 3; fi
  awk -v x="$x" -v s="$s" 'BEGIN { printf "intermediate %d %.12g\n", s, (x - 0.3) ^ 2 + 1 / s }'
  s=$((s + 1))
done
awk -v x="$x" 'BEGIN { printf "%.12g\n", (x - 0.3) ^ 2 }'
)";
  return p;
}

}  // namespace

TEST(HpoMpi, EveryRankRunsTrialsAndRankZeroKeepsTheStudy) {
  if (std::string why = why_not_mpi(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  const fs::path program = write_program(dir.path());
  std::ofstream(dir.path() / "study.toml") << fmt::format(
      "command = [\"/bin/sh\", \"{}\", \"{{x}}\", \"{{mode}}\", \"{{trial_dir}}\"]\n"
      "direction = \"minimize\"\nsampler = {{ type = \"grid\", points = 4 }}\n"
      "pruner = {{ type = \"asha\", min_resource = 1, reduction_factor = 2 }}\n[space]\n"
      "x = {{ type = \"uniform\", low = 0.0, high = 1.0 }}\n"
      "mode = {{ type = \"categorical\", choices = [\"ok\", \"fail\"] }}\n",
      program.string());
  const fs::path out = dir.path() / "study";
  const RunResult r =
      tune_on_two_ranks(dir.path(), fmt::format("{} --out {}", (dir.path() / "study.toml").string(), out.string()));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("best: trial"), std::string::npos) << r.out;  // rank 0's table and summary
  EXPECT_EQ(r.err.find("fork"), std::string::npos) << r.err;         // no MPI warning about fork()

  const std::vector<hpo::Trial> trials = hpo::load_trials(out);
  ASSERT_EQ(trials.size(), 8u);
  std::set<std::string> ranks;
  int pruned = 0;
  for (const auto& t : trials) {
    const fs::path trial_dir = out / "trials" / fmt::format("{:04d}", t.number);
    std::istringstream seen(read_file(trial_dir / "rank.txt"));
    std::string rank, launcher_variable;
    seen >> rank >> launcher_variable;
    ranks.insert(rank);
    EXPECT_EQ(launcher_variable, "none") << "trial " << t.number << " ran as a part of the MPI job";
    const double x = std::get<double>(t.params.at("x"));
    if (std::get<std::string>(t.params.at("mode")) == "fail") {
      EXPECT_EQ(t.state, TrialState::Failed) << t.number;
      EXPECT_EQ(t.message, "exit code 3: boom before step 1") << t.number;  // stderr's last line, from its rank
      continue;
    }
    for (const auto& [step, v] : t.intermediate) EXPECT_NEAR(v, (x - 0.3) * (x - 0.3) + 1.0 / step, 1e-9);
    if (t.state == TrialState::Pruned) {
      ++pruned;
      // Stopped where it ran, by rank 0's signal: the objective line never came.
      EXPECT_LT(t.intermediate.size(), 6u) << t.number;
      std::istringstream log(read_file(trial_dir / "stdout.log"));
      int lines = 0;
      for (std::string line; std::getline(log, line);) ++lines;
      EXPECT_LT(lines, 7) << t.number;
    } else {
      ASSERT_EQ(t.state, TrialState::Complete) << t.number << " " << t.message;
      EXPECT_NEAR(*t.value, (x - 0.3) * (x - 0.3), 1e-9);
    }
  }
  EXPECT_EQ(ranks, (std::set<std::string>{"0", "1"}));
  EXPECT_GE(pruned, 1);
  const std::string csv = read_file(out / "trials.csv");
  for (const auto& t : trials)
    EXPECT_NE(csv.find(fmt::format("\n{},{},", t.number, hpo::to_string(t.state))), std::string::npos) << csv;
  EXPECT_TRUE(fs::exists(out / "study.html"));
  EXPECT_TRUE(fs::exists(out / "best.toml"));
}

TEST(HpoMpi, DescentTrainTrialsRunOnTheRanksAsOneProcessRuns) {
  if (std::string why = why_not_mpi(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  const fs::path diag = fs::path(DESCENT_TEST_DATA) / "diag";
  std::string text = fmt::format(
      "base = \"{}\"\nmetric = \"test_acc\"\ndirection = \"maximize\"\ntrials = 2\nsampler = \"random\"\n"
      "[set]\n\"train.epochs\" = 1\n",
      (diag / "healthy.toml").string());
  text += descent::diag_test::data_set_table_lines();  // the fixture's paths are relative to the repository
  text += "[space]\n\"optimizer.lr\" = { type = \"loguniform\", low = 0.01, high = 0.1 }\n";
  std::ofstream(dir.path() / "study.toml") << text;
  const fs::path out = dir.path() / "study";
  const RunResult r = tune_on_two_ranks(
      dir.path(), fmt::format("{} --out {} --quiet", (dir.path() / "study.toml").string(), out.string()));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::vector<hpo::Trial> trials = hpo::load_trials(out);
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, TrialState::Complete) << t.number << ": " << t.message;
    EXPECT_EQ(t.intermediate.size(), 1u);
    // A one-process run: it did not join the job (its manifest would say world size 2 or hang).
    const std::string manifest = read_file(out / "trials" / fmt::format("{:04d}", t.number) / "manifest.json");
    EXPECT_NE(manifest.find("completed"), std::string::npos) << manifest;
  }
}

TEST(HpoMpi, ABadStudyStopsEveryRankWithOneMessage) {
  if (std::string why = why_not_mpi(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  std::ofstream(dir.path() / "bad.toml") << "command = [\"true\"]\ntrials = 2\n[space]\n"
                                            "x = { type = \"uniform\", low = 0.0, high = 1.0 }\n";
  const RunResult r =
      tune_on_two_ranks(dir.path(), (dir.path() / "bad.toml").string() + " --out " + (dir.path() / "study").string());
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string expected = "error: " + (dir.path() / "bad.toml").string() + ": direction is required";
  std::size_t n = 0;
  for (std::size_t at = r.err.find(expected); at != std::string::npos; at = r.err.find(expected, at + 1)) ++n;
  EXPECT_EQ(n, 1u) << r.err;
  EXPECT_EQ(r.err.find("MPI_ABORT"), std::string::npos) << r.err;  // the other rank exited normally
  EXPECT_LT(r.seconds, 60.0);
}
