// Internal: the run folder — resolved config.toml, manifest.json, metrics.jsonl.
//
// The folder is created only when training starts (after the whole config, data and model were
// validated), and manifest.json says "status": "running" until the end rewrites it as
// "completed" (or "failed" with the error): a folder never claims a success it did not have.
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace descent::train {

class RunFolder {
 public:
  RunFolder() = default;
  /// Creates `dir` (parents too); throws descent::Error when it cannot.
  explicit RunFolder(const std::string& dir);
  bool active() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  /// Writes a whole file atomically (temp file + rename).
  void write_file(const std::string& name, const std::string& text) const;
  /// Appends one JSON object as a line to `name` and flushes.
  void append_jsonl(const std::string& name, const nlohmann::json& j);
  /// Writes manifest.json.
  void write_manifest(const nlohmann::json& manifest) const;

 private:
  std::string dir_;
  std::ofstream metrics_, steps_;
};

/// Current UTC time as ISO 8601.
std::string utc_now();

}  // namespace descent::train
