#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace descent::train {

bool stdout_is_tty() { return isatty(STDOUT_FILENO) != 0; }

Progress::Progress(bool enabled, bool tty) : enabled_(enabled), tty_(tty) {}

void Progress::begin_epoch(int64_t epoch, int64_t epochs, int64_t total) {
  epoch_ = epoch;
  epochs_ = epochs;
  total_ = total;
  done_ = 0;
  start_ = std::chrono::steady_clock::now();
  last_draw_ = start_ - std::chrono::seconds(1);
  drawn_ = false;
}

void Progress::update(int64_t done, double running_loss) {
  done_ = done;
  if (!enabled_ || !tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  constexpr int kWidth = 30;
  int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : 0;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stdout, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  %.0f samples/s  loss %.4f  ETA %.0fs",
               static_cast<long long>(epoch_), static_cast<long long>(epochs_), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total_), rate, running_loss, eta);
  std::fflush(stdout);
  drawn_ = true;
}

void Progress::end_epoch(const std::string& summary) { line(summary); }

void Progress::line(const std::string& text) {
  if (!enabled_) return;
  if (tty_ && drawn_) std::fputs("\r\033[K", stdout);
  drawn_ = false;
  std::fputs(text.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace descent::train
