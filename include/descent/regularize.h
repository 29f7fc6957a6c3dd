// descent/regularize.h — gradient clipping, explicit L1/L2 penalties and early stopping.
//
// Weight decay itself lives in the optimizers (descent/optim.h): coupled L2 in the gradient for
// SGD/Adam/RMSprop/Adagrad, decoupled for AdamW. This header holds what acts around the step:
//
//   loss ← loss + l1·l1_penalty(P) + l2·l2_penalty(P)     P = decayed_parameters(model, exclude)
//   loss.backward()
//   ClipResult c = clip_gradients(params, reg);            non-finite norm: skip the step or throw
//   if (c.finite) opt.step();
//   ... after each validation:  if (stopper.step(val_loss, model)) break;
//   stopper.restore_best(model);
//
// Config ([regularization] and [early_stopping]; see parse_regularization / parse_early_stopping):
//
//   [regularization]
//   l1 = 0.0                     # coefficient of l1_penalty added to the loss
//   l2 = 0.0                     # coefficient of l2_penalty (Σ p², no ½) added to the loss
//   exclude = ["bias", "norm", "1d"]   # parameters without penalty; optim's no_decay selectors
//   clip_grad_norm = 0.0         # max global gradient norm; 0 = off
//   norm_type = 2.0              # p of that norm; "inf" for the largest |g|
//   clip_grad_value = 0.0        # max |gradient element|; 0 = off
//   nonfinite = "skip"           # a NaN/inf gradient norm: "skip" the step or "error"
//
//   [early_stopping]
//   metric = "val_loss"          # metrics.jsonl key watched after each validation
//   mode = "auto"                # "min", "max", or "auto": max for names ending in acc/accuracy
//   patience = 5                 # validations without improvement before stopping
//   min_delta = 0.0              # smallest change that counts as an improvement
//   restore_best = true          # put the best weights back into the model at the end
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "descent/config.h"
#include "descent/nn.h"
#include "descent/tensor.h"

namespace descent::optim {

// ---- Gradient clipping ----------------------------------------------------------------------

/// What to do when the gradient norm is NaN or infinite.
enum class NonFinite { Skip, Error };

/// Options of clip_grad_norm_.
struct ClipOptions {
  double norm_type = 2.0;                ///< p of the p-norm (> 0; infinity = max |g|)
  NonFinite nonfinite = NonFinite::Skip;  ///< Skip: leave the gradients untouched; Error: throw
};

/// The p-norm of all gradients taken together (as one vector); parameters without grad count 0.
double grad_norm(const std::vector<Tensor>& params, double norm_type = 2.0);

/// torch.nn.utils.clip_grad_norm_: scales every gradient by max_norm / (norm + 1e-6) when that is
/// below 1, and returns the norm before clipping. A non-finite norm is returned with the gradients
/// untouched (NonFinite::Skip: the caller skips the step) or throws descent::Error.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, const ClipOptions& options = {});

/// torch.nn.utils.clip_grad_value_: clamps every gradient element to [−clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

// ---- Penalties ------------------------------------------------------------------------------

/// Σ over params of Σ |p|, a differentiable 0-d tensor (gradient sign(p)); float32 0 for no params.
Tensor l1_penalty(const std::vector<Tensor>& params);
/// Σ over params of Σ p², a differentiable 0-d tensor (gradient 2p); l2·this ≙ weight decay 2·l2.
Tensor l2_penalty(const std::vector<Tensor>& params);

// ---- [regularization] -----------------------------------------------------------------------

/// The [regularization] section (keys documented at the top of this header).
struct RegularizationOptions {
  double l1 = 0.0;                                          ///< coefficient of l1_penalty
  double l2 = 0.0;                                          ///< coefficient of l2_penalty
  std::vector<std::string> exclude = {"bias", "norm", "1d"};  ///< selectors of unpenalized params
  double clip_grad_norm = 0.0;                              ///< max global norm; 0 = off
  double norm_type = 2.0;                                   ///< p of the clipping norm
  double clip_grad_value = 0.0;                             ///< max |element|; 0 = off
  NonFinite nonfinite = NonFinite::Skip;                    ///< policy for a non-finite gradient norm
};

/// Reads [regularization] (an empty Args gives the defaults) and calls finish(); throws on bad values.
RegularizationOptions parse_regularization(const Args& section);

/// What clip_gradients found.
struct ClipResult {
  double grad_norm = 0.0;  ///< gradient norm (norm_type) before any clipping
  bool finite = true;      ///< false: the gradients hold NaN/inf and were left untouched; skip the step
};

/// The step-time part of [regularization]: measures the gradient norm, applies the non-finite
/// policy, then clips by value and by global norm when those are on.
ClipResult clip_gradients(const std::vector<Tensor>& params, const RegularizationOptions& options);

// ---- Early stopping -------------------------------------------------------------------------

/// Direction in which the watched metric improves.
enum class StopMode { Min, Max };

/// The [early_stopping] section.
struct EarlyStoppingOptions {
  std::string metric = "val_loss";  ///< metric watched (a metrics.jsonl key)
  StopMode mode = StopMode::Min;    ///< improvement direction
  int64_t patience = 5;             ///< evaluations without improvement before stopping (>= 1)
  double min_delta = 0.0;           ///< an improvement must beat the best by more than this (>= 0)
  bool restore_best = true;         ///< keep a copy of the best weights to restore at the end
};

/// Reads [early_stopping] and calls finish(); "auto" mode picks Max for metrics ending in
/// "acc"/"accuracy", Min otherwise. Throws on bad values.
EarlyStoppingOptions parse_early_stopping(const Args& section);

/// Stops training when a validation metric has not improved for `patience` evaluations, and keeps
/// the weights of the best evaluation (state_dict copies, buffers included).
class EarlyStopping {
 public:
  /// Checks the options; throws descent::Error on a bad value.
  explicit EarlyStopping(const EarlyStoppingOptions& options = {});
  /// Records one evaluation's metric (NaN never improves); returns true when training should stop.
  bool step(double value, const nn::Module& model);
  /// True once patience ran out.
  bool should_stop() const { return stopped_; }
  /// True when the last step() improved on the best.
  bool improved() const { return improved_; }
  /// Best metric so far (±inf before the first finite value).
  double best() const { return best_; }
  /// 0-based index of the evaluation that gave best() (−1 before any).
  int64_t best_index() const { return best_index_; }
  /// Evaluations seen.
  int64_t evaluations() const { return evaluations_; }
  /// Evaluations since the best one.
  int64_t wait() const { return wait_; }
  /// Copies the best weights into the model in place; false when there is no copy. Throws when the
  /// model's names or shapes differ from the copy's.
  bool restore_best(nn::Module& model) const;
  /// The copy of the best weights (empty when restore_best is off or nothing improved yet).
  const nn::NamedTensors& best_state() const { return best_state_; }
  /// Replaces that copy (when resuming from a checkpoint).
  void set_best_state(nn::NamedTensors state) { best_state_ = std::move(state); }
  /// The counters as a JSON object (best is null while infinite) for checkpoints.
  std::string state_json() const;
  /// Restores state_json() output; throws descent::Error on malformed JSON or missing fields.
  void load_state_json(const std::string& json);
  /// The options in force.
  const EarlyStoppingOptions& options() const { return opt_; }

 private:
  EarlyStoppingOptions opt_;
  double best_;
  int64_t best_index_ = -1, evaluations_ = 0, wait_ = 0;
  bool improved_ = false, stopped_ = false;
  nn::NamedTensors best_state_;
};

}  // namespace descent::optim
