// descent/hpo.h — hyper-parameter search with early pruning (`descent tune`).
//
// A study samples parameter sets from a search space, runs each as a trial (a separate process,
// by default `descent train BASE --set key=value ... --out TRIAL_DIR`), follows the trial's
// metrics.jsonl epoch by epoch and stops trials that a pruner judges hopeless, whose loss is not
// finite, or whose health monitor says "dead"/"diverged". Trials, parameters and intermediate
// values live in SQLite (OUT/study.db), so a study can be resumed after a crash.
//
// This subsystem knows nothing of tensors: a trial is a command line and a stream of numbers.
// Samplers and pruners are plain objects that can be driven without any process:
//
//   namespace hpo = descent::hpo;
//   hpo::SearchSpace space{.params = {{.name = "x", .kind = hpo::ParamKind::Uniform,
//                                      .low = -5, .high = 5}}};
//   hpo::TpeSampler sampler({.seed = 1});
//   std::vector<hpo::Trial> trials;
//   for (int n = 0; n < 30; ++n) {
//     hpo::Trial t{.number = n, .params = sampler.sample(space, {.trials = trials}, n).value()};
//     double x = std::get<double>(t.params.at("x"));
//     t.state = hpo::TrialState::Complete;
//     t.value = (x - 0.3) * (x - 0.3);
//     trials.push_back(t);
//   }
//
// A whole study from a file, as `descent tune study.toml --out runs/study --jobs 2` does:
//
//   hpo::Study study = hpo::load_study("study.toml");
//   hpo::StudyResult result = hpo::run_study(study, {.out = "runs/study", .jobs = 2});
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace descent::hpo {

// ---------------------------------------------------------------------------------------------
// Search space

/// A parameter value: an integer, a real number, a string or a boolean (categorical choices).
using Value = std::variant<std::int64_t, double, std::string, bool>;

/// One sampled parameter set, keyed by config key ("optimizer.lr"); absent = condition failed.
using Params = std::map<std::string, Value>;

/// The distribution a parameter is drawn from.
enum class ParamKind { Uniform, LogUniform, Int, Categorical, Count };

/// A parameter is active only when every listed parameter takes one of the listed values.
struct Condition {
  std::string param = {};          ///< the parameter this one depends on (declared in the same space)
  std::vector<Value> values = {};  ///< the values of `param` under which this parameter exists
};

/// One dimension of the search space.
struct ParamSpec {
  std::string name = {};                   ///< config key, e.g. "optimizer.lr"
  ParamKind kind = ParamKind::Uniform;     ///< distribution
  double low = 0;                          ///< lower bound (Uniform, LogUniform, Int), inclusive
  double high = 0;                         ///< upper bound (Uniform, LogUniform, Int), inclusive
  double step = 0;                         ///< lattice step: Int (default 1), Uniform (0 = continuous)
  bool log = false;                        ///< Int only: sample in log space
  std::vector<Value> choices = {};         ///< Categorical only
  std::vector<Condition> conditions = {};  ///< all must hold for the parameter to be sampled
};

/// The parameters of a study, ordered so that each comes after the ones its conditions name.
struct SearchSpace {
  std::vector<ParamSpec> params = {};  ///< the dimensions (see order_by_conditions)
};

/// Checks bounds, steps, choices and conditions; throws descent::Error naming `where` and the field.
void validate(const SearchSpace& space, std::string_view where = "search space");

/// Sorts parameters so that conditions refer only to earlier ones; throws on a cycle.
void order_by_conditions(SearchSpace& space, std::string_view where = "search space");

/// True when every condition of `spec` holds for the values sampled so far in `params`.
bool is_active(const ParamSpec& spec, const Params& params);

/// True when `value` lies in the domain of `spec` (bounds, step lattice, choices).
bool contains(const ParamSpec& spec, const Value& value);

/// The value for display and CSV: a TOML literal ("0.001", "2.0", "64", "true"), strings bare.
std::string format_value(const Value& value);

/// The value as JSON text (strings quoted), for CSV/HTML/storage.
std::string to_json(const Value& value);

/// A canonical one-line description of the space, to detect a changed study file on resume.
std::string signature(const SearchSpace& space);

// ---------------------------------------------------------------------------------------------
// Trials

/// Life cycle of a trial; a pruned trial was stopped early on purpose, a failed one broke.
enum class TrialState { Waiting, Running, Complete, Pruned, Failed, Count };

/// Lower-case name of a state ("complete"), as in trials.csv and the database.
std::string_view to_string(TrialState state);

/// Inverse of to_string(TrialState); throws descent::Error on an unknown name.
TrialState parse_trial_state(std::string_view name);

/// Whether smaller or larger objective values are better.
enum class Direction { Minimize, Maximize };

/// Everything known about one trial.
struct Trial {
  int number = 0;                           ///< 0-based, in order of creation
  TrialState state = TrialState::Waiting;   ///< where it is in its life cycle
  Params params = {};                       ///< the sampled values
  std::optional<double> value = {};         ///< objective of a complete trial
  std::map<int, double> intermediate = {};  ///< step (epoch) -> metric; NaN when not finite
  std::vector<double> rungs = {};           ///< ASHA: value recorded at rung 0, 1, ...
  std::string message = {};                 ///< why it was pruned or failed
  double started = 0;                       ///< Unix time the process started; 0 = never
  double finished = 0;                      ///< Unix time it ended; 0 = not yet
  std::optional<int> requeued_as = {};      ///< an interrupted trial re-run under this number
  /// The last reported step, if any.
  std::optional<int> last_step() const;
};

/// What samplers and pruners see of a study.
struct History {
  std::span<const Trial> trials = {};         ///< every trial so far, any state
  Direction direction = Direction::Minimize;  ///< of the objective
};

// ---------------------------------------------------------------------------------------------
// Samplers

/// Proposes parameter sets. Deterministic in (seed, trial number, history).
class Sampler {
 public:
  virtual ~Sampler() = default;
  /// Parameters for trial `number`, or nullopt when the sampler has nothing left (grid done).
  virtual std::optional<Params> sample(const SearchSpace& space, const History& history, int number) = 0;
};

/// Options of the grid sampler.
struct GridOptions {
  std::uint64_t seed = 0;  ///< order in which grid points are visited
  int points = 5;          ///< points per continuous parameter (log-spaced for log ones)
};

/// Every combination of categorical values, integers and `points` values per real or log-int
/// parameter, visited once each in a seeded random order; conditional parameters branch the grid.
class GridSampler : public Sampler {
 public:
  /// Options of the grid; the grid itself is built on the first call.
  explicit GridSampler(GridOptions options = {});
  /// The next unvisited grid point (points already in `history` are skipped).
  std::optional<Params> sample(const SearchSpace& space, const History& history, int number) override;
  /// All grid points of `space`, in visiting order.
  std::vector<Params> grid(const SearchSpace& space) const;

 private:
  GridOptions options_;
  std::string signature_;     // of the space grid_ was built for
  std::vector<Params> grid_;  // cached: sample() is called once per trial
};

/// Options of the random sampler.
struct RandomOptions {
  std::uint64_t seed = 0;  ///< with the trial number, fixes every draw
};

/// Independent uniform draws (in log space for log parameters).
class RandomSampler : public Sampler {
 public:
  /// A sampler seeded by `options.seed`.
  explicit RandomSampler(RandomOptions options = {});
  /// Draws every active parameter; ignores the history.
  std::optional<Params> sample(const SearchSpace& space, const History& history, int number) override;

 private:
  RandomOptions options_;
};

/// Options of the TPE sampler (defaults as in Optuna).
struct TpeOptions {
  std::uint64_t seed = 0;     ///< with the trial number, fixes every draw
  int n_startup_trials = 10;  ///< random trials before the model is used
  int n_ei_candidates = 24;   ///< candidates drawn from l(x) per parameter
  double gamma = 0.1;         ///< fraction of observations called good (at most 25)
  double prior_weight = 1.0;  ///< weight of the flat prior component in each estimator
};

/// Tree-structured Parzen Estimator (Bergstra et al. 2011), univariate as in Optuna: per
/// parameter, split finished trials into good/bad, fit l(x) and g(x), and keep the candidate
/// drawn from l that maximizes l(x)/g(x).
class TpeSampler : public Sampler {
 public:
  /// A sampler seeded by `options.seed`.
  explicit TpeSampler(TpeOptions options = {});
  /// Random for the first n_startup_trials finished trials, then TPE.
  std::optional<Params> sample(const SearchSpace& space, const History& history, int number) override;

 private:
  TpeOptions options_;
};

// ---------------------------------------------------------------------------------------------
// Pruners

/// Decides after each reported step whether a running trial should stop.
class Pruner {
 public:
  virtual ~Pruner() = default;
  /// True to stop `trial` now; its newest intermediate value was just reported. May record
  /// bookkeeping on `trial` (ASHA rungs). `history` holds the study's trials; an entry with
  /// `trial`'s number is skipped.
  virtual bool should_prune(Trial& trial, const History& history) = 0;
};

/// Options of the median (percentile) pruner, as Optuna's MedianPruner.
struct MedianOptions {
  int n_startup_trials = 5;  ///< no pruning until this many trials completed
  int n_warmup_steps = 0;    ///< no pruning before this step
  int interval_steps = 1;    ///< check every this many steps after the warm-up
  int n_min_trials = 1;      ///< completed trials needed at a step to compare against
  double percentile = 50.0;  ///< 50 = median
};

/// Prunes a trial whose best value so far is worse than the percentile of the completed
/// trials' values at the same step.
class MedianPruner : public Pruner {
 public:
  /// A pruner with the given options.
  explicit MedianPruner(MedianOptions options = {});
  /// See Pruner::should_prune.
  bool should_prune(Trial& trial, const History& history) override;

 private:
  MedianOptions options_;
};

/// Options of asynchronous successive halving (ASHA, Li et al. 2020), as Optuna's pruner.
struct AshaOptions {
  int min_resource = 1;             ///< steps before the first rung
  int reduction_factor = 4;         ///< eta: the top 1/eta of a rung is promoted
  int min_early_stopping_rate = 0;  ///< s: rung k sits at min_resource * eta^(s + k)
  int bootstrap_count = 0;          ///< trials a rung needs before anyone is promoted
};

/// A trial reaching rung k records its value there and continues only if it is in the top
/// 1/eta of all values recorded at rung k so far (or, while fewer than eta, the best).
class AshaPruner : public Pruner {
 public:
  /// A pruner with the given options; throws descent::Error on bad ones.
  explicit AshaPruner(AshaOptions options = {});
  /// See Pruner::should_prune; every trial of `history` with recorded rungs competes.
  bool should_prune(Trial& trial, const History& history) override;
  /// Step at which rung `rung` is reached: min_resource * eta^(min_early_stopping_rate + rung).
  long long rung_step(int rung) const;

 private:
  AshaOptions options_;
};

/// Options of Hyperband over ASHA brackets, as Optuna's HyperbandPruner.
struct HyperbandOptions {
  int min_resource = 1;      ///< steps before the first rung of the most aggressive bracket
  int max_resource = 0;      ///< steps of a full trial (e.g. epochs); required
  int reduction_factor = 3;  ///< eta
  int bootstrap_count = 0;   ///< as in AshaOptions
};

/// floor(log_eta(max/min)) + 1 ASHA brackets with min_early_stopping_rate 0, 1, ...; trial n
/// goes to a bracket by smooth weighted round robin over the brackets' budgets.
class HyperbandPruner : public Pruner {
 public:
  /// A pruner with the given options; throws descent::Error on bad ones.
  explicit HyperbandPruner(HyperbandOptions options);
  /// See Pruner::should_prune; trials compete only within their bracket.
  bool should_prune(Trial& trial, const History& history) override;
  /// Number of brackets.
  int n_brackets() const;
  /// Bracket of trial `number` (deterministic).
  int bracket_of(int number) const;

 private:
  HyperbandOptions options_;
  std::vector<int> budgets_;
  std::vector<AshaPruner> brackets_;
  mutable std::vector<int> assigned_;      // bracket of trial 0, 1, ... (cache of bracket_of)
  mutable std::vector<long long> credit_;  // round-robin state after assigned_
};

// ---------------------------------------------------------------------------------------------
// Where trials run

/// How a trial process ended.
struct ExitStatus {
  int code = 0;           ///< exit code, or the signal number when `signaled`
  bool signaled = false;  ///< ended by a signal
  /// "exit code 3" or "killed by signal 9".
  std::string describe() const;
};

/// What to run for one trial.
struct TrialLaunch {
  int number = 0;                       ///< the trial's number
  std::vector<std::string> argv = {};   ///< the command (argv[0] is looked up on PATH)
  std::filesystem::path dir = {};       ///< trial folder (created): stdout.log and stderr.log go there
  std::filesystem::path follow = {};    ///< the file whose new lines report progress
  std::vector<std::pair<std::string, std::string>> env = {};  ///< added to the environment
  std::vector<std::string> unset_env = {};  ///< variables removed; a trailing '*' matches a prefix
};

/// A started trial, as the driver sees it.
class TrialHandle {
 public:
  virtual ~TrialHandle() = default;
  /// Complete lines of the followed file since the last call; with `flush` also a last line
  /// without a newline (call it once the trial ended).
  virtual std::vector<std::string> read(bool flush) = 0;
  /// The exit status once the trial ended, else nullopt. Never blocks. Throws descent::Error
  /// when the program could not be started where it was sent.
  virtual std::optional<ExitStatus> poll() = 0;
  /// Sends `signal` to the trial's process group.
  virtual void signal(int signal) = 0;
  /// The last line of the trial's stderr (else of its stdout when that is not the followed
  /// file), for the message of a failed trial.
  virtual std::string failure_detail() = 0;
};

/// Starts trials: as child processes of this process (local_launcher), or, for `descent tune`
/// under mpirun, on the MPI ranks (the CLI's launcher; this subsystem knows nothing of MPI).
class Launcher {
 public:
  virtual ~Launcher() = default;
  /// Trials that may run at once.
  virtual int slots() const = 0;
  /// Starts a trial. Throws descent::Error when the program cannot be run here.
  virtual std::unique_ptr<TrialHandle> start(const TrialLaunch& launch) = 0;
  /// Called once per look of the driver at its running trials (a remote launcher exchanges
  /// its messages here).
  virtual void sync() {}
};

/// Runs up to `jobs` trials at once as child processes, each in its own process group.
std::unique_ptr<Launcher> local_launcher(int jobs);

// ---------------------------------------------------------------------------------------------
// Study file and driver

/// Which sampler a study uses, with its options.
using SamplerConfig = std::variant<GridOptions, RandomOptions, TpeOptions>;

/// No pruning (health-based stops still apply).
struct NoPruning {};

/// Which pruner a study uses, with its options.
using PrunerConfig = std::variant<NoPruning, MedianOptions, AshaOptions, HyperbandOptions>;

// A study file (TOML). Unknown keys, wrong types and bad ranges are errors naming the field.
//
//   name = "fashion_mlp"            # optional; default: the file's stem; names runs/<name>
//   base = "fashion_mlp.toml"       # descent config, relative to this file; or an inline
//                                   # [base] table; or instead `command = ["prog", "{x}"]`
//   metric = "val_acc"              # key of metrics.jsonl (not needed with `command`)
//   direction = "maximize"          # required: "minimize" or "maximize"
//   trials = 64                     # budget: trials and/or timeout (seconds); a grid may omit both
//   timeout = 3600
//   trial_timeout = 600             # optional: a trial running longer fails
//   threads_per_trial = 1           # optional: OMP_NUM_THREADS of a trial; sets the default --jobs
//   seed = 0
//   sampler = "tpe"                 # "grid" | "random" | "tpe", or a table with type + options:
//                                   # grid: points; tpe: n_startup_trials, n_ei_candidates,
//                                   # gamma, prior_weight
//   pruner = { type = "asha", reduction_factor = 3 }   # "none" | "median" | "asha" | "hyperband"
//                                   # median: n_startup_trials, n_warmup_steps, interval_steps,
//                                   # n_min_trials, percentile; asha: min_resource,
//                                   # reduction_factor, min_early_stopping_rate, bootstrap_count;
//                                   # hyperband: min_resource, max_resource (required),
//                                   # reduction_factor, bootstrap_count
//   [space]                         # names are config keys; [space.optimizer] lr = {...} works too
//   "optimizer.lr" = { type = "loguniform", low = 1e-3, high = 1.0 }
//   "optimizer.type" = { type = "categorical", choices = ["sgd", "adam"] }
//   "optimizer.momentum" = { type = "uniform", low = 0.5, high = 0.99, step = 0.01,
//                            condition = { "optimizer.type" = "sgd" } }   # or = ["sgd", ...]
//   "train.batch_size" = { type = "int", low = 16, high = 512, log = true }  # or step = 16
//   [set]                           # optional, descent trials only: config keys every trial gets
//   "train.epochs" = 9              # (e.g. a validation split the base lacks); not searched

/// A parsed study file.
struct Study {
  std::string name = {};                      ///< default: the file's stem
  std::filesystem::path file = {};            ///< where it was read from (for messages)
  std::filesystem::path base = {};            ///< base training config, resolved; empty if inline
  std::string base_inline = {};               ///< inline base config as TOML text, if given
  std::string text = {};                      ///< the study file's text (kept in study.db)
  std::vector<std::string> command = {};      ///< external program template, instead of base
  std::string metric = {};                    ///< key in metrics.jsonl (descent trials)
  Direction direction = Direction::Minimize;  ///< of the metric
  int trials = 0;                             ///< budget in trials; 0 = only the time budget
  double timeout = 0;                         ///< budget in seconds; 0 = only the trial budget
  double trial_timeout = 0;                   ///< seconds before a trial is killed; 0 = never
  int threads_per_trial = 0;                  ///< OMP_NUM_THREADS of each trial; 0 = inherit
  std::uint64_t seed = 0;                     ///< seeds the sampler
  SamplerConfig sampler = TpeOptions{};       ///< how parameters are proposed
  PrunerConfig pruner = NoPruning{};          ///< how trials are stopped early
  SearchSpace space = {};                     ///< what is searched
  Params fixed = {};                          ///< [set]: config keys with the same value in every trial
};

/// Reads and validates a study file; throws descent::Error naming the file and field.
Study load_study(const std::filesystem::path& file);

/// Parses study TOML text; `file` names it in messages and anchors relative paths.
Study parse_study(std::string_view text, const std::filesystem::path& file);

/// The sampler a study asks for.
std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config);

/// The pruner a study asks for; nullptr for NoPruning.
std::unique_ptr<Pruner> make_pruner(const PrunerConfig& config);

/// Options of run_study.
struct RunOptions {
  std::filesystem::path out = "runs/study";  ///< study folder: study.db, trials/, reports
  int jobs = 1;                              ///< trials run at the same time
  bool resume = false;                       ///< continue the study in `out`
  std::vector<std::string> trainer = {};     ///< trial command prefix; empty = {self, "train"}
  double kill_grace = 2.0;                   ///< seconds between SIGTERM and SIGKILL
  double poll_interval = 0.01;               ///< seconds between looks at the trials' output
  std::ostream* log = nullptr;               ///< live table; nullptr = silent
  const std::atomic<bool>* stop = nullptr;   ///< set (e.g. by SIGINT) to stop the study cleanly
  Launcher* launcher = nullptr;              ///< where trials run; nullptr = local_launcher(jobs)
};

/// The outcome of a study.
struct StudyResult {
  std::vector<Trial> trials = {};  ///< every trial, by number
  std::optional<int> best = {};    ///< index into `trials` of the best complete trial
  bool interrupted = false;        ///< stopped by RunOptions::stop; resume to continue
};

/// Runs (or resumes) a study to its budget, writing OUT/study.db, OUT/trials/NNNN/,
/// OUT/trials.csv, OUT/study.html and OUT/best.toml. Throws descent::Error on bad input.
StudyResult run_study(const Study& study, const RunOptions& options);

/// The study that run_study stored in OUT/study.db (to resume from a folder alone).
Study load_stored_study(const std::filesystem::path& out);

/// Trials stored in OUT/study.db (for reports and tests).
std::vector<Trial> load_trials(const std::filesystem::path& out);

/// Index of the best complete trial under `direction`, if any.
std::optional<int> best_trial(std::span<const Trial> trials, Direction direction);

/// Writes trials.csv: number, state, value, then one column per parameter of `space`.
void write_trials_csv(const std::filesystem::path& file, std::span<const Trial> trials, const SearchSpace& space);

/// Writes a self-contained HTML report (inline SVG): objective per trial with best so far,
/// one scatter per parameter, learning curves of pruned and complete trials.
void write_study_html(const std::filesystem::path& file, const Study& study, std::span<const Trial> trials);

/// Writes the base config with the trial's parameters applied, ready for `descent train`.
void write_trial_config(const std::filesystem::path& file, const Study& study, const Trial& trial);

/// A few lines naming the best trial, its value and parameters.
std::string summary(const Study& study, std::span<const Trial> trials);

}  // namespace descent::hpo
