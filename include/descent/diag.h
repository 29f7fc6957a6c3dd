// descent/diag.h — "check the gradient!": tools that say why a network does not learn.
//
// Four tools, each usable from C++ and behind a `descent` subcommand:
//
// 1. check_module_gradients (`descent gradcheck`): backprop against central differences in
//    float64 for every parameter tensor of a module and for its input, on a real batch and the
//    real loss. Large tensors are checked on a sample of elements. An element whose finite
//    difference straddles a kink (ReLU at 0, a max-pool tie, abs) is detected by its one-sided
//    differences disagreeing, also at a 10x smaller step, skipped and counted, so a ReLU network
//    does not fail spuriously (a kink merely near the point is checked at the smaller step).
// 2. init_check (`descent init-check`): the lecture's initialization experiment on the user's own
//    network — per-layer activation statistics and histograms for one batch, one verdict per init.
// 3. TrainingHealth (on by default in the Trainer, `[health]` section): every `every` steps it
//    measures per layer the dead-ReLU and saturated fractions, activation std, gradient norm and
//    update/weight ratio, and fires verdicts with advice (printed once, kept for the report). Every
//    step it checks the loss and the gradients for NaN/Inf and names the layer that produced one;
//    its divergence guard rolls back to the last good in-memory state and halves the lr.
// 4. write_report (`descent report`): one self-contained report.html of a run folder.
//
// [health] keys (all optional; see docs/CONFIG.md):
//   enabled = true            monitor on/off (the non-finite check and the guard stay on)
//   every = 20                monitor every N optimizer steps
//   window = 5                monitored steps per window; a unit is dead when it is zero on every
//                             sample of a window; windows also close at the end of an epoch
//   dead_threshold = 0.7      fraction of dead ReLU units that fires "dead"
//   saturated_threshold = 0.5 fraction of saturated units (|tanh| > 0.99, sigmoid outside
//                             [0.01, 0.99]) that fires "saturated"
//   update_ratio_max = 0.1    ‖Δw‖/‖w‖ above this fires "learning rate too high" (healthy ≈ 1e-3)
//   vanishing_ratio = 1e-3    first/last layer gradient-norm ratio below this fires "vanishing"
//   exploding_ratio = 1e3     ... above this fires "exploding"
//   histogram_bins = 30       bins of the activation histograms kept for the report
//   guard = true              divergence guard on/off
//   guard_factor = 4.0        diverged when the smoothed loss exceeds this × its running minimum
//                             (and rose by more than half its first value)
//   guard_on_dead = true      also roll back when a ReLU layer that was alive dies (a too-high lr
//                             kills units without raising the loss much)
//   guard_lr_factor = 0.5     lr multiplier applied at each rollback
//   guard_retries = 5         rollbacks allowed in a run; one more divergence gives up
//   snapshot_every = 50       steps between in-memory snapshots of the last good state
//
//   descent::diag::ModuleGradcheckResult r =
//       descent::diag::check_module_gradients(net, x, labels, *loss, {.samples = 200});
//   std::cout << descent::diag::gradcheck_table(r);      // r.ok == false names the faulty layer
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "descent/config.h"
#include "descent/loss.h"
#include "descent/nn.h"
#include "descent/optim.h"
#include "descent/tensor.h"

namespace descent::diag {

// ---- 1. gradient check of a module -----------------------------------------------------------

/// Options of check_module_gradients (tolerances are the project's gradcheck defaults).
struct ModuleGradcheckOptions {
  int64_t samples = 10000;  ///< elements checked per tensor (every element of smaller tensors), > 0
  double eps = 1e-6;        ///< central-difference step
  double atol = 1e-5;       ///< an element passes when |analytic − numeric| <= atol + rtol·|numeric|
  double rtol = 1e-3;       ///< relative tolerance
  uint64_t seed = 0;        ///< seed of the element sample
  bool check_input = true;  ///< also check the gradient with respect to the input batch
  /// Uniform noise in [-jitter, jitter] added to the input before the check (0: none). An image's
  /// constant background makes conv outputs equal, so max-pool windows tie and ReLUs sit at 0 —
  /// many kinks at once, where backprop legitimately returns one of several generalized gradients
  /// and no finite difference can tell; a jitter of 1e-4 moves the point off them.
  double jitter = 0.0;
};

/// The check of one parameter tensor (or of the input).
struct TensorCheck {
  std::string name{};           ///< parameter name as in state_dict ("2.weight") or "input"
  std::string layer{};          ///< "layer 2 (linear)" or "input"
  Shape shape{};                ///< tensor shape
  int64_t checked = 0;          ///< elements compared
  int64_t skipped_kinks = 0;    ///< elements skipped because the difference straddled a kink
  int64_t failed = 0;           ///< elements outside tolerance
  double max_abs_err = 0.0;     ///< max |analytic − numeric| over compared elements
  double max_rel_err = 0.0;     ///< max |analytic − numeric| / max(|analytic|, |numeric|) (where > atol)
  int64_t worst_index = -1;     ///< flat index of the first failing element (−1: none)
  double worst_numeric = 0.0;   ///< central difference there
  double worst_analytic = 0.0;  ///< backprop value there
  bool pass = true;             ///< no element failed
};

/// Outcome of check_module_gradients.
struct ModuleGradcheckResult {
  std::vector<TensorCheck> tensors;  ///< one row per parameter tensor, then the input
  bool ok = true;                    ///< every row passed
  double loss = 0.0;                 ///< loss of the batch at the checked point
  /// One line naming the first failing layer, tensor and element ("" when ok).
  std::string first_failure() const;
};

/// Checks backprop of `loss(module(input), target)` against central differences for every
/// parameter and the input. Parameters must be float64 (build the model with dtype float64 or call
/// module.to(DType::F64) first); a float input/target is converted. Buffers (batch-norm statistics)
/// and dropout generators are restored, so every evaluation sees the same function and the module
/// is left as it was; a Sequential is re-run only from the perturbed layer on.
ModuleGradcheckResult check_module_gradients(nn::Module& module, const Tensor& input, const Tensor& target,
                                             const loss::Loss& loss, const ModuleGradcheckOptions& options = {});
/// The per-tensor table: tensor, layer, shape, checked, kinks, max abs/rel error, PASS/FAIL.
std::string gradcheck_table(const ModuleGradcheckResult& result);

// ---- 2. initialization check -----------------------------------------------------------------

/// Statistics of one layer's output for one batch.
struct LayerActivation {
  int64_t layer = 0;           ///< index in the Sequential
  std::string type;            ///< lower-case type ("linear", "tanh", ...)
  double mean = 0.0;           ///< mean of the output
  double std = 0.0;            ///< standard deviation of the output
  double saturated = 0.0;      ///< fraction saturated (tanh/sigmoid; NaN for other types)
  double zero_frac = 0.0;      ///< fraction of outputs exactly 0 (dead ReLU outputs)
  double grad_std = 0.0;       ///< std of ∂loss/∂output after one backward
  double lo = 0.0, hi = 0.0;   ///< histogram range
  std::vector<int64_t> counts; ///< histogram of the output over [lo, hi]
};

/// One initialization's measurement and verdict.
struct InitCheckResult {
  std::string init;                     ///< name as given ("xavier_uniform", "normal(0.01)")
  std::vector<LayerActivation> layers;  ///< every layer of the model, in order
  std::string verdict;                  ///< healthy | vanishing | exploding | saturated | dead
  std::string reason;                   ///< one line with the numbers behind the verdict
};

/// Options of init_check.
struct InitCheckOptions {
  int64_t bins = 40;                 ///< histogram bins
  double saturated_threshold = 0.5;  ///< "saturated" when a tanh/sigmoid layer has this fraction saturated
  double dead_threshold = 0.7;       ///< "dead" when a ReLU layer has this fraction of units zero on the whole batch
  double depth_ratio = 10.0;         ///< "vanishing"/"exploding" when the activation std changes by more than this
};

/// Pushes one batch through `model` (as initialized by the caller), backpropagates the loss once,
/// and measures every layer; `init` labels the result.
InitCheckResult init_check(nn::Sequential& model, const Tensor& x, const Tensor& y, const loss::Loss& loss,
                           const std::string& init, const InitCheckOptions& options = {});
/// JSON list of objects with keys init, layer, type, mean, std, saturated, zero_frac, grad_std.
std::string init_check_json(const std::vector<InitCheckResult>& results);
/// Self-contained HTML: one row of activation histograms per init, one column per activation layer.
std::string init_check_html(const std::vector<InitCheckResult>& results, const std::string& title);

// ---- 3. training health --------------------------------------------------------------------

/// The [health] section (see the key list at the top of this header).
struct HealthOptions {
  bool enabled = true;               ///< per-layer monitor on
  int64_t every = 20;                ///< monitor every N steps, >= 1
  int64_t window = 5;                ///< monitored steps per window, >= 1
  double dead_threshold = 0.7;       ///< dead ReLU fraction that fires
  double saturated_threshold = 0.5;  ///< saturated fraction that fires
  double update_ratio_max = 0.1;     ///< update/weight ratio that fires
  double vanishing_ratio = 1e-3;     ///< first/last gradient-norm ratio below this fires
  double exploding_ratio = 1e3;      ///< first/last gradient-norm ratio above this fires
  int64_t histogram_bins = 30;       ///< histogram bins
  bool guard = true;                 ///< divergence guard on
  bool guard_on_dead = true;         ///< the guard also rolls back when ReLU layers die during training
  double guard_factor = 4.0;         ///< smoothed loss / running minimum that counts as divergence
  double guard_lr_factor = 0.5;      ///< lr multiplier per rollback, in (0, 1)
  int64_t guard_retries = 5;         ///< rollbacks allowed per run
  int64_t snapshot_every = 50;       ///< steps between snapshots of the last good state
};

/// Reads the [health] keys from `section` with its typed getters; throws naming the key on a bad
/// value. The caller runs section.finish() (unknown keys are errors).
HealthOptions parse_health_options(const Args& section);

/// What the training loop does after a backward pass.
enum class StepAction { Update, Skip, Stop, Count };

/// A verdict of the monitor, kept for the report.
struct Verdict {
  std::string rule{};   ///< dead | saturated | zero_gradient | vanishing | exploding | update_ratio |
                        ///< nonfinite | divergence (the guard rolled back) | diverged (it gave up)
  int64_t layer = -1;   ///< layer index (−1: the whole network)
  int64_t step = 0;     ///< step at which it first fired
  int64_t epoch = 0;    ///< epoch at which it first fired
  double value = 0.0;   ///< the measured number behind it
  std::string message{};  ///< the line printed, with advice
};

/// The monitor, non-finite detector and divergence guard of one training run. The Trainer drives
/// it; a hand-written loop calls, per step: begin_step, forward/loss/backward, after_backward
/// (Update: step the optimizer then call after_update; Skip: the state was rolled back, take the
/// next batch; Stop: the guard gave up, see give_up_message()).
class TrainingHealth {
 public:
  /// Watches `model` trained by `optimizer` on `loss`; all three must outlive this object.
  TrainingHealth(nn::Sequential& model, optim::Optimizer& optimizer, const loss::Loss& loss,
                 const HealthOptions& options = {});
  ~TrainingHealth();
  TrainingHealth(const TrainingHealth&) = delete;
  TrainingHealth& operator=(const TrainingHealth&) = delete;

  /// Starts a run: health.jsonl goes to run_dir ("" = no file); `print` shows verdicts as they fire.
  void start(const std::string& run_dir, std::function<void(const std::string&)> print);
  /// Before the forward pass of step `step` (1-based) in `epoch` (1-based).
  void begin_step(int64_t step, int64_t epoch);
  /// After backward, before the optimizer step: checks loss and gradients, runs the guard.
  StepAction after_backward(double loss, const Tensor& x, const Tensor& y);
  /// After the optimizer step.
  void after_update();
  /// Closes epoch `epoch`: JSON object text with "health" — the most severe status of its verdicts:
  /// ok | unstable (update ratio) | vanishing | exploding | saturated | dead (dead units, zero
  /// gradient) | diverged (the guard gave up, or NaN/Inf with the guard off) — and "guard_events"
  /// (this epoch's rollbacks), for the metrics.jsonl line (`descent tune` prunes on dead/diverged).
  std::string end_epoch(int64_t epoch);
  /// Ends the run: writes the final histograms to health.jsonl.
  void finish();
  /// Multiplier the guard applied to the lr (a schedule's lr is multiplied by it).
  double lr_scale() const;
  /// Verdicts fired so far, in order.
  const std::vector<Verdict>& verdicts() const;
  /// Rollbacks so far.
  int64_t rollbacks() const;
  /// The message of the guard giving up ("" while it has not).
  const std::string& give_up_message() const;
  /// What a checkpoint keeps (smoothed loss, rollbacks, lr scale, open window, verdicts, the guard's
  /// snapshots' step and loss), as JSON; the snapshots' tensors come from state_tensors().
  std::string save_state() const;
  /// The guard's snapshots (weights, buffers, optimizer state), each stored once.
  nn::NamedTensors state_tensors() const;
  /// Restores save_state() and state_tensors() output after start() when a run resumes. Throws
  /// descent::Error on malformed or incomplete state.
  void load_state(const std::string& state, const nn::NamedTensors& tensors);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- 4. the run report -----------------------------------------------------------------------

/// Writes run_dir/report.html (or `out` when given) from the run folder's config.toml,
/// manifest.json, metrics.jsonl, steps.jsonl and health.jsonl; returns the path written. Throws
/// descent::Error when run_dir holds no run.
std::string write_report(const std::string& run_dir, const std::string& out = "");

}  // namespace descent::diag
