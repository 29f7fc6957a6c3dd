// hpo/trial_process.h — one trial as a child process in its own process group (internal).
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "descent/hpo.h"

namespace descent::hpo {

/// A running child. Its own process group lets a stop reach the trainer's children too; on
/// Linux it also dies with the driver (PR_SET_PDEATHSIG), so a crashed study leaves no orphans.
class TrialProcess {
 public:
  /// Starts `argv` with stdout and stderr appended to the given files, `env` added to the
  /// environment and the variables `unset_env` names removed (a trailing '*' matches a prefix).
  /// Throws descent::Error when the program cannot be run.
  TrialProcess(const std::vector<std::string>& argv, const std::filesystem::path& stdout_file,
               const std::filesystem::path& stderr_file, const std::vector<std::pair<std::string, std::string>>& env,
               const std::vector<std::string>& unset_env = {});
  /// Kills (SIGKILL) and reaps a process still running.
  ~TrialProcess();
  TrialProcess(const TrialProcess&) = delete;
  TrialProcess& operator=(const TrialProcess&) = delete;

  /// The exit status once the process ended (reaped), else nullopt. Never blocks.
  std::optional<ExitStatus> poll();
  /// Sends `signal` to the whole process group.
  void signal(int signal);
  /// Process id (= process group id).
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

}  // namespace descent::hpo
