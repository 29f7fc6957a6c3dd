// descent/optim.h — optimizers with PyTorch's update rules, state and parameter groups.
//
// An optimizer holds the parameters it updates, split into groups that each carry their own lr
// and weight decay, and per-parameter state (momentum buffers, moment estimates). `step()` reads
// each parameter's .grad() and updates it in place outside autograd, in one fused pass per
// parameter; `zero_grad()` clears the gradients. Parameters without a gradient are skipped (their
// state does not advance), as in torch. The lecture's full-batch gradient descent, single-sample
// SGD and minibatch SGD are all SGD: only the batch size differs.
//
// Formulas, per parameter p with gradient g, group lr η and group weight decay λ, at the
// parameter's t-th step (t = 1 on its first update). With maximize, every rule first sets g ← −g.
//
// SGD (torch.optim.SGD):
//   g ← g + λ·p
//   if momentum μ ≠ 0:  b ← g (t = 1),  b ← μ·b + (1 − dampening)·g (t > 1)
//                       g ← g + μ·b (nesterov)  or  g ← b
//   p ← p − η·g
// Adam (torch.optim.Adam; λ is L2 added to the gradient, "coupled"):
//   g ← g + λ·p
//   m ← β1·m + (1 − β1)·g               v ← β2·v + (1 − β2)·g²
//   v̂ ← max(v̂, v) with amsgrad, else v̂ = v
//   p ← p − (η / (1 − β1^t)) · m / (√v̂ / √(1 − β2^t) + ε)
// AdamW (torch.optim.AdamW; decoupled decay, Loshchilov & Hutter):
//   p ← p·(1 − η·λ), then Adam's rule with λ = 0
// RMSprop (torch.optim.RMSprop):
//   g ← g + λ·p
//   v ← α·v + (1 − α)·g²
//   centered:  a ← α·a + (1 − α)·g,  d ← √(v − a²) + ε;   else d ← √v + ε
//   momentum μ > 0:  b ← μ·b + g/d,  p ← p − η·b;         else p ← p − η·g/d
// Adagrad (torch.optim.Adagrad; s starts at initial_accumulator_value):
//   g ← g + λ·p
//   s ← s + g²
//   p ← p − (η / (1 + (t − 1)·lr_decay)) · g / (√s + ε)
//
// Parameter groups (torch's param_groups). Constructed from a plain tensor list an optimizer has
// one group that decays every parameter, as torch. `param_groups(model, ...)` — what
// make_optimizer uses — splits a model's named parameters by glob rules and, by default, puts
// biases and normalization parameters in groups without weight decay (see GroupingOptions).
// set_lr(lr) scales every group by the same factor relative to its initial lr, as torch's
// schedulers do with each group's initial_lr:  η_group = η_group,0 · lr / lr_0  (lr_0 = the
// optimizer's lr at construction; when lr_0 = 0 every group takes lr itself).
//
// In a config ([optimizer], read by make_optimizer; torch's argument names):
//
//   [optimizer]
//   type = "adamw"                   # sgd | adam | adamw | rmsprop | adagrad
//   lr = 1e-3
//   weight_decay = 0.05
//   no_decay = ["bias", "norm", "1d"]  # the default; [] decays every parameter
//   groups = ["0.*"]                 # globs on parameter names, one group each (first match wins)
//   group_lr = [1e-4]                # optional, one per glob
//   group_weight_decay = [0.1]       # optional, one per glob
//
//   descent::optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
//   descent::optim::AdamW opt2(descent::optim::param_groups(net, {.no_decay = {"bias", "norm"}}),
//                              {.lr = 1e-3, .weight_decay = 0.05});
//   opt.zero_grad(); loss.backward(); opt.step();
#pragma once
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/nn.h"
#include "descent/tensor.h"

namespace descent::optim {

/// Parameters sharing hyper-parameters; unset fields take the optimizer's options.
struct ParamGroup {
  std::vector<Tensor> params{};          ///< tensors updated with this group's settings
  std::optional<double> lr{};            ///< learning rate (unset: the optimizer's lr)
  std::optional<double> weight_decay{};  ///< weight decay (unset: the optimizer's weight_decay)
  std::vector<std::string> names{};      ///< parameter names for messages (empty or one per param)
};

/// A group as the optimizer runs it: a range of params() and its resolved hyper-parameters.
struct GroupState {
  size_t begin = 0;           ///< index of the group's first parameter in params()
  size_t end = 0;             ///< one past its last parameter
  double lr = 0.0;            ///< current learning rate
  double initial_lr = 0.0;    ///< learning rate at construction (what set_lr scales)
  double weight_decay = 0.0;  ///< weight decay of the group
};

/// Base of every optimizer.
class Optimizer {
 public:
  /// Resolves the groups against the optimizer-wide lr and weight decay; throws on a bad group.
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const std::string& who);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Applies one update from the current gradients.
  virtual void step() = 0;
  /// Name as in torch.optim ("SGD", "Adam", ...).
  virtual std::string type_name() const = 0;
  /// The optimizer-wide learning rate (what set_lr last set).
  double lr() const { return lr_; }
  /// Sets the learning rate, scaling every group by lr / (initial optimizer lr) (schedules call this).
  void set_lr(double lr);
  /// Momentum (SGD, RMSprop) or beta1 (Adam family), for cycling schedules; NaN when not applicable.
  virtual double momentum() const;
  /// Sets momentum / beta1; throws when the optimizer has none.
  virtual void set_momentum(double m);
  /// Clears every parameter's gradient.
  void zero_grad();
  /// The parameters updated, group after group.
  const std::vector<Tensor>& params() const { return params_; }
  /// The groups with their current lr and weight decay.
  const std::vector<GroupState>& groups() const { return groups_; }
  /// Steps taken so far.
  int64_t step_count() const { return steps_; }
  /// Per-parameter state tensors named "<param index>.<name>" (e.g. "0.momentum_buffer", "3.exp_avg").
  virtual nn::NamedTensors state() const { return {}; }
  /// Restores state() output (and the step count) exactly; throws on a name or shape mismatch.
  virtual void load_state(const nn::NamedTensors& state, int64_t steps);

 protected:
  std::vector<Tensor> params_;
  std::vector<GroupState> groups_;
  int64_t steps_ = 0;

 private:
  double lr_ = 0.0, initial_lr_ = 0.0;
};

// ---- SGD ------------------------------------------------------------------------------------

/// Options of SGD, as torch.optim.SGD.
struct SGDOptions {
  double lr = 0.01;            ///< learning rate
  double momentum = 0.0;       ///< momentum factor
  double dampening = 0.0;      ///< dampening of the momentum
  double weight_decay = 0.0;   ///< L2 penalty added to the gradient
  bool nesterov = false;       ///< Nesterov momentum (needs momentum > 0, dampening 0)
  bool maximize = false;       ///< ascend instead of descend
};

/// Stochastic gradient descent with momentum, Nesterov and weight decay.
class SGD : public Optimizer {
 public:
  /// One group holding every tensor.
  SGD(std::vector<Tensor> params, const SGDOptions& options = {});
  /// Parameter groups with their own lr / weight decay.
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options = {});
  void step() override;
  std::string type_name() const override { return "SGD"; }
  double momentum() const override { return opt_.momentum; }
  void set_momentum(double m) override;
  nn::NamedTensors state() const override;
  void load_state(const nn::NamedTensors& state, int64_t steps) override;
  /// The options in force (lr is the current optimizer-wide lr).
  SGDOptions options() const;

 private:
  SGDOptions opt_;
  std::vector<Tensor> momentum_buffer_;
};

// ---- Adam and AdamW -------------------------------------------------------------------------

/// Options of Adam, as torch.optim.Adam (weight decay is coupled L2).
struct AdamOptions {
  double lr = 1e-3;                            ///< learning rate
  std::array<double, 2> betas = {0.9, 0.999};  ///< decay of the first and second moment estimates
  double eps = 1e-8;                           ///< added to the denominator
  double weight_decay = 0.0;                   ///< L2 penalty added to the gradient
  bool amsgrad = false;                        ///< use the running maximum of the second moment
  bool maximize = false;                       ///< ascend instead of descend
};

/// Options of AdamW, as torch.optim.AdamW (weight decay is decoupled; torch's default 1e-2).
struct AdamWOptions {
  double lr = 1e-3;                            ///< learning rate
  std::array<double, 2> betas = {0.9, 0.999};  ///< decay of the first and second moment estimates
  double eps = 1e-8;                           ///< added to the denominator
  double weight_decay = 1e-2;                  ///< decoupled decay: p ← p·(1 − lr·weight_decay)
  bool amsgrad = false;                        ///< use the running maximum of the second moment
  bool maximize = false;                       ///< ascend instead of descend
};

/// Adam (Kingma & Ba) with bias correction; AdamW derives from it with decoupled decay.
class Adam : public Optimizer {
 public:
  /// One group holding every tensor.
  Adam(std::vector<Tensor> params, const AdamOptions& options = {});
  /// Parameter groups with their own lr / weight decay.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {});
  void step() override;
  std::string type_name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  /// beta1 (one-cycle schedules cycle it as momentum).
  double momentum() const override { return opt_.betas[0]; }
  void set_momentum(double beta1) override;
  nn::NamedTensors state() const override;
  void load_state(const nn::NamedTensors& state, int64_t steps) override;
  /// The options in force (lr is the current optimizer-wide lr).
  AdamOptions options() const;

 protected:
  /// For AdamW: the same state with decoupled weight decay.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled);

 private:
  AdamOptions opt_;
  bool decoupled_ = false;
  std::vector<int64_t> step_;  // per-parameter t, as torch's state["step"]
  std::vector<Tensor> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter).
class AdamW : public Adam {
 public:
  /// One group holding every tensor.
  AdamW(std::vector<Tensor> params, const AdamWOptions& options = {});
  /// Parameter groups with their own lr / weight decay.
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options = {});
};

// ---- RMSprop --------------------------------------------------------------------------------

/// Options of RMSprop, as torch.optim.RMSprop.
struct RMSpropOptions {
  double lr = 1e-2;            ///< learning rate
  double alpha = 0.99;         ///< smoothing constant of the squared-gradient average
  double eps = 1e-8;           ///< added to the denominator
  double weight_decay = 0.0;   ///< L2 penalty added to the gradient
  double momentum = 0.0;       ///< momentum factor
  bool centered = false;       ///< normalize by the estimated variance instead of the second moment
  bool maximize = false;       ///< ascend instead of descend
};

/// RMSprop (Hinton), optionally centered (Graves) and with momentum.
class RMSprop : public Optimizer {
 public:
  /// One group holding every tensor.
  RMSprop(std::vector<Tensor> params, const RMSpropOptions& options = {});
  /// Parameter groups with their own lr / weight decay.
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options = {});
  void step() override;
  std::string type_name() const override { return "RMSprop"; }
  double momentum() const override { return opt_.momentum; }
  void set_momentum(double m) override;
  nn::NamedTensors state() const override;
  void load_state(const nn::NamedTensors& state, int64_t steps) override;
  /// The options in force (lr is the current optimizer-wide lr).
  RMSpropOptions options() const;

 private:
  RMSpropOptions opt_;
  std::vector<int64_t> step_;
  std::vector<Tensor> square_avg_, momentum_buffer_, grad_avg_;
};

// ---- Adagrad --------------------------------------------------------------------------------

/// Options of Adagrad, as torch.optim.Adagrad.
struct AdagradOptions {
  double lr = 1e-2;                        ///< learning rate
  double lr_decay = 0.0;                   ///< lr / (1 + (t − 1)·lr_decay)
  double weight_decay = 0.0;               ///< L2 penalty added to the gradient
  double initial_accumulator_value = 0.0;  ///< starting value of the sum of squares
  double eps = 1e-10;                      ///< added to the denominator
  bool maximize = false;                   ///< ascend instead of descend
};

/// Adagrad (Duchi et al.).
class Adagrad : public Optimizer {
 public:
  /// One group holding every tensor.
  Adagrad(std::vector<Tensor> params, const AdagradOptions& options = {});
  /// Parameter groups with their own lr / weight decay.
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options = {});
  void step() override;
  std::string type_name() const override { return "Adagrad"; }
  nn::NamedTensors state() const override;
  void load_state(const nn::NamedTensors& state, int64_t steps) override;
  /// The options in force (lr is the current optimizer-wide lr).
  AdagradOptions options() const;

 private:
  AdagradOptions opt_;
  std::vector<int64_t> step_;
  std::vector<Tensor> sum_;  // allocated at construction, as torch
};

// ---- Groups from a model --------------------------------------------------------------------

/// A glob rule putting matching parameters in their own group.
struct GroupRule {
  std::string params;                    ///< glob on parameter names ('*' any run, '?' one char): "0.*"
  std::optional<double> lr{};            ///< group lr (unset: the optimizer's lr)
  std::optional<double> weight_decay{};  ///< group weight decay (unset: the optimizer's)
};

/// How param_groups splits a model's parameters.
///
/// `no_decay` selectors (a parameter matching any gets weight decay 0, whatever its group says):
///   "bias"  names ending in "bias";
///   "norm"  parameters of normalization layers (module type containing "Norm": BatchNorm2d, LayerNorm);
///   "1d"    parameters with at most one dimension (biases, norm scales, scalars);
///   other   a glob on the full parameter name ("0.weight", "*.gamma").
/// An empty list decays everything.
struct GroupingOptions {
  std::vector<std::string> no_decay = {"bias", "norm", "1d"};  ///< selectors of undecayed parameters
  std::vector<GroupRule> groups{};                             ///< rules in order; the first match wins
};

/// Groups of a model's parameters: one per rule (then one for the unmatched), each split into its
/// decayed part and its no_decay part (weight_decay 0); empty groups are dropped. Throws when a
/// rule matches no parameter or a no_decay selector is malformed.
std::vector<ParamGroup> param_groups(const nn::Module& model, const GroupingOptions& options = {});

/// Parameters of a model that no selector of `no_decay` matches (what L1/L2 penalties apply to).
std::vector<Tensor> decayed_parameters(const nn::Module& model, const std::vector<std::string>& no_decay);

/// True when `name` matches the glob `pattern` ('*' any run of characters, '?' one character).
bool glob_match(const std::string& pattern, const std::string& name);

/// Builds the [optimizer] section for a model. Keys (torch's names):
///   type = "sgd" | "adam" | "adamw" | "rmsprop" | "adagrad";  lr (required for sgd);  weight_decay;
///   maximize;  sgd: momentum, dampening, nesterov;  adam/adamw: betas = [b1, b2], eps, amsgrad;
///   rmsprop: alpha, eps, momentum, centered;  adagrad: lr_decay, initial_accumulator_value, eps;
///   no_decay = ["bias", "norm", "1d"] (GroupingOptions);  groups = ["0.*", ...] (globs, one
///   group each) with optional group_lr = [...] and group_weight_decay = [...], one number per glob
///   (nan: the optimizer-wide value). In TOML, torch's form `groups = [{ params = "0.*", lr = 0.01,
///   weight_decay = 0 }, ...]` is accepted too; load_config turns it into the flat form.
/// Unknown types, unknown keys and bad values throw descent::Error naming the field.
std::unique_ptr<Optimizer> make_optimizer(const Args& spec, const nn::Module& model);

}  // namespace descent::optim
