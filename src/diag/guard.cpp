// The divergence guard and the non-finite detector of TrainingHealth.
//
// Divergence is judged on a bias-corrected moving average of the batch loss (β = 0.9), so one
// hard batch does not trigger it, while a blow-up (a loss 10× or NaN) does at once. The second
// condition (the rise exceeds half the first loss) keeps a run whose loss is already tiny from
// "diverging" when 0.002 becomes 0.01.
#include <fmt/format.h>

#include <cmath>

#include "descent/autograd.h"
#include "diag/health_impl.h"

namespace descent::diag {
namespace {
constexpr double kBeta = 0.9;

std::string bad_kind(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  for (double e : v)
    if (std::isnan(e)) return "NaN";
  return "Inf";
}
}  // namespace

void TrainingHealth::Impl::take_snapshot() {
  NoGradGuard off;
  snapshot.valid = true;
  snapshot.step = step > 0 ? step - 1 : 0;  // taken before step `step`'s update: the state after step - 1
  snapshot.params.clear();
  snapshot.buffers.clear();
  for (const Tensor& p : params) snapshot.params.push_back(p.detach().clone());
  for (const Tensor& b : buffers) snapshot.buffers.push_back(b.detach().clone());
  snapshot.optimizer_state.clear();
  for (const auto& [name, t] : optimizer.state()) snapshot.optimizer_state.emplace_back(name, t.detach().clone());
  snapshot.optimizer_steps = optimizer.step_count();
  snapshot.ema = ema, snapshot.ema_min = ema_min, snapshot.ema_n = ema_n;
}

std::string TrainingHealth::Impl::track_loss(double loss) {
  ++ema_n;
  const double raw = kBeta * (ema_n == 1 ? 0.0 : ema * (1 - std::pow(kBeta, static_cast<double>(ema_n - 1)))) +
                     (1 - kBeta) * loss;
  ema = raw / (1 - std::pow(kBeta, static_cast<double>(ema_n)));
  if (!std::isfinite(ema_first)) ema_first = loss;
  if (ema > o.guard_factor * ema_min && ema - ema_min > 0.5 * std::abs(ema_first))
    return fmt::format("the smoothed loss {} rose above {} × its minimum {}", fmt_num(ema), fmt_num(o.guard_factor),
                       fmt_num(ema_min));
  ema_min = std::min(ema_min, ema);
  return "";
}

StepAction TrainingHealth::Impl::rollback(const std::string& reason, const Snapshot& target, bool divergence) {
  model.zero_grad();
  const double lr_now = optimizer.lr();
  if (rollbacks >= o.guard_retries || !target.valid) {
    give_up = fmt::format("{} at step {} (epoch {}): {}; gave up after {} rollbacks (lr {} → {}) — lower "
                          "[optimizer] lr, clip gradients, or check the data for NaN",
                          divergence ? "diverged" : "collapsed", step, epoch, reason, rollbacks, fmt_num(first_lr),
                          fmt_num(lr_now));
    fire("diverged", {.rule = "diverged", .step = step, .epoch = epoch, .value = lr_now, .message = give_up},
         status_rank("diverged"));
    nlohmann::json ev = {{"step", step}, {"epoch", epoch}, {"reason", reason}, {"action", "gave_up"}, {"lr", lr_now}};
    epoch_events.push_back(ev);
    ev["kind"] = "guard";
    log(ev);
    return StepAction::Stop;
  }
  const Snapshot saved = target;  // `target` may be `snapshot` itself, reassigned below
  {
    NoGradGuard off;
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved.params[i]);
    for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved.buffers[i]);
    nn::NamedTensors state;
    for (const auto& [name, t] : saved.optimizer_state) state.emplace_back(name, t.clone());
    optimizer.load_state(state, saved.optimizer_steps);
  }
  snapshot = saved;  // later rollbacks never go to a state newer than this one
  const double lr_new = lr_now * o.guard_lr_factor;
  optimizer.set_lr(lr_new);
  lr_scale *= o.guard_lr_factor;
  ema = saved.ema, ema_min = saved.ema_min, ema_n = saved.ema_n;
  ++rollbacks;
  for (LayerWindow& w : window) w = LayerWindow{};  // the window watched the abandoned state
  window_samples = 0, ratio_log_sum = 0.0, ratio_samples = 0;
  nlohmann::json ev = {{"step", step},        {"epoch", epoch},       {"reason", reason}, {"action", "rollback"},
                       {"restored_step", saved.step}, {"lr_before", lr_now}, {"lr", lr_new},     {"retry", rollbacks}};
  epoch_events.push_back(ev);
  ev["kind"] = "guard";
  log(ev);
  const std::string line = fmt::format("step {}: {} — rolled back to step {}, lr {} → {} (retry {} of {})", step,
                                       reason, saved.step, fmt_num(lr_now), fmt_num(lr_new), rollbacks, o.guard_retries);
  if (divergence && !fired.count("divergence"))
    fire("divergence",
         {.rule = "divergence", .step = step, .epoch = epoch, .value = lr_new,
          .message = "divergence at " + line + "; the learning rate is too high"},
         0);
  else if (print)
    print("guard: " + line);
  return StepAction::Skip;
}

std::string TrainingHealth::Impl::locate_nonfinite(const Tensor& x, const Tensor& y) {
  const std::string when = fmt::format("at step {} (epoch {})", step, epoch);
  if (!all_finite(x)) return fmt::format("the input batch holds {} {} — check the data", bad_kind(x), when);
  for (const auto& [name, p] : model.named_parameters())
    if (!all_finite(p)) return fmt::format("parameter {} holds {} {} (set by an earlier update)", name, bad_kind(p), when);
  // Replay the batch with every layer output kept: forward outputs and their gradients show where
  // the first NaN/Inf appeared. The gradients are recomputed, so nothing is lost.
  std::vector<Tensor> outs(model.size());
  model.set_observer([&](size_t i, const Tensor& out) {
    if (out.requires_grad()) out.retain_grad();
    outs[i] = out;
  });
  model.zero_grad();
  Tensor l;
  try {
    l = loss(model(x), y);
    if (l.requires_grad()) l.backward();
  } catch (...) {
    model.set_observer({});
    throw;
  }
  model.set_observer({});
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].defined() && !all_finite(outs[i]))
      return fmt::format("layer {} ({}) produced {} in the forward pass {}", i, layers[i].type, bad_kind(outs[i]), when);
  if (!std::isfinite(l.item()))
    return fmt::format("the loss ({}) produced {} from finite outputs {}", loss.name(), fmt_num(l.item()), when);
  for (size_t i = outs.size(); i-- > 0;) {
    if (!outs[i].defined() || !outs[i].requires_grad()) continue;
    if (!all_finite(outs[i].grad()))
      return i + 1 == outs.size()
                 ? fmt::format("the loss ({}) produced {} in the backward pass {}", loss.name(), bad_kind(outs[i].grad()), when)
                 : fmt::format("layer {} ({}) produced {} in the backward pass {}", i + 1, layers[i + 1].type,
                               bad_kind(outs[i].grad()), when);
    for (const Tensor& p : layers[i].params)
      if (!all_finite(p.grad()))
        return fmt::format("layer {} ({}) produced {} in the backward pass {}", i, layers[i].type, bad_kind(p.grad()), when);
  }
  return fmt::format("a non-finite value appeared {} but did not recur when the batch was replayed", when);
}

}  // namespace descent::diag
