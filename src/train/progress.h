// Internal: the progress display of the training loop. On a terminal a live bar per epoch
// (done/total, samples/s, running loss, ETA) redrawn at most 10 times a second; otherwise one
// plain line per epoch, so logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace descent::train {

class Progress {
 public:
  /// `enabled` false prints nothing; `tty` chooses the live bar.
  Progress(bool enabled, bool tty);
  void begin_epoch(int64_t epoch, int64_t epochs, int64_t total_samples);
  void update(int64_t done_samples, double running_loss);
  /// Ends the epoch's bar and prints the summary line.
  void end_epoch(const std::string& summary);
  /// Prints a line (clearing a live bar first).
  void line(const std::string& text);

 private:
  bool enabled_, tty_;
  int64_t epoch_ = 0, epochs_ = 0, total_ = 0, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

/// True when stdout is a terminal.
bool stdout_is_tty();

}  // namespace descent::train
