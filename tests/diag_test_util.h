// Helpers shared by diag_test.cpp and diag_health_test.cpp: configs of tests/data/diag/ with
// absolute data paths, temporary folders, running the `descent` binary, reading run folders.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "descent/config.h"

namespace descent::diag_test {

namespace fs = std::filesystem;

inline std::string diag_data(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/diag/" + name; }
inline std::string diag_config(const std::string& name) { return diag_data(name); }

/// The --set overrides pointing the fixture configs at absolute data paths.
inline std::vector<std::string> data_overrides() {
  std::vector<std::string> v;
  for (const char* split : {"train", "test"})
    for (const char* kind : {"images", "labels"})
      v.push_back(std::string("data.") + split + "_" + kind + "=\"" +
                  diag_data(std::string("blobs-") + split + "-" + kind + (kind[0] == 'i' ? "-idx3" : "-idx1") +
                            "-ubyte.gz") + "\"");
  return v;
}
/// The same as lines of a study file's [set] table ("data.train_images" = "...").
inline std::string data_set_table_lines() {
  std::string s;
  for (const auto& o : data_overrides()) {
    const size_t eq = o.find('=');
    s.append(1, '"').append(o, 0, eq).append("\" = ").append(o, eq + 1).append(1, '\n');
  }
  return s;
}
/// The same as command-line arguments (leading space).
inline std::string data_sets() {
  std::string s;
  for (const auto& o : data_overrides()) s += " --set '" + o + "'";
  return s;
}
/// A fixture config with absolute data paths and `extra` overrides.
inline Config load_diag(const std::string& name, std::vector<std::string> extra = {}) {
  std::vector<std::string> sets = data_overrides();
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_config(diag_config(name), sets);
}

inline Args args_of(std::initializer_list<std::pair<std::string, ArgValue>> kv) {
  Args a("test");
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

/// A fresh folder under the system temp dir, removed at scope exit.
struct TempDir {
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("descent_diag_test_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

struct RunResult {
  int code = -1;
  std::string out, err;
};

/// Runs `descent <args>` with stdout/stderr captured in `dir`.
inline RunResult run_cli(const std::string& args, const fs::path& dir) {
  const std::string cmd = std::string(DESCENT_CLI) + " " + args + " > " + (dir / "stdout.txt").string() + " 2> " +
                          (dir / "stderr.txt").string();
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir / "stdout.txt");
  r.err = read_file(dir / "stderr.txt");
  return r;
}

}  // namespace descent::diag_test
