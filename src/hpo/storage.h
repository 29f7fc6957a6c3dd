// hpo/storage.h — a study in SQLite: trials, parameters, intermediate values, rungs (internal).
//
// One file, OUT/study.db, in WAL mode with synchronous=NORMAL: every finished epoch is a small
// transaction that survives a crash of the driver, and readers (a report, a second terminal
// running sqlite3) never block it.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "descent/hpo.h"

struct sqlite3;

namespace descent::hpo {

/// The study database. Methods throw descent::Error naming the file on any SQLite failure.
class Storage {
 public:
  /// Opens `file`, creating it and its tables if needed.
  explicit Storage(const std::filesystem::path& file);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  /// A study-level value (name, signature, study text ...), if set.
  std::optional<std::string> meta(std::string_view key) const;
  /// Sets a study-level value.
  void set_meta(std::string_view key, std::string_view value);

  /// Inserts a new trial with the next number; returns it.
  int add_trial(const Params& params, TrialState state);
  /// Writes state, value, message, times and requeued_as of `trial`.
  void update_trial(const Trial& trial);
  /// Records the metric reported at `step`; NaN is stored as NULL.
  void add_intermediate(int number, int step, double value);
  /// Records an ASHA rung value.
  void add_rung(int number, int rung, double value);
  /// Every trial, by number.
  std::vector<Trial> load() const;

 private:
  void exec(const char* sql) const;
  [[noreturn]] void fail(std::string_view what) const;
  std::string file_;
  sqlite3* db_ = nullptr;
};

}  // namespace descent::hpo
