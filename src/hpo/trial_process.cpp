// hpo/trial_process.cpp — fork/exec of a trial, stop by process group, non-blocking reap.
#include "hpo/trial_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <cerrno>
#include <cstring>

#include "descent/error.h"

extern char** environ;

namespace descent::hpo {

std::string ExitStatus::describe() const {
  return signaled ? fmt::format("killed by signal {} ({})", code, strsignal(code)) : fmt::format("exit code {}", code);
}

TrialProcess::TrialProcess(const std::vector<std::string>& argv, const std::filesystem::path& stdout_file,
                           const std::filesystem::path& stderr_file,
                           const std::vector<std::pair<std::string, std::string>>& env,
                           const std::vector<std::string>& unset_env) {
  if (argv.empty()) throw Error("hpo: empty trial command");
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed (no allocation).
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string key = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : env) overridden = overridden || k == key;
    for (const std::string& u : unset_env)
      overridden = overridden || (!u.empty() && u.back() == '*' ? key.compare(0, u.size() - 1, u, 0, u.size() - 1) == 0
                                                                : key == u);
    if (!overridden) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out = stdout_file.string(), err = stderr_file.string();

  int report[2];  // exec failure reaches the parent as an errno through a close-on-exec pipe
  if (pipe2(report, O_CLOEXEC) != 0) throw Error(fmt::format("hpo: pipe: {}", std::strerror(errno)));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    throw Error(fmt::format("hpo: fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the driver died before prctl took effect
#endif
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int null = open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || null < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || dup2(null, 0) < 0) {
      const int error = errno;
      [[maybe_unused]] auto n = write(report[1], &error, sizeof error);
      _exit(127);
    }
    execvpe(args[0], args.data(), envp.data());
    const int error = errno;
    [[maybe_unused]] auto n = write(report[1], &error, sizeof error);
    _exit(127);
  }
  setpgid(pid, pid);  // also in the parent: no window in which a signal misses the group
  close(report[1]);
  int error = 0;
  ssize_t n;
  do n = read(report[0], &error, sizeof error);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  pid_ = pid;
  if (n == static_cast<ssize_t>(sizeof error)) {
    int status = 0;
    waitpid(pid, &status, 0);
    pid_ = -1;
    throw Error(fmt::format("cannot run '{}': {}", argv[0], std::strerror(error)));
  }
}

TrialProcess::~TrialProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::optional<ExitStatus> TrialProcess::poll() {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    if (WIFSIGNALED(status))
      status_ = ExitStatus{.code = WTERMSIG(status), .signaled = true};
    else
      status_ = ExitStatus{.code = WEXITSTATUS(status), .signaled = false};
    // The leader is gone; members it left behind (a shell's children) go with the group.
    ::kill(-pid_, SIGKILL);
  } else if (r < 0 && errno == ECHILD) {
    status_ = ExitStatus{.code = 127, .signaled = false};
  }
  return status_;
}

void TrialProcess::signal(int signal) {
  if (pid_ > 0 && !status_) ::kill(-pid_, signal);
}

}  // namespace descent::hpo
