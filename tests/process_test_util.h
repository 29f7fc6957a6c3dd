// Shared by the tests that run a command as a process (the descent CLI, mpirun): a scratch
// directory per test, a file's text, and a command's exit code, output and wall time.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace process_test {

namespace fs = std::filesystem;

/// The whole text of a file ("" when it cannot be read).
inline std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A fresh, empty directory temp/descent_SUITE_PID_NAME (removed first if it exists).
inline fs::path temp_dir(const std::string& suite, const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("descent_" + suite + "_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// A fresh folder for the running test (temp_dir(suite, "TESTSUITE_TEST")), removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& suite) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = temp_dir(suite, std::string(info->test_suite_name()) + "_" + info->name());
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// What a command did: its exit code (-1 when killed by a signal), stdout, stderr, wall seconds.
struct RunResult {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

/// Runs `cmd` through the shell in the current directory, its stdout and stderr going to
/// out_dir/stdout.txt and out_dir/stderr.txt, and reads them back.
inline RunResult shell(const std::string& cmd, const fs::path& out_dir) {
  const fs::path out = out_dir / "stdout.txt", err = out_dir / "stderr.txt";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system((cmd + " > " + out.string() + " 2> " + err.string()).c_str());
  RunResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace process_test
