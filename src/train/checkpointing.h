// Internal: the Trainer's whole state in and out of checkpoints, and graceful stops on signals.
//
// A checkpoint holds, as tensors ("model.<state_dict name>", "optimizer.<index>.<name>"), the
// weights, buffers and optimizer state; and as JSON the loop position (epoch, step, the epoch's
// running loss/accuracy sums), the loader position, the optimizer's step count, lr and momentum,
// the schedule state, every Dropout generator, the metrics history, the best-checkpoint record,
// each stateful callback's state, the health monitor's counters, the standardization fitted on
// the training split, the resolved config and the manifest. Doubles are stored so they
// read back bit for bit (NaN and infinities as strings), which makes a resumed run identical to an
// uninterrupted one.
#pragma once
#include <atomic>
#include <signal.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "descent/diag.h"
#include "descent/io.h"
#include "descent/regularize.h"
#include "descent/sched.h"
#include "descent/train.h"

namespace descent::train {

/// Where the loop stands.
struct LoopState {
  int64_t epoch = 1;         ///< current epoch, 1-based
  bool epoch_done = false;   ///< its evaluation ran: a resume starts the next epoch
  int64_t step = 0;          ///< optimizer steps taken
  double loss_sum = 0.0;     ///< the epoch's sample-weighted loss so far
  double correct = 0.0;      ///< the epoch's correct predictions so far
  int64_t seen = 0;          ///< the epoch's samples so far
  double penalty_sum = 0.0;  ///< the epoch's L1/L2 penalty sum so far
  int64_t skipped_steps = 0; ///< steps skipped for non-finite gradients, whole run
  bool stop = false;         ///< the loop decided to end after this epoch (early stopping, max_steps)
  std::string health_state = {};  ///< TrainingHealth::save_state() of the checkpoint ("" = none), for after its start()
  nn::NamedTensors health_tensors = {};  ///< TrainingHealth::state_tensors() of the checkpoint
};

/// References to everything a checkpoint captures.
struct TrainerParts {
  const Config& cfg;
  nn::Sequential& model;
  optim::Optimizer& optimizer;
  sched::Schedule* schedule;  ///< null without [schedule]
  data::Loader& train_loader;
  std::vector<EpochMetrics>& history;
  std::vector<std::shared_ptr<Callback>>& callbacks;
  nlohmann::json& manifest;
  optim::EarlyStopping* early_stop;  ///< null without [early_stopping]
  const data::Standardizer* standardizer = nullptr;  ///< the run's fitted standardization (null: none)
  diag::TrainingHealth* health = nullptr;            ///< the health monitor and divergence guard (null: none)
};

/// Writes checkpoints on the configured cadence, keeps the last K and the best, and resumes.
class Checkpointer {
 public:
  /// Checkpoints go to <run_dir>/checkpoints.
  Checkpointer(const io::CheckpointOptions& options, const std::string& run_dir);
  /// True when [checkpoint] every_steps asks for one after this step (and min_seconds have passed).
  bool due_after_step(int64_t step) const {
    return opt_.every_steps > 0 && step % opt_.every_steps == 0 && waited_enough();
  }
  /// True when [checkpoint] every_epochs asks for one after this epoch's evaluation (and min_seconds have passed).
  bool due_after_epoch(int64_t epoch) const {
    return opt_.every_epochs > 0 && epoch % opt_.every_epochs == 0 && waited_enough();
  }
  /// The metric ranking epoch checkpoints.
  const std::string& metric() const { return opt_.metric; }
  /// Writes one (after an epoch's evaluation, pass that epoch's metric); then prunes. Returns the JSON path.
  std::string save(const TrainerParts& parts, const LoopState& loop, std::optional<double> metric_value = std::nullopt);
  /// Restores the newest checkpoint that verifies; each skipped one adds a line to `messages` (and
  /// is moved aside as *.damaged when `tidy`: rank 0 only). Throws when none verifies or the config differs.
  LoopState resume(const TrainerParts& parts, std::vector<std::string>& messages, bool tidy = true);
  /// The checkpoint a resume started from ("" before).
  const std::string& resumed_from() const { return resumed_from_; }

 private:
  // Many tiny epochs (full-batch GD on XOR) would otherwise spend their time in fsync.
  bool waited_enough() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save_).count() >= opt_.min_seconds;
  }
  io::CheckpointOptions opt_;
  std::chrono::steady_clock::time_point last_save_ = std::chrono::steady_clock::now();
  io::CheckpointStore store_;
  std::optional<io::CheckpointId> best_id_;
  double best_value_ = 0.0;
  std::string resumed_from_;
};

/// Drops the lines of a JSONL file whose integer `key` exceeds `max` (and lines cut short), so the
/// files of a resumed run hold what the checkpoint had seen (metrics.jsonl by epoch, steps.jsonl by step).
void truncate_jsonl(const std::string& path, const std::string& key, int64_t max);

/// SIGINT/SIGTERM → a stop request at the next step boundary while alive; a second signal kills
/// at once (the default action). Restores the previous handlers when destroyed.
class StopOnSignal {
 public:
  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
  /// The signal received (0 = none).
  static int pending();

 private:
  struct sigaction old_int_{}, old_term_{};
};

}  // namespace descent::train
