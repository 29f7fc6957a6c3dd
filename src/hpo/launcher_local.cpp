// hpo/launcher_local.cpp — trials as child processes of this process.
//
// The default launcher of run_study, and what each MPI rank of `descent tune` uses to run the
// trials it is sent: a trial is a TrialProcess (own process group, dies with its parent) whose
// progress is read by tailing a file in its folder.
#include <fmt/format.h>

#include <fstream>

#include "descent/error.h"
#include "descent/hpo.h"
#include "hpo/trial_output.h"
#include "hpo/trial_process.h"

namespace descent::hpo {
namespace {

constexpr std::size_t kMessageChars = 200;

std::string last_line_of(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  if (last.size() > kMessageChars) last = last.substr(0, kMessageChars) + "...";
  return last;
}

class LocalTrial : public TrialHandle {
 public:
  explicit LocalTrial(const TrialLaunch& launch) : tail_(launch.follow), dir_(launch.dir), follow_(launch.follow) {
    std::filesystem::create_directories(dir_);
    // A re-queued trial runs again in the same folder: its new output must not follow old lines.
    for (const char* stale : {"metrics.jsonl", "stdout.log", "stderr.log"}) std::filesystem::remove(dir_ / stale);
    process_ = std::make_unique<TrialProcess>(launch.argv, dir_ / "stdout.log", dir_ / "stderr.log", launch.env,
                                              launch.unset_env);
  }
  std::vector<std::string> read(bool flush) override { return tail_.read(flush); }
  std::optional<ExitStatus> poll() override { return process_->poll(); }
  void signal(int signal) override { process_->signal(signal); }
  std::string failure_detail() override {
    std::string why = last_line_of(dir_ / "stderr.log");
    if (why.empty() && follow_ != dir_ / "stdout.log") why = last_line_of(dir_ / "stdout.log");
    return why;
  }

 private:
  LineTail tail_;
  std::filesystem::path dir_, follow_;
  std::unique_ptr<TrialProcess> process_;
};

class LocalLauncher : public Launcher {
 public:
  explicit LocalLauncher(int jobs) : jobs_(jobs) {
    if (jobs < 1) throw Error(fmt::format("--jobs must be >= 1 (got {})", jobs));
  }
  int slots() const override { return jobs_; }
  std::unique_ptr<TrialHandle> start(const TrialLaunch& launch) override {
    return std::make_unique<LocalTrial>(launch);
  }

 private:
  int jobs_;
};

}  // namespace

std::unique_ptr<Launcher> local_launcher(int jobs) { return std::make_unique<LocalLauncher>(jobs); }

}  // namespace descent::hpo
