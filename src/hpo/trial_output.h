// hpo/trial_output.h — following what a running trial writes (internal).
//
// A descent trial appends one JSON object per epoch to metrics.jsonl; an external program prints
// `intermediate STEP VALUE` lines and finally its objective, a line holding one number. Both
// are followed by tailing a file: only complete lines are read, so a line being written is
// never half-parsed.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace descent::hpo {

/// Reads the lines appended to a file since the last call.
class LineTail {
 public:
  /// Follows `file` (which may not exist yet).
  explicit LineTail(std::filesystem::path file) : file_(std::move(file)) {}
  /// New complete lines; with `flush` also a last line without a newline (the writer is done).
  std::vector<std::string> read(bool flush = false);

 private:
  std::filesystem::path file_;
  std::uintmax_t offset_ = 0;
  std::string partial_;
};

/// What one output line says.
struct LineReport {
  std::optional<int> step;          ///< the step (epoch) the line reports
  std::optional<double> value;      ///< the metric at that step; NaN when null or not finite
  std::optional<double> objective;  ///< external program: a line holding a single number
  std::string stop;                 ///< non-empty: prune the trial now (health, non-finite loss)
  std::string error;                ///< non-empty: the output is broken; fail the trial
};

/// A metrics.jsonl line; `line_number` (1-based) is the step when the line has no "epoch".
LineReport parse_metrics_line(std::string_view line, std::string_view metric, int line_number);

/// A line of an external program's standard output.
LineReport parse_program_line(std::string_view line);

}  // namespace descent::hpo
