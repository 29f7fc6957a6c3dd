// The training loop. Everything is validated and loaded in the constructor; the run folder is
// created only when fit() starts, so a bad config or data file leaves no folder behind.
#include "descent/train.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>

#include "descent/autograd.h"
#include "descent/diag.h"
#include "descent/io.h"
#include "descent/regularize.h"
#include "descent/sched.h"
#include "train/checkpointing.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/run_folder.h"

#ifndef DESCENT_VERSION
#define DESCENT_VERSION "0.0.0"
#endif

namespace descent::train {

double accuracy(const Tensor& output, const Tensor& target) {
  if (target.dtype() != DType::I64 || output.dim() != 2 || target.dim() != 1 || output.size(0) != target.size(0)) return NAN;
  Tensor pred = ops::argmax(output, 1);
  const int64_t* p = pred.data<int64_t>();
  const int64_t* t = target.data<int64_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < target.numel(); ++i) correct += p[i] == t[i];
  return target.numel() ? static_cast<double>(correct) / static_cast<double>(target.numel()) : 0.0;
}

EvalResult evaluate(nn::Module& model, const loss::Loss& loss, data::Loader& loader, data::Task task) {
  MetricAccumulator acc(task);
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  EvalResult r;
  double loss_sum = 0.0, correct = 0.0;
  loader.start_epoch(0);
  data::Batch b;
  while (loader.next(b)) {
    Tensor out = model(b.x);
    const auto n = b.x.size(0);
    loss_sum += loss(out, b.y).item() * static_cast<double>(n);
    correct += accuracy(out, b.y) * static_cast<double>(n);
    acc.add(out, b.y);
    r.count += n;
  }
  model.train(was_training);
  if (r.count > 0) {
    r.loss = loss_sum / static_cast<double>(r.count);
    r.acc = correct / static_cast<double>(r.count);
    r.metrics = acc.compute();
    if (r.metrics.count("acc")) r.acc = r.metrics["acc"];  // binary: logit > 0 vs the 0/1 target
  }
  return r;
}

std::string default_run_dir(const Config& cfg) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("runs/{}-{}", cfg.name.empty() ? "run" : cfg.name, buf);
}

namespace {

// Column specs may be names or 0-based indices; indices travel as their decimal text.
std::vector<std::string> column_specs(const Args& a, const std::string& key) {
  if (!a.has(key)) return {};
  const ArgValue& v = a.values().at(key);
  a.touch(key);
  if (auto i = std::get_if<int64_t>(&v)) return {std::to_string(*i)};
  if (auto d = std::get_if<std::vector<double>>(&v)) {
    std::vector<std::string> out;
    for (double x : *d) out.push_back(std::to_string(static_cast<int64_t>(x)));
    return out;
  }
  return a.get_strings(key);
}

}  // namespace

// [data] → data::DataOptions (keys documented in docs/CONFIG.md).
data::DataOptions data_options(const Config& cfg) {
  const DataConfig& d = cfg.data;
  const Args& a = d.extra;
  data::DataOptions o;
  o.name = d.name;
  o.format = d.format;
  o.dir = a.get_string("dir", "");
  o.train_images = d.train_images;
  o.train_labels = d.train_labels;
  o.test_images = d.test_images;
  o.test_labels = d.test_labels;
  o.num_classes = a.get_int("num_classes", 10);
  o.train_file = a.get_string("train_file", "");
  o.test_file = a.get_string("test_file", "");
  o.train_targets_file = a.get_string("train_targets_file", "");
  o.test_targets_file = a.get_string("test_targets_file", "");
  data::CsvOptions& c = o.csv;
  c.delimiter = a.get_string("delimiter", c.delimiter);
  c.header = a.get_bool("header", c.header);
  c.skip_rows = a.get_int("skip_rows", 0);
  c.column_names = a.get_strings("column_names", std::vector<std::string>{});
  c.task = data::task_from_name(a.get_string("task", "classification"));
  c.targets = column_specs(a, "targets");
  c.drop = column_specs(a, "drop");
  c.categorical = column_specs(a, "categorical");
  c.encoding = data::encoding_from_name(a.get_string("encoding", "onehot"));
  c.missing = data::missing_from_name(a.get_string("missing", "error"));
  c.fill_value = a.get_double("fill_value", 0.0);
  if (a.has("missing_markers")) c.missing_markers = a.get_strings("missing_markers");
  c.class_names = a.get_strings("class_names", std::vector<std::string>{});
  if (a.has("sample_shape"))
    for (int64_t e : a.get_ints("sample_shape")) c.sample_shape.push_back(e);
  o.val_fraction = d.validation_split;
  o.test_fraction = a.get_double("test_fraction", 0.0);
  o.stratify = d.stratify;
  o.seed = cfg.train.seed;
  o.standardize = data::scaling_from_name(a.get_string("standardize", "none"));
  return o;
}

namespace {

// Loader options of [data] for training batches (scale, prefetch, drop_last, augmentation).
void loader_extras(const Args& a, data::LoaderOptions& lo) {
  lo.scale = a.get_double("scale", lo.scale);
  lo.prefetch = a.get_bool("prefetch", lo.prefetch);
  lo.drop_last = a.get_bool("drop_last", lo.drop_last);
  lo.augment.crop_padding = a.get_int("crop_padding", 0);
  lo.augment.horizontal_flip = a.get_bool("horizontal_flip", false);
  lo.augment.max_translation = a.get_int("max_translation", 0);
}

// Evaluation with several ranks: each evaluates its part of the set, the sums are all-reduced, so
// every rank gets the metrics of the whole set with each sample counted once. AUC and R² are not
// sums over parts: binary and regression tasks evaluate the whole set on every rank instead.
EvalResult evaluate_parts(nn::Module& model, const loss::Loss& loss, data::Loader& whole, data::Loader* part,
                          dist::Communicator& comm, data::Task task) {
  if (comm.size() == 1 || task != data::Task::Classification) return evaluate(model, loss, whole, task);
  EvalResult r = part ? evaluate(model, loss, *part, task) : EvalResult{};
  const double n = static_cast<double>(r.count);
  std::vector<double> sums{r.loss * n, r.acc * n, n};
  comm.allreduce(sums, dist::ReduceOp::Sum);
  r.count = static_cast<int64_t>(sums[2]);
  r.loss = r.count ? sums[0] / sums[2] : 0.0;
  r.acc = r.count ? sums[1] / sums[2] : 0.0;
  return r;
}

// This rank's contiguous part of an evaluation set (null when the part is empty).
std::unique_ptr<data::Loader> loader_part(const data::Dataset& d, const data::LoaderOptions& o,
                                          const std::vector<int64_t>& indices, const dist::Communicator& comm) {
  auto [b, e] = dist::shard_range(static_cast<int64_t>(indices.size()), comm.rank(), comm.size());
  if (e == b) return nullptr;  // an empty index list would mean "every sample" to the Loader
  return std::make_unique<data::Loader>(d, o, std::vector<int64_t>(indices.begin() + b, indices.begin() + e));
}

// Correct predictions of a binary batch: logit > 0 against a 0/1 target (as MetricAccumulator).
double binary_hits(const Tensor& output, const Tensor& target) {
  if (output.numel() != target.numel()) return 0.0;
  const std::vector<double> o = output.to_vector(), t = target.to_vector();
  double hits = 0.0;
  for (size_t i = 0; i < o.size(); ++i) hits += (o[i] > 0) == (t[i] > 0.5);
  return hits;
}

nlohmann::json metrics_json(const EpochMetrics& m) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"epoch", m.epoch},       {"step", m.step},           {"lr", num(m.lr)},
                      {"train_loss", num(m.train_loss)}, {"train_acc", num(m.train_acc)}};
  if (m.has_val) j["val_loss"] = num(m.val_loss), j["val_acc"] = num(m.val_acc);
  if (m.has_test) j["test_loss"] = num(m.test_loss), j["test_acc"] = num(m.test_acc);
  for (const auto& [k, v] : m.extra) j[k] = num(v);
  j["seconds"] = m.seconds;
  j["samples_per_s"] = m.samples_per_s;
  return j;
}

}  // namespace

struct Trainer::Impl {
  Config cfg;
  TrainerOptions opts;
  data::PreparedData data;
  std::unique_ptr<data::Loader> train_loader, val_loader, test_loader;
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<loss::Loss> loss;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<sched::Schedule> schedule;   // null without a [schedule] section
  std::optional<optim::RegularizationOptions> reg;    // [regularization]
  std::vector<Tensor> penalized;               // parameters the L1/L2 penalties cover
  std::unique_ptr<optim::EarlyStopping> early_stop;   // [early_stopping]
  int64_t skipped_steps = 0;                   // steps skipped for non-finite gradients
  std::vector<std::shared_ptr<Callback>> callbacks;
  std::vector<EpochMetrics> history;
  RunFolder folder;
  int64_t threads = 1;
  std::unique_ptr<diag::TrainingHealth> health;  // [health]: monitor, non-finite check, divergence guard
  std::shared_ptr<dist::Communicator> comm;            // the ranks; size 1 in a one-process run
  dist::DistributedOptions dist_options;               // [distributed]
  std::unique_ptr<dist::DataParallel> dp;              // null in a one-process run
  std::unique_ptr<data::Loader> val_part, test_part;   // this rank's part of the evaluation sets
  io::CheckpointOptions checkpoint;                    // [checkpoint]
  std::atomic<bool> stop_requested{false};             // request_stop(): checkpoint and return
  int stop_signal = 0;                                 // SIGINT/SIGTERM that stopped fit()
  bool interrupted = false;                            // the last fit() returned early
  std::string last_checkpoint;                         // newest checkpoint written or resumed from
};

Trainer::Trainer(const Config& cfg, const TrainerOptions& opts) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.comm = opts.comm ? opts.comm : dist::world_handle();
  // Each rank builds and loads on its own; a failure on any rank fails every rank alike, with
  // that rank's message, instead of leaving the others waiting in the first collective.
  dist::agree(*s.comm, [&] { setup(cfg, opts); });
  if (s.comm->size() == 1) return;
  dist::Communicator& comm = *s.comm;
  dist::check_same(comm, s.cfg.resolved_toml, "the resolved config");
  dist::check_same(comm, fmt::format("{} training, {} validation, {} test samples", s.data.train_indices.size(),
                                     s.data.val_indices.size(), s.data.test_indices.size()), "the data");
  s.dp = std::make_unique<dist::DataParallel>(s.comm, *s.model, s.cfg.loss, s.dist_options);
  s.dp->broadcast_parameters();
  dist::decorrelate_dropout(*s.model, comm.rank());
}

void Trainer::setup(const Config& cfg, const TrainerOptions& opts) {
  Impl& s = *impl_;
  s.cfg = cfg;
  s.opts = opts;
  s.threads = cfg.train.threads > 0 ? cfg.train.threads : omp_get_num_procs();
  omp_set_num_threads(static_cast<int>(s.threads));

  s.model = nn::build_model(cfg.model, cfg.train.dtype, cfg.train.seed);
  s.loss = loss::make_loss(cfg.loss);
  s.optimizer = optim::make_optimizer(cfg.optimizer, *s.model);
  if (!cfg.model.init_from.empty() && !opts.resume) {  // a resume takes every weight from its checkpoint
    try {
      io::load_weights(*s.model, cfg.model.init_from);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: [model] init_from: {}", cfg.source, e.what()));
    }
  }
  cfg.train.extra.finish();
  const bool has_val = cfg.data.validation_split > 0.0;
  if (auto it = cfg.sections.find("checkpoint"); it != cfg.sections.end())  // by reference: finish() sees what was read
    s.checkpoint = io::parse_checkpoint_options(it->second, has_val);
  else
    s.checkpoint = io::parse_checkpoint_options(Args(cfg.source + ": [checkpoint]"), has_val);
  if (auto it = cfg.sections.find("distributed"); it != cfg.sections.end())
    s.dist_options = dist::parse_distributed(it->second);  // the section itself: its keys count as read
  auto health_section = cfg.sections.find("health");
  diag::HealthOptions health_options =
      health_section != cfg.sections.end() ? diag::parse_health_options(health_section->second) : diag::HealthOptions{};
  // Dead units are judged on each rank's own shard: ranks could disagree and roll back apart.
  if (s.comm->size() > 1) health_options.guard_on_dead = false;
  s.health = std::make_unique<diag::TrainingHealth>(*s.model, *s.optimizer, *s.loss, health_options);
  if (auto it = cfg.sections.find("regularization"); it != cfg.sections.end()) {
    s.reg = optim::parse_regularization(it->second);
    s.penalized = optim::decayed_parameters(*s.model, s.reg->exclude);
  }
  if (auto it = cfg.sections.find("early_stopping"); it != cfg.sections.end())
    s.early_stop = std::make_unique<optim::EarlyStopping>(optim::parse_early_stopping(it->second));
  for (const auto& [name, args] : cfg.sections) args.finish();

  try {
    s.data = data::prepare(data_options(cfg));
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find(cfg.source) != std::string::npos || msg.find('/') != std::string::npos) throw;
    throw Error(fmt::format("{}: [data] {}", cfg.source, msg));  // name the config when the data layer could not
  }
  const Shape& sample = s.data.train.sample_shape;
  bool flatten = false;
  if (sample != cfg.model.input_shape) {
    if (cfg.model.input_shape.size() == 1 && shape_numel(sample) == cfg.model.input_shape[0]) {
      flatten = true;
    } else {
      throw Error(fmt::format("{}: [model] input_shape {} does not match the data's sample shape {}", cfg.source,
                              shape_str(cfg.model.input_shape), shape_str(sample)));
    }
  }
  if (s.loss->classification() && s.data.train.num_classes > 0) {
    Shape out = s.model->output_shape(cfg.model.input_shape);
    if (out.size() != 1 || out[0] != s.data.train.num_classes)
      throw Error(fmt::format("{}: the model outputs {} per sample but the data has {} classes (set the last layer's "
                              "out_features = {})", cfg.source, shape_str(out), s.data.train.num_classes,
                              s.data.train.num_classes));
  }
  const int64_t n_train = static_cast<int64_t>(s.data.train_indices.size());
  data::LoaderOptions lo{.batch_size = cfg.train.full_batch ? n_train : cfg.train.batch_size,
                         .shuffle = cfg.train.shuffle,
                         .seed = cfg.train.seed,
                         .drop_last = false,
                         .dtype = cfg.train.dtype,
                         .flatten = flatten};
  loader_extras(cfg.data.extra, lo);
  cfg.data.extra.finish();
  s.train_loader = std::make_unique<data::Loader>(s.data.train, lo, s.data.train_indices);
  data::LoaderOptions eo = lo;
  eo.shuffle = false;
  eo.batch_size = 1000;
  eo.drop_last = false;
  eo.augment = {};  // evaluation sees the data as it is
  if (!s.data.val_indices.empty()) s.val_loader = std::make_unique<data::Loader>(s.data.train, eo, s.data.val_indices);
  if (s.data.test.size() > 0) s.test_loader = std::make_unique<data::Loader>(s.data.test, eo, s.data.test_indices);
  if (s.comm->size() > 1) {  // data-parallel: each rank evaluates its part of each set
    if (s.val_loader) s.val_part = loader_part(s.data.train, eo, s.data.val_indices, *s.comm);
    if (s.test_loader) s.test_part = loader_part(s.data.test, eo, s.data.test_indices, *s.comm);
    const int64_t n = s.train_loader->num_samples(), batch = lo.batch_size, last = lo.drop_last ? 0 : n % batch;
    if (s.dist_options.sync_batchnorm && (batch < s.comm->size() || (last > 0 && last < s.comm->size())))
      throw Error(fmt::format("{}: [distributed] sync_batchnorm needs at least one sample per rank in every batch, but "
                              "{} samples in batches of {} leave a last batch of {} for {} ranks; change batch_size or "
                              "set [data] drop_last = true", cfg.source, n, batch, last, s.comm->size()));
  }

  if (s.early_stop && s.early_stop->options().metric.rfind("val_", 0) == 0 && !s.val_loader)
    throw Error(fmt::format("{}: [early_stopping] watches '{}' but there is no validation split (set [data] "
                            "validation_split)", cfg.source, s.early_stop->options().metric));

  if (!cfg.schedule_toml.empty()) {
    sched::ScheduleSpec spec = sched::parse_schedule_spec(cfg.schedule_toml, cfg.source);
    int64_t steps_per_epoch = s.train_loader->num_batches();
    if (cfg.train.max_steps > 0) steps_per_epoch = std::min(steps_per_epoch, cfg.train.max_steps);
    s.schedule = std::make_unique<sched::Schedule>(spec, s.optimizer->lr(),
                                                   sched::RunLength{.steps_per_epoch = steps_per_epoch, .epochs = cfg.train.epochs});
    if (spec.plateau) {
      const std::string& metric = spec.plateau->metric;
      bool val_metric = metric.rfind("val_", 0) == 0;
      if (val_metric && !s.val_loader)
        throw Error(fmt::format("{}: [schedule] plateau watches '{}' but there is no validation split (set [data] "
                                "validation_split)", cfg.source, metric));
      static const std::vector<std::string> kMetrics = {"train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"};
      if (std::find(kMetrics.begin(), kMetrics.end(), metric) == kMetrics.end())
        throw Error(fmt::format("{}: [schedule] plateau metric '{}' is not one of train_loss, train_acc, val_loss, "
                                "val_acc, test_loss, test_acc", cfg.source, metric));
    }
  }
}

namespace {
double metric_by_name(const EpochMetrics& m, const std::string& name) {
  if (name == "train_loss") return m.train_loss;
  if (name == "train_acc") return m.train_acc;
  if (name == "val_loss") return m.val_loss;
  if (name == "val_acc") return m.val_acc;
  if (name == "test_loss") return m.test_loss;
  if (name == "test_acc") return m.test_acc;
  throw Error("unknown metric '" + name + "'");
}
}  // namespace

Trainer::~Trainer() = default;

void Trainer::add_callback(std::shared_ptr<Callback> cb) { impl_->callbacks.push_back(std::move(cb)); }
nn::Sequential& Trainer::model() { return *impl_->model; }
optim::Optimizer& Trainer::optimizer() { return *impl_->optimizer; }
const loss::Loss& Trainer::loss() const { return *impl_->loss; }
data::Loader& Trainer::train_loader() { return *impl_->train_loader; }
data::Loader* Trainer::val_loader() { return impl_->val_loader.get(); }
data::Loader* Trainer::test_loader() { return impl_->test_loader.get(); }
const Config& Trainer::config() const { return impl_->cfg; }
const std::vector<EpochMetrics>& Trainer::history() const { return impl_->history; }
const std::string& Trainer::run_dir() const { return impl_->folder.dir(); }
dist::Communicator& Trainer::comm() { return *impl_->comm; }
dist::DataParallel* Trainer::data_parallel() { return impl_->dp.get(); }
void Trainer::request_stop() { impl_->stop_requested = true; }
bool Trainer::interrupted() const { return impl_->interrupted; }
int Trainer::stop_signal() const { return impl_->stop_signal; }
const std::string& Trainer::last_checkpoint() const { return impl_->last_checkpoint; }

EpochMetrics Trainer::fit() {
  Impl& s = *impl_;
  const Config& cfg = s.cfg;
  omp_set_num_threads(static_cast<int>(s.threads));
  const bool writer = s.comm->rank() == 0;  // only rank 0 writes files and progress
  if (!s.opts.run_dir.empty() && writer) s.folder = RunFolder(s.opts.run_dir);
  nlohmann::json manifest = {{"descent_version", DESCENT_VERSION},
                             {"command_line", s.opts.command_line},
                             {"config", cfg.source},
                             {"seed", cfg.train.seed},
                             {"threads", s.threads},
                             {"ranks", s.comm->size()},
                             {"dtype", dtype_name(cfg.train.dtype)},
                             {"start_time", utc_now()},
                             {"status", "running"}};
  if (!s.opts.resume) {  // a resume keeps the run's files until its checkpoint is restored
    s.folder.write_file("config.toml", cfg.resolved_toml);
    s.folder.write_manifest(manifest);
  }
  EpochMetrics last;
  int64_t step = 0;
  // Accuracy is reported for class labels (cross-entropy, nll) and for binary tasks (BCE on one logit).
  const bool binary = s.data.train.task == data::Task::Binary;
  const bool has_acc = s.loss->classification() || binary;
  bool stop = false;
  // Checkpoints: every rank restores, only rank 0 writes. See train/checkpointing.h.
  std::unique_ptr<Checkpointer> ckpt;
  if (!s.opts.run_dir.empty()) ckpt = std::make_unique<Checkpointer>(s.checkpoint, s.opts.run_dir);
  TrainerParts parts{cfg, *s.model, *s.optimizer, s.schedule.get(), *s.train_loader, s.history, s.callbacks, manifest,
                     s.early_stop.get(), &s.data.standardizer, s.health.get()};
  LoopState resumed;
  if (s.opts.resume) {
    if (!ckpt) throw Error("resume needs a run folder");
    std::vector<std::string> messages;
    resumed = ckpt->resume(parts, messages, writer);
    if (writer) {
      for (const auto& msg : messages) fmt::print(stderr, "{}\n", msg);
      truncate_jsonl(s.opts.run_dir + "/metrics.jsonl", "epoch", static_cast<int64_t>(s.history.size()));
      truncate_jsonl(s.opts.run_dir + "/steps.jsonl", "step", resumed.step);
      truncate_jsonl(s.opts.run_dir + "/health.jsonl", "step", resumed.step);  // before the monitor opens it
      manifest["status"] = "running";
      manifest["resumes"].push_back({{"time", utc_now()}, {"from", ckpt->resumed_from()}, {"command_line", s.opts.command_line}});
      s.folder.write_manifest(manifest);
      fmt::print("resuming from {} (epoch {}, step {})\n", ckpt->resumed_from(), resumed.epoch, resumed.step);
    }
    s.last_checkpoint = ckpt->resumed_from();
    step = resumed.step;
    s.skipped_steps = resumed.skipped_steps;
    stop = resumed.epoch_done && resumed.stop;
    if (!s.history.empty()) last = s.history.back();
  }

  // mpirun hands its ranks a pty even when its own output is a file: plain lines there
  Progress progress(s.opts.progress && cfg.train.progress && writer, stdout_is_tty() && s.comm->size() == 1);
  s.health->start(s.folder.dir(), [&progress, writer, show = s.opts.progress && cfg.train.progress](const std::string& text) {
    if (writer && show) progress.line(text);
    else if (writer) fmt::print(stderr, "{}\n", text);
  });
  if (!resumed.health_state.empty())  // after start(), which begins a fresh run's state
    s.health->load_state(resumed.health_state, resumed.health_tensors);
  const bool mid_epoch = s.opts.resume && !resumed.epoch_done;
  const int64_t first_epoch = s.opts.resume ? resumed.epoch + (resumed.epoch_done ? 1 : 0) : 1;
  s.stop_requested = false;
  s.interrupted = false;
  s.stop_signal = 0;
  StopOnSignal signals;  // Ctrl-C / SIGTERM: checkpoint at the next step boundary, then return
  try {
    for (int64_t epoch = first_epoch; epoch <= cfg.train.epochs && !stop; ++epoch) {
      s.model->train();
      const bool continuing = mid_epoch && epoch == first_epoch;  // the loader was restored mid-epoch
      if (!continuing) s.train_loader->start_epoch(epoch - 1);
      progress.begin_epoch(epoch, cfg.train.epochs, s.train_loader->num_samples());
      double loss_sum = continuing ? resumed.loss_sum : 0.0, correct = continuing ? resumed.correct : 0.0,
             penalty_sum = continuing ? resumed.penalty_sum : 0.0;
      int64_t seen = continuing ? resumed.seen : 0;
      auto t0 = std::chrono::steady_clock::now();
      data::Batch b;
      while (s.train_loader->next(b)) {
        if (s.schedule) {
          s.optimizer->set_lr(s.schedule->lr() * s.health->lr_scale());  // the guard scales the schedule
          if (auto mom = s.schedule->momentum()) s.optimizer->set_momentum(*mom);
        }
        const double lr_used = s.optimizer->lr();
        double penalty = 0.0;
        // One process computes the whole batch; with several ranks each computes its shard and
        // DataParallel all-reduces the gradients and the batch's data loss and hits.
        auto forward = [&](const data::Batch& part) {
          Tensor out = (*s.model)(part.x);
          Tensor l = (*s.loss)(out, part.y);
          Tensor pen;  // explicit penalties join the loss once (not once per rank)
          if (s.reg && (s.reg->l1 > 0 || s.reg->l2 > 0)) {
            pen = scalar(0.0, l.dtype());
            if (s.reg->l1 > 0) pen = pen + optim::l1_penalty(s.penalized).to(l.dtype()) * s.reg->l1;
            if (s.reg->l2 > 0) pen = pen + optim::l2_penalty(s.penalized).to(l.dtype()) * s.reg->l2;
            penalty = pen.item();
          }
          const double hits = s.loss->classification() ? accuracy(out, part.y) * static_cast<double>(part.x.size(0))
                              : binary ? binary_hits(out, part.y)
                                       : 0.0;
          return dist::ShardOutput{.loss = l, .correct = hits, .shared = pen};
        };
        s.health->begin_step(step + 1, epoch);
        s.optimizer->zero_grad();
        dist::StepStats st;  // the whole batch's loss and hits (all-reduced over ranks)
        if (s.dp) {
          st = s.dp->step(b, forward);
        } else {
          dist::ShardOutput o = forward(b);
          (o.shared.defined() ? o.loss + o.shared : o.loss).backward();
          st = {.loss = o.loss.item(), .correct = o.correct, .samples = b.x.size(0)};  // the data loss
        }
        const diag::StepAction action = s.health->after_backward(st.loss, b.x, b.y);
        if (action == diag::StepAction::Skip) continue;  // rolled back to the last good state
        if (action == diag::StepAction::Stop) {
          stop = true;
          break;
        }
        bool take_step = true;  // clipping sees the all-reduced gradients: every rank decides alike
        if (s.reg) {
          optim::ClipResult cr = optim::clip_gradients(s.optimizer->params(), *s.reg);  // throws under nonfinite = "error"
          if (!cr.finite) take_step = false, s.skipped_steps++;
        }
        if (take_step) s.optimizer->step();
        s.health->after_update();
        if (s.schedule) s.schedule->step();
        ++step;
        const int64_t n = b.x.size(0);
        const double lv = st.loss;
        penalty_sum += penalty * static_cast<double>(n);
        loss_sum += lv * static_cast<double>(n);
        correct += st.correct;
        seen += n;
        progress.update(seen, loss_sum / static_cast<double>(seen));
        for (auto& cb : s.callbacks) cb->on_step(step, lv, lr_used);
        if (cfg.train.log_every > 0 && step % cfg.train.log_every == 0)
          s.folder.append_jsonl("steps.jsonl", {{"step", step}, {"lr", lr_used}, {"loss", lv}});
        double stop_now = s.stop_requested || StopOnSignal::pending() ? 1.0 : 0.0;
        if (s.comm->size() > 1) {  // every rank stops at the same step
          std::vector<double> flag{stop_now};
          s.comm->allreduce(flag, dist::ReduceOp::Max);
          stop_now = flag[0];
        }
        if (ckpt && writer && (stop_now > 0 || ckpt->due_after_step(step)))
          s.last_checkpoint = ckpt->save(parts, {.epoch = epoch, .epoch_done = false, .step = step, .loss_sum = loss_sum,
                                                 .correct = correct, .seen = seen, .penalty_sum = penalty_sum,
                                                 .skipped_steps = s.skipped_steps});
        if (stop_now > 0) {
          s.interrupted = true;
          s.stop_signal = StopOnSignal::pending();
          break;
        }
        if (cfg.train.max_steps > 0 && step >= cfg.train.max_steps) {
          stop = true;
          break;
        }
      }
      if (s.interrupted) break;  // no metrics for a partial epoch: the resumed run finishes it
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EpochMetrics m;
      m.epoch = epoch;
      m.step = step;
      m.lr = s.optimizer->lr();  // the lr of the epoch's last step
      m.train_loss = seen ? loss_sum / static_cast<double>(seen) : NAN;
      m.train_acc = has_acc && seen ? correct / static_cast<double>(seen) : NAN;
      m.seconds = secs;
      m.samples_per_s = secs > 0 ? static_cast<double>(seen) / secs : 0.0;
      if (s.dp) {  // ranks evaluate (and rank 0 saves) one model
        s.dp->average_buffers();
        s.dp->check_parameters_equal();
      }
      if (s.val_loader) {
        EvalResult r = evaluate_parts(*s.model, *s.loss, *s.val_loader, s.val_part.get(), *s.comm, s.data.train.task);
        m.has_val = true, m.val_loss = r.loss, m.val_acc = has_acc ? r.acc : NAN;
        for (const auto& [k, v] : r.metrics)
          if (k != "acc") m.extra["val_" + k] = v;
      }
      if (s.test_loader) {
        EvalResult r = evaluate_parts(*s.model, *s.loss, *s.test_loader, s.test_part.get(), *s.comm, s.data.train.task);
        m.has_test = true, m.test_loss = r.loss, m.test_acc = has_acc ? r.acc : NAN;
        for (const auto& [k, v] : r.metrics)
          if (k != "acc") m.extra["test_" + k] = v;
      }
      if (s.reg && (s.reg->l1 > 0 || s.reg->l2 > 0) && seen) m.extra["train_penalty"] = penalty_sum / static_cast<double>(seen);
      if (s.reg && s.skipped_steps) m.extra["skipped_steps"] = static_cast<double>(s.skipped_steps);
      if (s.schedule && s.schedule->spec().plateau) s.schedule->end_epoch(metric_by_name(m, s.schedule->spec().plateau->metric));
      s.history.push_back(m);
      last = m;
      nlohmann::json metrics_line = metrics_json(m);
      metrics_line.update(nlohmann::json::parse(s.health->end_epoch(epoch)));  // "health", "guard_events"
      s.folder.append_jsonl("metrics.jsonl", metrics_line);
      const bool cls = has_acc;
      std::string line = fmt::format("epoch {}/{}  loss {:.4f}", epoch, cfg.train.epochs, m.train_loss);
      if (cls) line += fmt::format("  acc {:.4f}", m.train_acc);
      if (m.has_val) line += fmt::format("  val_loss {:.4f}", m.val_loss) + (cls ? fmt::format("  val_acc {:.4f}", m.val_acc) : "");
      if (m.has_test) line += fmt::format("  test_loss {:.4f}", m.test_loss) + (cls ? fmt::format("  test_acc {:.4f}", m.test_acc) : "");
      line += fmt::format("  {:.1f}s  {:.0f} samples/s", m.seconds, m.samples_per_s);
      // Long runs of tiny epochs (full-batch GD) print about 50 lines, not one per epoch.
      const int64_t every = std::max<int64_t>(1, (cfg.train.epochs + 49) / 50);
      if (epoch == 1 || epoch % every == 0 || epoch == cfg.train.epochs || stop) progress.end_epoch(line);
      for (auto& cb : s.callbacks) stop = !cb->on_epoch(m) || stop;
      if (s.early_stop) {
        const std::string& key = s.early_stop->options().metric;
        double v = m.extra.count(key) ? m.extra.at(key) : metric_by_name(m, key);
        if (s.early_stop->step(v, *s.model)) {
          progress.line(fmt::format("early stopping: no improvement of {} for {} epochs", key, s.early_stop->options().patience));
          stop = true;
        }
      }
      if (ckpt && writer && ckpt->due_after_epoch(epoch))
        s.last_checkpoint = ckpt->save(parts,
                                       {.epoch = epoch, .epoch_done = true, .step = step, .skipped_steps = s.skipped_steps,
                                        .stop = stop},
                                       metric_by_name(m, ckpt->metric()));
    }
    if (!s.health->give_up_message().empty()) throw Error(s.health->give_up_message());
  } catch (const std::exception& e) {
    manifest["status"] = "failed";
    manifest["error"] = e.what();
    manifest["end_time"] = utc_now();
    s.folder.write_manifest(manifest);
    s.health->finish();
    try {  // the report helps most when a run failed, but must never hide the error
      if (s.folder.active()) diag::write_report(s.folder.dir());
    } catch (const std::exception&) {
    }
    throw;
  }
  if (s.interrupted) {
    manifest["status"] = "interrupted";
    manifest["steps"] = step;
    s.folder.write_manifest(manifest);
    s.health->finish();
    return last;
  }
  if (s.early_stop && s.early_stop->options().restore_best && s.early_stop->restore_best(*s.model))
    progress.line("early stopping: restored the weights of the best epoch");
  if (s.folder.active())  // torch nn.Sequential names and layouts: load_state_dict takes it as is
    io::save_safetensors(s.folder.dir() + "/final.safetensors", s.model->state_dict(), weights_metadata(s.data.standardizer));
  manifest["status"] = "completed";
  manifest["end_time"] = utc_now();
  manifest["steps"] = step;
  s.folder.write_manifest(manifest);
  s.health->finish();
  if (s.folder.active()) diag::write_report(s.folder.dir());
  return last;
}

}  // namespace descent::train
