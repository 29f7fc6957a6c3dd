// descent/train.h — the training loop behind `descent train`, usable from C++.
//
// A Trainer builds data, model, loss and optimizer from a Config, then runs epochs: shuffled
// minibatches, forward, loss, backward, optimizer step; after each epoch it evaluates on the
// validation and test sets (in eval mode, without recording a graph) and appends one JSON line to
// `metrics.jsonl` in the run folder. Callbacks see every step and epoch.
//
// metrics.jsonl keys (one object per epoch; tools rely on these names):
//   epoch, step, lr, train_loss, train_acc, test_loss, test_acc, val_loss, val_acc (when a
//   validation split is set), seconds (training time of the epoch, evaluation excluded),
//   samples_per_s.
//
// Checkpoints ([checkpoint], descent/io.h) hold the whole state — weights, optimizer, schedule,
// generators, loader position, history — so `TrainerOptions::resume` continues a run bit for bit;
// SIGINT/SIGTERM during fit() stop at the next step boundary with a checkpoint. A finished run
// leaves final.safetensors (torch nn.Sequential state_dict names) in the run folder.
//
//   descent::Config cfg = descent::load_config("examples/fashion_mlp.toml");
//   descent::train::Trainer trainer(cfg, {.run_dir = "runs/demo"});
//   descent::train::EpochMetrics last = trainer.fit();
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/config.h"
#include "descent/data.h"
#include "descent/dist.h"
#include "descent/loss.h"
#include "descent/nn.h"
#include "descent/optim.h"

namespace descent::train {

/// What one epoch produced (NaN where a set is absent).
struct EpochMetrics {
  int64_t epoch = 0;            ///< 1-based epoch number
  int64_t step = 0;             ///< optimizer steps so far
  double lr = 0.0;              ///< learning rate at the end of the epoch
  double train_loss = 0.0;      ///< mean training loss over the epoch's batches (sample-weighted)
  double train_acc = 0.0;       ///< training accuracy of the epoch (classification)
  double val_loss = 0.0, val_acc = 0.0;    ///< validation metrics (when a split is set)
  double test_loss = 0.0, test_acc = 0.0;  ///< test metrics (when a test set exists)
  bool has_val = false;         ///< validation metrics are present
  bool has_test = false;        ///< test metrics are present
  std::map<std::string, double> extra = {};  ///< task metrics by full name (val_auc, test_rmse, test_r2, ...)
  double seconds = 0.0;         ///< training time of the epoch, evaluation excluded
  double samples_per_s = 0.0;   ///< training samples per second
};

/// Loss and accuracy of a model over a loader.
struct EvalResult {
  double loss = 0.0;  ///< sample-weighted mean loss
  double acc = 0.0;   ///< fraction of argmax == label (classification)
  int64_t count = 0;  ///< samples seen
  std::map<std::string, double> metrics = {};  ///< task metrics: acc; acc, auc (binary); rmse, mae, r2 (regression)
};

/// Evaluates in eval mode without recording a graph; restores the previous mode.
EvalResult evaluate(nn::Module& model, const loss::Loss& loss, data::Loader& loader,
                    data::Task task = data::Task::Classification);

/// Fraction of rows of `output` [N, C] whose argmax equals `target` [N] (int64).
double accuracy(const Tensor& output, const Tensor& target);

/// Observers of the loop (progress, health monitor, checkpoints, tuning reports).
class Callback {
 public:
  virtual ~Callback() = default;
  /// After each optimizer step, with the batch loss and the lr used.
  virtual void on_step(int64_t /*step*/, double /*loss*/, double /*lr*/) {}
  /// After each epoch's evaluation; return false to stop training.
  virtual bool on_epoch(const EpochMetrics& /*m*/) { return true; }
  /// Key of this observer's state in checkpoints ("" = it keeps none worth saving).
  virtual std::string state_key() const { return ""; }
  /// Its state as text (JSON by convention), saved in every checkpoint under state_key().
  virtual std::string save_state() const { return ""; }
  /// Restores save_state() output when a run resumes.
  virtual void load_state(const std::string& /*state*/) {}
};

/// Options of a Trainer beyond the config.
struct TrainerOptions {
  std::string run_dir = {};            ///< run folder ("" = no files written)
  bool progress = true;                ///< progress bar / lines on stdout
  std::vector<std::string> command_line = {};  ///< recorded in manifest.json
  std::shared_ptr<dist::Communicator> comm = {};  ///< ranks training together (null: dist::world())
  bool resume = false;  ///< continue the run in run_dir from its newest valid checkpoint
};

/// Builds everything from a Config and trains.
class Trainer {
 public:
  /// Validates the whole config and loads the data; writes nothing yet.
  Trainer(const Config& config, const TrainerOptions& options = {});
  ~Trainer();
  /// Runs all epochs (or until max_steps / a callback stops); returns the last epoch's metrics.
  EpochMetrics fit();
  /// Adds an observer.
  void add_callback(std::shared_ptr<Callback> cb);
  /// The model being trained.
  nn::Sequential& model();
  /// The optimizer.
  optim::Optimizer& optimizer();
  /// The loss.
  const loss::Loss& loss() const;
  /// The training batches.
  data::Loader& train_loader();
  /// Validation batches (null without a validation split).
  data::Loader* val_loader();
  /// Test batches (null without a test set).
  data::Loader* test_loader();
  /// The resolved config.
  const Config& config() const;
  /// Every epoch's metrics so far.
  const std::vector<EpochMetrics>& history() const;
  /// The run folder.
  const std::string& run_dir() const;
  /// The ranks training together (size 1 in a one-process run).
  dist::Communicator& comm();
  /// The data-parallel driver (null in a one-process run).
  dist::DataParallel* data_parallel();
  /// Asks fit() to stop after the current step, write a checkpoint and return (as SIGINT/SIGTERM do).
  void request_stop();
  /// True when the last fit() returned early on request_stop() or a signal.
  bool interrupted() const;
  /// The signal that stopped fit() (0 = none, or request_stop()).
  int stop_signal() const;
  /// Path of the newest checkpoint's JSON file written or resumed from ("" = none).
  const std::string& last_checkpoint() const;

 private:
  /// The rank-local part of construction: config, model, data, loaders.
  void setup(const Config& config, const TrainerOptions& options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Default run folder: runs/<config name>-<YYYYmmdd-HHMMSS>.
std::string default_run_dir(const Config& config);
/// The [data] section of a config as data::DataOptions (what the Trainer loads).
data::DataOptions data_options(const Config& config);
/// Metadata of final.safetensors: {"format": "pt"} (torch's convention), plus the fitted
/// standardization as JSON under "descent.standardizer" when the run has one.
std::map<std::string, std::string> weights_metadata(const data::Standardizer& standardizer);

// ---- A finished run, evaluated again (`descent eval`, `descent predict`, `descent export`) ----
//
// load_run rebuilds the model from RUN_DIR/config.toml and loads its weights (final.safetensors,
// the newest or the best checkpoint) with the standardization the run fitted on its training
// split, stored next to the weights. eval_set loads the samples: the run's test set (the same
// split as in training) or another file, encoded like the training file, and applies the stored
// standardization. predict_run gives every sample's outputs; eval_report turns them into loss,
// accuracy, per-class accuracy and the confusion matrix (classification and binary), AUC (binary)
// or RMSE, MAE and R² (regression).
//
//   descent::train::LoadedRun run = descent::train::load_run("runs/wine");
//   descent::train::EvalSet set = descent::train::eval_set(run);
//   double loss = 0;
//   descent::Tensor out = descent::train::predict_run(run, set, &loss);
//   std::cout << descent::train::eval_table(descent::train::eval_report(set, out, loss));

/// A trained run loaded back.
struct LoadedRun {
  std::string dir = {};                          ///< the run folder
  Config config = {};                            ///< its config.toml
  std::shared_ptr<nn::Sequential> model = {};    ///< rebuilt with the loaded weights, in eval mode
  data::Standardizer standardizer = {};          ///< fitted on the training split (identity: none)
  std::string weights_source = {};               ///< where the weights came from, for messages
  std::vector<std::string> warnings = {};        ///< damaged checkpoints skipped, standardization refitted
};

/// Loads RUN_DIR/config.toml and the weights `from`: "final" (final.safetensors), "latest" (the
/// newest valid checkpoint) or "best" (the best epoch checkpoint). A run saved without its
/// standardization (older descent) gets it refitted from the training data, with a warning.
LoadedRun load_run(const std::string& run_dir, const std::string& from = "final");

/// Which samples eval_set loads.
struct EvalDataOptions {
  std::string data = {};     ///< "" = the run's test set; else a CSV file like the training file, or IDX images
  std::string targets = {};  ///< IDX: the labels file (required); CSV: a separate targets file (optional)
};

/// Samples to evaluate, encoded and standardized as the model expects.
struct EvalSet {
  data::Dataset dataset = {};     ///< inputs (standardized), targets, class and target names
  Tensor raw_inputs = {};         ///< the inputs before standardization (what an exported ONNX model takes)
  std::vector<int64_t> ids = {};  ///< each sample's 0-based number in its data file
  std::string description = {};   ///< e.g. "test split of wine_data.csv (36 samples)"
};

/// Loads the samples `options` names for `run`; errors name the file and what does not match.
EvalSet eval_set(const LoadedRun& run, const EvalDataOptions& options = {});

/// Batches of `set` as the model takes them (the run's dtype, scale and flattening), in order;
/// `raw` uses raw_inputs instead of the standardized inputs.
data::Loader eval_loader(const LoadedRun& run, const EvalSet& set, int64_t batch_size = 1000, bool raw = false);

/// The model's outputs for every sample of `set` (eval mode, no graph), float64 [N, outputs];
/// `loss` (when given) receives the sample-weighted mean loss of the run's [loss].
Tensor predict_run(const LoadedRun& run, const EvalSet& set, double* loss = nullptr);

/// What `descent eval` reports.
struct EvalReport {
  data::Task task = data::Task::Classification;  ///< kind of targets
  int64_t count = 0;                             ///< samples evaluated
  double loss = 0.0;                             ///< mean loss
  double accuracy = 0.0;                         ///< classification and binary (NaN for regression)
  std::vector<std::string> class_names = {};     ///< classification and binary
  std::vector<double> per_class_accuracy = {};   ///< recall of each class (NaN: no sample of it)
  std::vector<std::vector<int64_t>> confusion = {};  ///< [true class][predicted class] counts
  std::vector<std::string> target_names = {};    ///< regression
  std::map<std::string, double> metrics = {};    ///< "auc" (binary); "rmse", "mae", "r2" (regression)
};

/// Metrics of predict_run's `outputs` against the targets of `set`.
EvalReport eval_report(const EvalSet& set, const Tensor& outputs, double loss);
/// JSON with keys task, count, loss, accuracy, class_names, per_class_accuracy, confusion (rows:
/// true class) for classification and binary, plus auc (binary) or rmse, mae, r2 (regression); NaN as null.
std::string eval_json(const EvalReport& report);
/// The same as a human-readable table.
std::string eval_table(const EvalReport& report);
/// CSV text: header `index,predicted,<one column per output>`, one row per sample: its number in
/// the data file, the predicted class name (regression: no such column) and the raw outputs.
std::string predictions_csv(const EvalSet& set, const Tensor& outputs);


// ---- The LR range test (`descent lr-find`) ----
//
// Trains on successive minibatches while the lr grows exponentially from start_lr to end_lr,
// records the loss, and smooths it with a bias-corrected exponential moving average (fastai's
// β = 0.98): s_i = avg_i / (1 − β^(i+1)), avg_i = β·avg_(i−1) + (1 − β)·loss_i. The test stops early
// when the smoothed loss exceeds diverge_factor × its minimum or a loss is not finite. The model's
// weights and buffers and the optimizer's state, step count and lr are restored afterwards, even
// when the test throws.
//
//   descent::train::Trainer trainer(cfg);
//   descent::train::LrFindResult r = descent::train::lr_find(trainer, {});
//   trainer.optimizer().set_lr(r.steepest_lr);   // or write it into the config (`--apply`)

/// Options of the LR range test.
struct LrFindOptions {
  double start_lr = 1e-7;       ///< lr of the first minibatch, > 0
  double end_lr = 10.0;         ///< lr of the last minibatch, > start_lr
  int64_t steps = 100;          ///< minibatches (the loader wraps around epochs), >= 10
  double smoothing = 0.98;      ///< β of the loss's moving average, in [0, 1)
  double diverge_factor = 4.0;  ///< stop when the smoothed loss exceeds this × its minimum, > 1
};

/// The curve of an LR range test and the lrs it suggests.
struct LrFindResult {
  std::vector<double> lr;             ///< lr of each minibatch taken
  std::vector<double> loss;           ///< that minibatch's loss, before its update
  std::vector<double> smoothed_loss;  ///< bias-corrected moving average of `loss`
  int64_t min_index = -1;             ///< index of the smallest smoothed loss (−1: no point)
  int64_t steepest_index = -1;        ///< index where the smoothed loss falls fastest per log lr (−1: none)
  double min_lr = 0.0;                ///< lr at min_index
  double min_lr_div10 = 0.0;          ///< min_lr / 10, the conservative suggestion
  double steepest_lr = 0.0;           ///< lr at steepest_index, the suggestion (0 when there is none)
  bool diverged = false;              ///< stopped before end_lr (loss blew up or was not finite)
};

/// Runs the LR range test on the trainer's training batches; restores weights and optimizer.
LrFindResult lr_find(Trainer& trainer, const LrFindOptions& options = {});
/// CSV text: header `step,lr,loss,smoothed_loss`, one row per minibatch, exact doubles.
std::string lr_find_csv(const LrFindResult& result);
/// Self-contained SVG: smoothed (and raw) loss over a log lr axis, the suggestions marked.
std::string lr_find_svg(const LrFindResult& result);

}  // namespace descent::train
