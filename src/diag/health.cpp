// The training-health monitor: every `every` steps it measures each layer of the model (output
// statistics through the Sequential observer, gradient norms after backward, update/weight ratios
// after the step), aggregates them over a window of monitored steps and fires the verdicts.
// Unmonitored steps pay only for the loss/gradient finite check (one vectorized pass).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "diag/health_impl.h"

namespace descent::diag {

const char* const kStatus[] = {"ok", "unstable", "vanishing", "exploding", "saturated", "dead", "diverged"};

int status_rank(const std::string& status) {
  for (int i = 0; i < 7; ++i)
    if (status == kStatus[i]) return i;
  return 0;
}

HealthOptions parse_health_options(const Args& a) {
  HealthOptions o;
  o.enabled = a.get_bool("enabled", o.enabled);
  o.every = a.get_int("every", o.every);
  o.window = a.get_int("window", o.window);
  o.dead_threshold = a.get_double("dead_threshold", o.dead_threshold);
  o.saturated_threshold = a.get_double("saturated_threshold", o.saturated_threshold);
  o.update_ratio_max = a.get_double("update_ratio_max", o.update_ratio_max);
  o.vanishing_ratio = a.get_double("vanishing_ratio", o.vanishing_ratio);
  o.exploding_ratio = a.get_double("exploding_ratio", o.exploding_ratio);
  o.histogram_bins = a.get_int("histogram_bins", o.histogram_bins);
  o.guard = a.get_bool("guard", o.guard);
  o.guard_on_dead = a.get_bool("guard_on_dead", o.guard_on_dead);
  o.guard_factor = a.get_double("guard_factor", o.guard_factor);
  o.guard_lr_factor = a.get_double("guard_lr_factor", o.guard_lr_factor);
  o.guard_retries = a.get_int("guard_retries", o.guard_retries);
  o.snapshot_every = a.get_int("snapshot_every", o.snapshot_every);
  auto fail = [&](const char* key, const std::string& what) {
    throw Error(fmt::format("{}: {} {}", a.where(), key, what));
  };
  if (o.every < 1) fail("every", fmt::format("must be >= 1, got {}", o.every));
  if (o.window < 1) fail("window", fmt::format("must be >= 1, got {}", o.window));
  if (!(o.dead_threshold > 0 && o.dead_threshold <= 1)) fail("dead_threshold", "must be in (0, 1]");
  if (!(o.saturated_threshold > 0 && o.saturated_threshold <= 1)) fail("saturated_threshold", "must be in (0, 1]");
  if (!(o.update_ratio_max > 0)) fail("update_ratio_max", "must be positive");
  if (!(o.vanishing_ratio > 0 && o.vanishing_ratio < 1)) fail("vanishing_ratio", "must be in (0, 1)");
  if (!(o.exploding_ratio > 1)) fail("exploding_ratio", "must be > 1");
  if (o.histogram_bins < 2 || o.histogram_bins > 1000) fail("histogram_bins", "must be in [2, 1000]");
  if (!(o.guard_factor > 1)) fail("guard_factor", "must be > 1");
  if (!(o.guard_lr_factor > 0 && o.guard_lr_factor < 1)) fail("guard_lr_factor", "must be in (0, 1)");
  if (o.guard_retries < 0) fail("guard_retries", "must be >= 0");
  if (o.snapshot_every < 1) fail("snapshot_every", "must be >= 1");
  return o;
}

TrainingHealth::TrainingHealth(nn::Sequential& model, optim::Optimizer& optimizer, const loss::Loss& loss,
                               const HealthOptions& options)
    : impl_(std::make_unique<Impl>(model, optimizer, loss, options)) {
  Impl& s = *impl_;
  for (size_t i = 0; i < model.size(); ++i) {
    const nn::Module& m = *model.at(i);
    LayerInfo info{.type = layer_type(m), .kind = layer_kind(m)};
    for (const auto& [name, p] : m.named_parameters()) {
      info.params.push_back(p);
      if (!info.weight.defined() && name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0) info.weight = p;
    }
    s.layers.push_back(std::move(info));
  }
  for (const auto& [name, p] : model.named_parameters()) s.params.push_back(p);
  for (const auto& [name, b] : model.named_buffers()) s.buffers.push_back(b);
  s.window.resize(s.layers.size());
}

TrainingHealth::~TrainingHealth() {
  if (impl_) impl_->model.set_observer({});
}

void TrainingHealth::start(const std::string& run_dir, std::function<void(const std::string&)> print) {
  Impl& s = *impl_;
  s.print = std::move(print);
  if (!run_dir.empty()) {
    const auto path = std::filesystem::path(run_dir) / "health.jsonl";
    s.file.open(path, std::ios::app);
    if (!s.file) throw Error(fmt::format("{}: cannot write", path.string()));
  }
  s.first_lr = s.optimizer.lr();
  if (s.o.guard) s.take_snapshot();
}

void TrainingHealth::begin_step(int64_t step, int64_t epoch) {
  Impl& s = *impl_;
  s.step = step;
  if (epoch != s.epoch && s.window_samples > 0) s.close_window(false);
  s.epoch = epoch;
  if (s.window_samples == 0) s.window_epoch = epoch;
  // The first step is always sampled: its histograms are the "start" of the report.
  s.monitoring = s.o.enabled && (step % s.o.every == 0 || step == 1);
  if (!s.monitoring) {
    s.model.set_observer({});
    return;
  }
  s.sample.assign(s.layers.size(), LayerSample{});
  s.model.set_observer([&s](size_t i, const Tensor& out) {
    if (i >= s.sample.size()) return;
    LayerSample& ls = s.sample[i];
    const LayerKind kind = s.layers[i].kind;
    ls.out = output_stats(out, kind);
    if (kind == LayerKind::Relu) mark_alive(out, s.window[i].alive);
    histogram_range(kind, ls.out, ls.lo, ls.hi);
    ls.hist = histogram(out, ls.lo, ls.hi, s.o.histogram_bins);
  });
}

StepAction TrainingHealth::after_backward(double loss, const Tensor& x, const Tensor& y) {
  Impl& s = *impl_;
  s.model.set_observer({});
  s.loss_value = loss;
  if (!s.give_up.empty()) return StepAction::Stop;  // the guard gave up at the last window
  bool finite = std::isfinite(loss);
  for (size_t i = 0; finite && i < s.params.size(); ++i) finite = all_finite(s.params[i].grad());
  if (!finite) {
    const std::string where = s.locate_nonfinite(x, y);
    s.log({{"kind", "nonfinite"}, {"step", s.step}, {"epoch", s.epoch}, {"message", where}});
    if (!s.nonfinite_seen) {
      s.nonfinite_seen = true;
      s.fire("nonfinite", {.rule = "nonfinite", .step = s.step, .epoch = s.epoch, .message = "non-finite: " + where},
             s.o.guard ? 0 : status_rank("diverged"));
    }
    s.monitoring = false;
    if (!s.o.guard) return StepAction::Update;
    return s.rollback(std::isfinite(loss) ? "a gradient is not finite" : fmt::format("the loss is {}", fmt_num(loss)),
                      s.snapshot, true);
  }
  if (s.o.guard) {
    const std::string reason = s.track_loss(loss);
    if (!reason.empty()) {
      s.monitoring = false;
      return s.rollback(reason, s.snapshot, true);
    }
    // The snapshot is taken before the update, so its loss was measured: a state saved after an
    // update could already be the first step of a blow-up. Only a clearly good state is kept: a
    // loss half-way (geometrically) to the divergence threshold may be the start of one.
    const double good = std::sqrt(s.o.guard_factor) * s.ema_min;
    if (s.step % s.o.snapshot_every == 0 && loss <= good && s.ema <= good) s.take_snapshot();
  }
  if (!s.monitoring) return StepAction::Update;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const LayerInfo& info = s.layers[i];
    if (info.params.empty()) continue;
    double sq = 0.0;
    for (const Tensor& p : info.params) sq += std::pow(l2_norm(p.grad()), 2);
    s.sample[i].grad_norm = std::sqrt(sq);
    s.sample[i].weights_zero = info.weight.defined() && l2_norm(info.weight) == 0.0;
  }
  s.before.assign(s.layers.size(), Tensor());
  for (size_t i = 0; i < s.layers.size(); ++i)
    if (s.layers[i].weight.defined()) s.before[i] = s.layers[i].weight.detach().clone();
  return StepAction::Update;
}

void TrainingHealth::after_update() {
  Impl& s = *impl_;
  if (s.monitoring) {
    s.monitoring = false;
    // ‖Δw‖/‖w‖ of the weight (biases start at zero, and a ratio over them says nothing of the lr).
    for (size_t i = 0; i < s.layers.size(); ++i) {
      if (!s.layers[i].weight.defined()) continue;
      const Tensor& old = s.before[i];
      const double w = l2_norm(old);
      if (w > 0) s.sample[i].update_ratio = l2_distance(s.layers[i].weight.detach(), old) / w;
    }
    s.before.clear();
    // Gradient-flow ratio: first over last layer with parameters.
    double first = NAN, last = NAN;
    for (const LayerSample& ls : s.sample)
      if (std::isfinite(ls.grad_norm)) {
        if (!std::isfinite(first)) first = ls.grad_norm;
        last = ls.grad_norm;
      }
    const double ratio = first > 0 && last > 0 ? first / last : NAN;
    if (std::isfinite(ratio)) s.ratio_log_sum += std::log(ratio), ++s.ratio_samples;

    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    nlohmann::json layers = nlohmann::json::array(), hists = nlohmann::json::array();
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const LayerSample& ls = s.sample[i];
      LayerWindow& w = s.window[i];
      const auto count = static_cast<double>(std::max<int64_t>(ls.out.count, 1));
      const bool sat_kind = s.layers[i].kind == LayerKind::Tanh || s.layers[i].kind == LayerKind::Sigmoid;
      const double sat = sat_kind ? static_cast<double>(ls.out.saturated) / count : NAN;
      double dead = NAN;
      if (s.layers[i].kind == LayerKind::Relu && !w.alive.empty())
        dead = static_cast<double>(std::count(w.alive.begin(), w.alive.end(), 0)) / static_cast<double>(w.alive.size());
      if (sat_kind) w.saturated_sum += sat;
      if (std::isfinite(ls.grad_norm)) ++w.grad_samples, w.zero_grad_samples += ls.grad_norm == 0.0;
      if (std::isfinite(ls.update_ratio)) w.update_ratio_sum += ls.update_ratio, ++w.update_samples;
      layers.push_back({{"layer", i},
                        {"type", s.layers[i].type},
                        {"act_mean", num(ls.out.mean)},
                        {"act_std", num(ls.out.std)},
                        {"saturated", num(sat)},
                        {"zero_frac", static_cast<double>(ls.out.zeros) / count},
                        {"dead", num(dead)},
                        {"grad_norm", num(ls.grad_norm)},
                        {"update_ratio", num(ls.update_ratio)}});
      hists.push_back({{"layer", i}, {"type", s.layers[i].type}, {"lo", num(ls.lo)}, {"hi", num(ls.hi)}, {"counts", ls.hist}});
    }
    s.log({{"kind", "sample"}, {"step", s.step}, {"epoch", s.epoch}, {"lr", s.optimizer.lr()},
           {"loss", num(s.loss_value)}, {"grad_ratio", num(ratio)}, {"layers", layers}});
    nlohmann::json h = {{"kind", "histograms"}, {"step", s.step}, {"epoch", s.epoch}, {"layers", hists}};
    if (s.start_histograms.is_null()) {
      s.start_histograms = h;
      s.start_histograms["which"] = "start";
      s.log(s.start_histograms);
    }
    s.end_histograms = std::move(h);
    if (s.window_samples == 0) s.window_snapshot = s.snapshot;
    if (++s.window_samples >= s.o.window) s.close_window(true);
  }
}

void TrainingHealth::Impl::close_window(bool may_roll_back) {
  const int64_t n = window_samples;
  std::string died;  // the first ReLU layer found dead, for the guard
  for (size_t i = 0; i < layers.size() && n > 0; ++i) {
    LayerWindow& w = window[i];
    const LayerInfo& info = layers[i];
    const std::string name = fmt::format("layer {} ({})", i, info.type);
    if (info.kind == LayerKind::Relu && !w.alive.empty()) {
      const double dead =
          static_cast<double>(std::count(w.alive.begin(), w.alive.end(), 0)) / static_cast<double>(w.alive.size());
      if (dead >= o.dead_threshold && died.empty()) died = fmt::format("{}: {:.0f}% of units died", name, 100 * dead);
      if (dead >= o.dead_threshold)
        fire(fmt::format("dead:{}", i),
             {.rule = "dead", .layer = static_cast<int64_t>(i), .step = step, .epoch = window_epoch, .value = dead,
              .message = fmt::format("{}: {:.0f}% of units dead since epoch {} — lower the learning rate, or use "
                                     "leaky_relu/elu, or kaiming init", name, 100 * dead, window_epoch)},
             status_rank("dead"));
    }
    if (info.kind == LayerKind::Tanh || info.kind == LayerKind::Sigmoid) {
      const double sat = w.saturated_sum / static_cast<double>(n);
      if (sat >= o.saturated_threshold)
        fire(fmt::format("saturated:{}", i),
             {.rule = "saturated", .layer = static_cast<int64_t>(i), .step = step, .epoch = epoch, .value = sat,
              .message = fmt::format("{}: {:.0f}% saturated — use xavier init or batch norm", name, 100 * sat)},
             status_rank("saturated"));
    }
    if (w.grad_samples > 0 && w.zero_grad_samples == w.grad_samples) {
      // The lecture's two causes: zero weights above (no downstream gradient) or zero inputs.
      size_t blocker = layers.size();
      for (size_t j = i + 1; j < layers.size() && blocker == layers.size(); ++j)
        if (!sample.empty() && sample[j].weights_zero) blocker = j;
      Verdict v{.rule = "zero_gradient", .layer = static_cast<int64_t>(i), .step = step, .epoch = epoch, .value = 0.0};
      std::string key;
      if (blocker < layers.size()) {
        key = fmt::format("zero_gradient:w{}", blocker);
        v.message = fmt::format("zero gradient: all weights of layer {} ({}) are zero — the layers below it get no "
                                "gradient; initialize with xavier or kaiming, not zeros", blocker, layers[blocker].type);
      } else if (i > 0 && !sample.empty() && sample[i - 1].out.count > 0 &&
                 sample[i - 1].out.zeros == sample[i - 1].out.count) {
        key = fmt::format("zero_gradient:x{}", i);
        v.message = fmt::format("zero gradient: {} gets all-zero inputs (the activations below it are zero), so its "
                                "weights get no gradient — check the init and look for dead ReLUs", name);
      } else {
        key = fmt::format("zero_gradient:{}", i);
        v.message = fmt::format("zero gradient: {} gets no gradient", name);
      }
      fire(key, v, status_rank("dead"));
    }
    if (w.update_samples > 0) {
      const double r = w.update_ratio_sum / static_cast<double>(w.update_samples);
      if (r > o.update_ratio_max)
        fire(fmt::format("update_ratio:{}", i),
             {.rule = "update_ratio", .layer = static_cast<int64_t>(i), .step = step, .epoch = epoch, .value = r,
              .message = fmt::format("{}: update/weight ratio {} (healthy is about 1e-3) — learning rate too high",
                                     name, fmt_num(r))},
             status_rank("unstable"));
    }
  }
  if (ratio_samples > 0) {
    const double r = std::exp(ratio_log_sum / static_cast<double>(ratio_samples));
    size_t first = 0, last = 0;
    for (size_t i = 0; i < layers.size(); ++i)
      if (!layers[i].params.empty()) last = i;
    while (first < layers.size() && layers[first].params.empty()) ++first;
    const std::string pair = fmt::format("layer {} ({}) gets {} × the gradient norm of layer {} ({})", first,
                                         layers[first].type, fmt_num(r), last, layers[last].type);
    // Advice that fits the network: swapping sigmoid/tanh for relu only where there are some.
    bool squashing = false;
    for (const LayerInfo& l : layers) squashing = squashing || l.kind == LayerKind::Tanh || l.kind == LayerKind::Sigmoid;
    if (r < o.vanishing_ratio)
      fire("vanishing", {.rule = "vanishing", .step = step, .epoch = epoch, .value = r,
                         .message = "vanishing gradients: " + pair +
                                    (squashing ? " — use xavier/kaiming init, batch norm, or relu instead of sigmoid/tanh"
                                               : " — use kaiming init or batch norm, and look for dead ReLUs")},
           status_rank("vanishing"));
    if (r > o.exploding_ratio)
      fire("exploding", {.rule = "exploding", .step = step, .epoch = epoch, .value = r,
                         .message = "exploding gradients: " + pair +
                                    " — lower the learning rate, clip gradients, or use batch norm"},
           status_rank("exploding"));
  }
  for (LayerWindow& w : window) w = LayerWindow{};
  window_samples = 0, ratio_log_sum = 0.0, ratio_samples = 0;
  window_epoch = epoch;
  // Units alive in this window were alive in the state saved when it began (dead ReLUs do not
  // come back), so that state is a safe target when they die later. Units that were dead from
  // the first window on (a bad init) are no case for the guard: no such state exists.
  if (n == 0) return;
  if (died.empty() && window_snapshot.valid) alive_snapshot = window_snapshot;
  if (!died.empty() && o.guard && o.guard_on_dead && alive_snapshot.valid && may_roll_back && give_up.empty())
    rollback(died, alive_snapshot, false);
}

void TrainingHealth::Impl::fire(const std::string& key, Verdict v, int status) {
  epoch_severity = std::max(epoch_severity, status);
  if (!fired.insert(key).second) return;
  log({{"kind", "verdict"}, {"rule", v.rule}, {"layer", v.layer}, {"step", v.step}, {"epoch", v.epoch},
       {"value", std::isfinite(v.value) ? nlohmann::json(v.value) : nlohmann::json(nullptr)}, {"message", v.message}});
  if (print) print("health: " + v.message);
  verdicts.push_back(std::move(v));
}

void TrainingHealth::Impl::log(const nlohmann::json& j) {
  if (!file.is_open()) return;
  file << j.dump() << '\n';
  file.flush();
}

std::string TrainingHealth::end_epoch(int64_t epoch) {
  Impl& s = *impl_;
  if (s.window_samples > 0) s.close_window(false);
  nlohmann::json j = {{"health", kStatus[s.epoch_severity]}, {"guard_events", s.epoch_events}};
  s.log({{"kind", "epoch"}, {"epoch", epoch}, {"health", kStatus[s.epoch_severity]}});
  s.epoch_severity = s.give_up.empty() ? 0 : status_rank("diverged");
  s.epoch_events = nlohmann::json::array();
  return j.dump();
}

void TrainingHealth::finish() {
  Impl& s = *impl_;
  s.model.set_observer({});
  if (s.window_samples > 0) s.close_window(false);
  if (!s.end_histograms.is_null()) {
    s.end_histograms["which"] = "end";
    s.log(s.end_histograms);
    s.end_histograms = nullptr;
  }
  s.file.close();
}

double TrainingHealth::lr_scale() const { return impl_->lr_scale; }
const std::vector<Verdict>& TrainingHealth::verdicts() const { return impl_->verdicts; }
int64_t TrainingHealth::rollbacks() const { return impl_->rollbacks; }
const std::string& TrainingHealth::give_up_message() const { return impl_->give_up; }

}  // namespace descent::diag
