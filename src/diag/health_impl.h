// Internal: the state of a TrainingHealth, shared by the monitor (health.cpp) and the non-finite
// detector and divergence guard (guard.cpp).
#pragma once
#include <cstdint>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "descent/diag.h"
#include "diag/stats.h"

namespace descent::diag {

/// A child of the watched Sequential.
struct LayerInfo {
  std::string type{};           ///< lower-case type name
  LayerKind kind = LayerKind::Other;
  std::vector<Tensor> params{}; ///< its parameters (empty for activations)
  Tensor weight{};              ///< its first parameter named *weight (undefined when none)
};

/// Per-layer numbers of one monitored step.
struct LayerSample {
  OutputStats out;
  double grad_norm = NAN;       ///< norm of the layer's parameter gradients (NaN: no parameters)
  double update_ratio = NAN;    ///< ‖Δw‖/‖w‖ of the step (NaN: no parameters or zero weights)
  bool weights_zero = false;    ///< every element of the weight is 0
  std::vector<int64_t> hist;    ///< output histogram
  double lo = 0, hi = 0;        ///< histogram range
};

/// Aggregates of one layer over the current window.
struct LayerWindow {
  std::vector<uint8_t> alive;   ///< per unit: > 0 on some sample of the window (ReLU)
  double saturated_sum = 0.0;   ///< sum of saturated fractions
  int64_t grad_samples = 0;     ///< samples with a gradient norm
  int64_t zero_grad_samples = 0;
  double update_ratio_sum = 0.0;
  int64_t update_samples = 0;
};

/// The last good in-memory state the guard rolls back to.
struct Snapshot {
  bool valid = false;
  int64_t step = 0;                     ///< updates applied to the saved state
  std::vector<Tensor> params, buffers;  ///< clones, in named_parameters / named_buffers order
  nn::NamedTensors optimizer_state;     ///< clones of optimizer.state()
  int64_t optimizer_steps = 0;
  double ema = 0.0, ema_min = 0.0;
  int64_t ema_n = 0;
};

struct TrainingHealth::Impl {
  Impl(nn::Sequential& m, optim::Optimizer& o, const loss::Loss& l, const HealthOptions& opts)
      : model(m), optimizer(o), loss(l), o(opts) {}
  nn::Sequential& model;
  optim::Optimizer& optimizer;
  const loss::Loss& loss;
  HealthOptions o;
  std::function<void(const std::string&)> print;
  std::ofstream file;  // health.jsonl

  std::vector<LayerInfo> layers;
  std::vector<Tensor> params, buffers;  // every parameter / buffer, for the finite check and snapshots
  int64_t step = 0, epoch = 0;
  double loss_value = 0.0;
  bool monitoring = false;
  std::vector<LayerSample> sample;      // the monitored step in progress
  std::vector<Tensor> before;           // per layer: its weight before the update (monitored steps)

  std::vector<LayerWindow> window;
  int64_t window_samples = 0, window_epoch = 0;
  double ratio_log_sum = 0.0;           // log(first/last gradient norm) over the window
  int64_t ratio_samples = 0;
  nlohmann::json start_histograms, end_histograms;

  std::vector<Verdict> verdicts;
  std::set<std::string> fired;          // rule keys already printed
  int epoch_severity = 0;               // most severe status this epoch (index into kStatus)
  nlohmann::json epoch_events = nlohmann::json::array();

  // Divergence guard.
  Snapshot snapshot;
  Snapshot window_snapshot;  // the snapshot when the current window took its first sample
  Snapshot alive_snapshot;   // the latest snapshot followed by a window without dead layers
  double ema = 0.0, ema_min = INFINITY, ema_first = NAN;
  int64_t ema_n = 0;
  double lr_scale = 1.0, first_lr = NAN;
  int64_t rollbacks = 0;
  bool nonfinite_seen = false;
  std::string give_up;

  /// Writes a line to health.jsonl.
  void log(const nlohmann::json& j);
  /// Records a verdict; prints it the first time its key fires. `status` ranks the epoch.
  void fire(const std::string& key, Verdict v, int status);
  /// Evaluates the rules over the window and starts a new one; `may_roll_back` lets the guard
  /// answer units that died during training (false once the epoch's metrics are taken).
  void close_window(bool may_roll_back);

  // guard.cpp
  /// Copies the current state into the snapshot.
  void take_snapshot();
  /// Rolls back to `target` (Skip) or gives up (Stop) because of `reason`; `divergence` says
  /// whether the loss diverged (else units died).
  StepAction rollback(const std::string& reason, const Snapshot& target, bool divergence);
  /// Feeds the loss to the smoothed-loss tracker; returns a reason when it diverged ("" if not).
  std::string track_loss(double loss);
  /// Replays the batch with hooks and says which layer first produced a non-finite value.
  std::string locate_nonfinite(const Tensor& x, const Tensor& y);
};

/// Epoch status names by severity (index 0 = ok).
extern const char* const kStatus[];
/// Severity of a status name.
int status_rank(const std::string& status);

}  // namespace descent::diag
