// descent/sched.h — learning-rate schedules that compose: warm-up → main schedule, with
// reduce-on-plateau as a multiplier on top of whatever the chain gives.
//
// Each schedule is a pure function of its counter t and the base lr, with the formulas of
// PyTorch's torch.optim.lr_scheduler (written below in closed form; PyTorch steps most of them
// recursively, and the two agree to a few 1e-15 relative — tests/data/sched_reference.json holds
// PyTorch's own values). A Schedule chains them:
//
//   lr(step) = chain(t) · m
//   chain(t) = warmup(t)     for t <  W, W = warmup.total_iters
//            = main(t − W)   for t >= W   (PyTorch SequentialLR: main's counter starts at 0
//                                          when the warm-up ends, so main(0) = base lr)
//   t        = step                        (Granularity::Step)
//            = step / steps_per_epoch      (Granularity::Epoch, integer division)
//   m        = product of reduce-on-plateau's cuts, 1 until the first cut
//
// `step` counts optimizer steps; step 0 is the lr of the first optimizer step. Without a main
// schedule the chain stays at the base lr after the warm-up (ConstantLR{}).
//
//   using namespace descent::sched;
//   Schedule s({.warmup = LinearLR{.start_factor = 0.1, .total_iters = 500},
//               .main = CosineAnnealingLR{.eta_min = 1e-5},       // T_max 0 = rest of the run
//               .plateau = ReduceLROnPlateau{.factor = 0.5, .patience = 2}},
//              /*base_lr=*/0.1, {.steps_per_epoch = 469, .epochs = 20});
//   for (int epoch = 0; epoch < 20; ++epoch) {
//     for (auto& batch : loader) {
//       opt.set_lr(s.lr());                               // every param group scales with it
//       if (auto m = s.momentum()) opt.set_momentum(*m);  // only a one-cycle cycles momentum
//       train_step(batch);
//       s.step();
//     }
//     s.end_epoch(validation_loss);                       // feeds the plateau rule, if any
//   }
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace descent::sched {

/// What the schedule counter t counts: optimizer steps (batches) or whole epochs.
enum class Granularity { Step, Epoch };
/// One-cycle's annealing shape: "cos" or "linear" in the config.
enum class Anneal { Cos, Linear };
/// Reduce-on-plateau direction: cut when the metric stops decreasing (Min) or increasing (Max).
enum class PlateauMode { Min, Max };
/// How reduce-on-plateau measures an improvement: relative to the best value, or absolute.
enum class ThresholdMode { Rel, Abs };

// ---- The schedules: options (PyTorch's argument names, snake_case) and their formulas. ----
// Defaults are PyTorch's, except where noted. b = base lr, t = the schedule's own counter.

/// ConstantLR: b·factor for t < total_iters, then b. Defaults give a constant b (PyTorch: 1/3, 5).
struct ConstantLR {
  double factor = 1.0;          ///< multiplier before total_iters, in [0, 1]
  std::int64_t total_iters = 0;  ///< t at which the lr returns to b
};

/// StepLR: b·gamma^⌊t / step_size⌋.
struct StepLR {
  std::int64_t step_size = 0;  ///< period of the decay, >= 1 (required)
  double gamma = 0.1;          ///< decay factor, > 0
};

/// MultiStepLR: b·gamma^(number of milestones <= t); a repeated milestone counts twice.
struct MultiStepLR {
  std::vector<std::int64_t> milestones{};  ///< non-decreasing, >= 0, at least one (required)
  double gamma = 0.1;                    ///< decay factor, > 0
};

/// ExponentialLR: b·gamma^t.
struct ExponentialLR {
  double gamma = 0.0;  ///< decay factor per t, > 0 (required)
};

/// PolynomialLR: b·(1 − min(t, total_iters)/total_iters)^power.
struct PolynomialLR {
  std::int64_t total_iters = 5;  ///< t at which the lr reaches 0, >= 1
  double power = 1.0;            ///< exponent, >= 0
};

/// LinearLR: b·(start_factor + (end_factor − start_factor)·min(t, total_iters)/total_iters).
/// As warm-up it ramps up to b; as main schedule (start 1, end 0) it is a linear decay.
struct LinearLR {
  double start_factor = 1.0 / 3.0;  ///< factor at t = 0, in [0, 1]
  double end_factor = 1.0;          ///< factor from t = total_iters on, in [0, 1]
  std::int64_t total_iters = 5;     ///< length of the ramp, >= 1
};

/// CosineAnnealingLR: eta_min + (b − eta_min)·(1 + cos(π·t/T_max))/2. Like PyTorch the cosine
/// goes on past T_max (back up to b at 2·T_max); keep T_max = the run length.
struct CosineAnnealingLR {
  std::int64_t t_max = 0;  ///< T_max, half period; 0 = the rest of the run after the warm-up
  double eta_min = 0.0;    ///< lowest lr, >= 0
};

/// CosineAnnealingWarmRestarts (SGDR): eta_min + (b − eta_min)·(1 + cos(π·T_cur/T_i))/2, where
/// T_i = T_0·T_mult^i is the length of the current cycle and T_cur = t − (start of that cycle).
struct CosineAnnealingWarmRestarts {
  std::int64_t t_0 = 0;     ///< T_0, length of the first cycle, >= 1 (required)
  std::int64_t t_mult = 1;  ///< T_mult, growth of each next cycle, >= 1
  double eta_min = 0.0;     ///< lowest lr, >= 0
};

/// OneCycleLR (two phases, fastai style). With m = max_lr, i = m/div_factor,
/// f = i/final_div_factor, e1 = pct_start·total_steps − 1, e2 = total_steps − 1:
///   t <= e1: anneal(i, m, t/e1);   else anneal(m, f, (t − e1)/(e2 − e1))
/// with anneal(a, z, p) = z + (a − z)·(1 + cos(π·p))/2 ("cos") or a + (z − a)·p ("linear").
/// Momentum (SGD momentum / Adam beta1) runs inversely: max_momentum → base_momentum in phase 1,
/// base_momentum → max_momentum in phase 2. Past total_steps the last value holds (PyTorch throws).
struct OneCycleLR {
  std::optional<double> max_lr{};   ///< peak lr; unset = the base lr (PyTorch: required)
  std::int64_t total_steps = 0;     ///< length of the cycle; 0 = the rest of the run
  double pct_start = 0.3;           ///< fraction of the cycle spent rising, in [0, 1]
  Anneal anneal_strategy = Anneal::Cos;  ///< shape of both phases
  bool cycle_momentum = true;       ///< whether momentum() cycles inversely to the lr
  double base_momentum = 0.85;      ///< momentum at the lr peak, in [0, 1]
  double max_momentum = 0.95;       ///< momentum at the start and the end, in [0, 1]
  double div_factor = 25.0;         ///< initial lr = max_lr / div_factor, > 0
  double final_div_factor = 1e4;    ///< final lr = initial lr / final_div_factor, > 0
};

/// ReduceLROnPlateau: after each epoch, if the metric has not improved on the best value for
/// more than `patience` epochs, cut the multiplier m so that lr becomes max(lr·factor, min_lr);
/// a cut smaller than eps is skipped; `cooldown` epochs after a cut count no bad epochs.
/// Improvement (mode/threshold_mode): min/rel a < best·(1 − threshold), min/abs a < best − threshold,
/// max/rel a > best·(1 + threshold), max/abs a > best + threshold. min_lr bounds the cut at the
/// lr of that moment; it is not a floor for the chain (a cosine still decays below it).
struct ReduceLROnPlateau {
  std::string metric = "val_loss";             ///< which metric the trainer feeds to end_epoch()
  PlateauMode mode = PlateauMode::Min;         ///< Min: lower is better; Max: higher is better
  double factor = 0.1;                         ///< cut factor, in (0, 1)
  std::int64_t patience = 10;                  ///< bad epochs tolerated before a cut, >= 0
  double threshold = 1e-4;                     ///< least improvement that counts, >= 0
  ThresholdMode threshold_mode = ThresholdMode::Rel;  ///< Rel: relative to best; Abs: absolute
  std::int64_t cooldown = 0;                   ///< epochs after a cut that count no bad epochs
  double min_lr = 0.0;                         ///< lowest lr a cut may reach, >= 0
  double eps = 1e-8;                           ///< cuts smaller than this are skipped, >= 0
};

/// The main schedule, one of the families above (LinearLR serves as linear decay).
using MainSchedule = std::variant<ConstantLR, StepLR, MultiStepLR, ExponentialLR, PolynomialLR,
                                  LinearLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
                                  OneCycleLR>;

/// lr of ConstantLR at counter t for base lr b.
double lr(const ConstantLR& s, std::int64_t t, double b);
/// lr of StepLR at counter t for base lr b.
double lr(const StepLR& s, std::int64_t t, double b);
/// lr of MultiStepLR at counter t for base lr b.
double lr(const MultiStepLR& s, std::int64_t t, double b);
/// lr of ExponentialLR at counter t for base lr b.
double lr(const ExponentialLR& s, std::int64_t t, double b);
/// lr of PolynomialLR at counter t for base lr b.
double lr(const PolynomialLR& s, std::int64_t t, double b);
/// lr of LinearLR at counter t for base lr b.
double lr(const LinearLR& s, std::int64_t t, double b);
/// lr of CosineAnnealingLR at counter t for base lr b (t_max must be resolved, >= 1).
double lr(const CosineAnnealingLR& s, std::int64_t t, double b);
/// lr of CosineAnnealingWarmRestarts at counter t for base lr b.
double lr(const CosineAnnealingWarmRestarts& s, std::int64_t t, double b);
/// lr of OneCycleLR at counter t; b is the peak when max_lr is unset (total_steps must be >= 1).
double lr(const OneCycleLR& s, std::int64_t t, double b);
/// lr of whichever main schedule `s` holds.
double lr(const MainSchedule& s, std::int64_t t, double b);
/// One-cycle's momentum (or Adam beta1) at counter t.
double momentum(const OneCycleLR& s, std::int64_t t);

/// Reduce-on-plateau's state between epochs (PyTorch's best, num_bad_epochs, cooldown_counter),
/// plus the multiplier m its cuts have built up.
struct PlateauState {
  double best = 0.0;                  ///< best metric so far; ±inf before the first epoch
  std::int64_t num_bad_epochs = 0;    ///< epochs since the last improvement (or cut)
  std::int64_t cooldown_counter = 0;  ///< cooldown epochs left
  double multiplier = 1.0;            ///< product of the cuts so far
};
/// The state of a plateau rule before its first epoch (best = +inf for Min, −inf for Max).
PlateauState initial_plateau_state(const ReduceLROnPlateau& p);
/// Feeds one epoch's metric (PyTorch ReduceLROnPlateau.step); chain_lr is the chain's lr at the
/// moment, so the lr being cut is chain_lr·multiplier. Returns true when it cut.
bool plateau_step(const ReduceLROnPlateau& p, PlateauState& state, double metric, double chain_lr);

// ---- Composition ----

/// A composed schedule: optional warm-up → optional main, optional plateau multiplier on top.
struct ScheduleSpec {
  std::optional<LinearLR> warmup{};            ///< ramp for the first warmup->total_iters of t
  std::optional<MainSchedule> main{};          ///< after the warm-up; unset = constant base lr
  std::optional<ReduceLROnPlateau> plateau{};  ///< multiplier fed by end_epoch()
  Granularity granularity = Granularity::Step;  ///< what t counts
};

// In a config file (each part optional; parts may also be [schedule.warmup] etc. tables):
//
//   [schedule]
//   granularity = "step"                                  # or "epoch"; default "step"
//   warmup  = { start_factor = 0.1, total_iters = 500 }   # LinearLR; end_factor optional
//   main    = { type = "cosine", eta_min = 1e-5 }         # T_max omitted = rest of the run
//   plateau = { metric = "val_loss", factor = 0.5, patience = 3 }
//
// Main types and their keys (PyTorch's argument names; defaults as in the structs above):
//   constant              factor, total_iters
//   step                  step_size (required), gamma
//   multistep             milestones (required), gamma
//   exponential           gamma (required)
//   polynomial            total_iters, power
//   linear                start_factor, end_factor, total_iters
//   cosine                T_max, eta_min
//   cosine_warm_restarts  T_0 (required), T_mult, eta_min
//   one_cycle             max_lr, total_steps, pct_start, anneal_strategy ("cos" | "linear"),
//                         cycle_momentum, base_momentum, max_momentum, div_factor, final_div_factor
// warmup: start_factor, end_factor, total_iters (required).
// plateau: metric, mode ("min" | "max"), factor, patience, threshold, threshold_mode
//          ("rel" | "abs"), cooldown, min_lr, eps.
// Float keys accept integers. An unknown key, a wrong type, a missing required key or a value out
// of range is a descent::Error of one line:
//   config.toml: [schedule.main] unknown key 'gama' (did you mean 'gamma'?)

/// Parses the body of a config's [schedule] table given as TOML text (Config::schedule_toml;
/// "" gives the default spec: constant lr, per step).
ScheduleSpec parse_schedule_spec(const std::string& schedule_toml, const std::string& where);

/// The run a schedule is laid over; resolves T_max / total_steps left at 0 ("the rest of the run").
struct RunLength {
  std::int64_t steps_per_epoch = 1;  ///< optimizer steps per epoch as the trainer takes them, >= 1
  std::int64_t epochs = 0;           ///< epochs of the run; 0 = unknown
};

/// Everything that changes while a Schedule runs; what a checkpoint stores.
struct ScheduleState {
  std::int64_t step = 0;   ///< optimizer steps taken so far
  PlateauState plateau{};  ///< plateau rule's state (multiplier 1 without a plateau)
  double last_lr = 0.0;    ///< lr for the next optimizer step (PyTorch's get_last_lr()), informative
};

/// A running composed schedule: call step() after every optimizer step and end_epoch() after
/// every epoch; lr() is the lr for the next optimizer step.
class Schedule {
 public:
  /// Checks the spec (descent::Error naming the field) and resolves T_max/total_steps/max_lr.
  Schedule(ScheduleSpec spec, double base_lr, RunLength run = {});

  /// lr of optimizer step `step` under the current plateau multiplier.
  double lr(std::int64_t step) const;
  /// lr for the next optimizer step, lr(state().step).
  double lr() const;
  /// Momentum / beta1 of optimizer step `step` when one-cycle cycles it, else nullopt.
  std::optional<double> momentum(std::int64_t step) const;
  /// Momentum / beta1 for the next optimizer step, momentum(state().step).
  std::optional<double> momentum() const { return momentum(state_.step); }
  /// Whether momentum() has values (the main schedule is a one-cycle with cycle_momentum).
  bool cycles_momentum() const;

  /// Advances by one optimizer step (call after the optimizer's step).
  void step();
  /// Feeds the epoch's plateau metric (no-op without a plateau); returns true when it cut the lr.
  bool end_epoch(double metric);

  /// The spec with T_max, total_steps and max_lr resolved (and main = ConstantLR{} when unset).
  const ScheduleSpec& spec() const { return spec_; }
  /// The base lr the schedule scales.
  double base_lr() const { return base_lr_; }
  /// Optimizer steps in the run (steps_per_epoch · epochs), 0 when unknown.
  std::int64_t run_steps() const { return run_.steps_per_epoch * run_.epochs; }
  /// The current state.
  const ScheduleState& state() const { return state_; }
  /// The state as JSON text; every double round-trips bit for bit.
  std::string save_state() const;
  /// Restores a state written by save_state(); descent::Error on damaged or foreign text.
  void load_state(const std::string& json_text);

 private:
  double chain_lr(std::int64_t step) const;
  std::int64_t counter(std::int64_t step) const;

  ScheduleSpec spec_;
  double base_lr_;
  RunLength run_;
  std::int64_t warmup_iters_ = 0;
  ScheduleState state_;
};

// ---- Looking at a schedule without training (`descent schedule`) ----

/// A schedule's lr (and cycled momentum) for steps 0..n−1.
struct Trace {
  std::vector<double> lr{};        ///< lr of each optimizer step
  std::vector<double> momentum{};  ///< empty unless momentum is cycled
};
/// Evaluates `s` for optimizer steps 0..steps−1 with its current plateau multiplier.
Trace trace(const Schedule& s, std::int64_t steps);
/// CSV text: header `step,lr` (plus `,momentum` when cycled), one row per step, exact doubles.
std::string schedule_csv(const Trace& t);
/// Self-contained SVG line plot of lr per step (momentum on a right axis when given).
std::string schedule_svg(const std::vector<double>& lr, const std::vector<double>* momentum);

}  // namespace descent::sched
