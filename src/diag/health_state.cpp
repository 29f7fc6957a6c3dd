// TrainingHealth's state in and out of checkpoints (descent/io.h): the guard's smoothed loss and
// its minimum, rollbacks and lr scale, its three snapshots (the last good state, the one when the
// open window began, the last one followed by a window without dead units: weights, buffers and
// optimizer state, each stored once however many of them share it), the monitor's open window,
// the verdicts fired and the epoch's events — so a resumed run judges and rolls back exactly as the
// uninterrupted run would.
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <map>

#include "diag/health_impl.h"
#include "io/json_number.h"

namespace descent::diag {

namespace {

using nlohmann::json;

json num(double v) { return io::json_number(v); }
double num(const json& j) { return io::number_from_json(j, "health state"); }

constexpr const char* kSnapshots[] = {"snapshot", "window_snapshot", "alive_snapshot"};

using Snapshots = std::array<const Snapshot*, 3>;  // in kSnapshots order

// Index of an earlier snapshot holding the very same tensors as snapshot k (assignments share
// them), or -1.
int shared_with(const Snapshots& all, size_t k) {
  const Snapshot& a = *all[k];
  if (!a.valid || a.params.empty()) return -1;
  for (size_t j = 0; j < k; ++j) {
    const Snapshot& b = *all[j];
    if (b.valid && !b.params.empty() && b.params[0].is_same(a.params[0]) && b.step == a.step) return static_cast<int>(j);
  }
  return -1;
}

}  // namespace

nn::NamedTensors TrainingHealth::state_tensors() const {
  const Impl& s = *impl_;
  const Snapshots all{&s.snapshot, &s.window_snapshot, &s.alive_snapshot};
  nn::NamedTensors out;
  for (size_t k = 0; k < 3; ++k) {
    const Snapshot& sn = *all[k];
    if (!sn.valid || shared_with(all, k) >= 0) continue;
    const std::string p = kSnapshots[k];
    for (size_t i = 0; i < sn.params.size(); ++i) out.emplace_back(fmt::format("{}.param.{}", p, i), sn.params[i]);
    for (size_t i = 0; i < sn.buffers.size(); ++i) out.emplace_back(fmt::format("{}.buffer.{}", p, i), sn.buffers[i]);
    for (const auto& [name, t] : sn.optimizer_state) out.emplace_back(fmt::format("{}.optimizer.{}", p, name), t);
  }
  return out;
}

std::string TrainingHealth::save_state() const {
  const Impl& s = *impl_;
  json windows = json::array();
  for (const LayerWindow& w : s.window)
    windows.push_back({{"alive", w.alive}, {"saturated_sum", num(w.saturated_sum)}, {"grad_samples", w.grad_samples},
                       {"zero_grad_samples", w.zero_grad_samples}, {"update_ratio_sum", num(w.update_ratio_sum)},
                       {"update_samples", w.update_samples}});
  json verdicts = json::array();
  for (const Verdict& v : s.verdicts)
    verdicts.push_back({{"rule", v.rule}, {"layer", v.layer}, {"step", v.step}, {"epoch", v.epoch},
                        {"value", num(v.value)}, {"message", v.message}});
  json j = {{"step", s.step},
            {"epoch", s.epoch},
            {"window", windows},
            {"window_samples", s.window_samples},
            {"window_epoch", s.window_epoch},
            {"ratio_log_sum", num(s.ratio_log_sum)},
            {"ratio_samples", s.ratio_samples},
            {"start_histograms", s.start_histograms},
            {"end_histograms", s.end_histograms},
            {"verdicts", verdicts},
            {"fired", s.fired},
            {"epoch_severity", s.epoch_severity},
            {"epoch_events", s.epoch_events},
            {"ema", num(s.ema)},
            {"ema_min", num(s.ema_min)},
            {"ema_first", num(s.ema_first)},
            {"ema_n", s.ema_n},
            {"lr_scale", num(s.lr_scale)},
            {"first_lr", num(s.first_lr)},
            {"rollbacks", s.rollbacks},
            {"nonfinite_seen", s.nonfinite_seen},
            {"give_up", s.give_up}};
  json snaps = json::object();
  const Snapshots all{&s.snapshot, &s.window_snapshot, &s.alive_snapshot};
  for (size_t k = 0; k < 3; ++k) {
    const Snapshot& sn = *all[k];
    const int shared = shared_with(all, k);
    json names = json::array();
    for (const auto& [name, t] : sn.optimizer_state) names.push_back(name);
    snaps[kSnapshots[k]] = {{"valid", sn.valid}, {"step", sn.step}, {"optimizer_steps", sn.optimizer_steps},
                            {"ema", num(sn.ema)}, {"ema_min", num(sn.ema_min)}, {"ema_n", sn.ema_n},
                            {"params", sn.params.size()}, {"buffers", sn.buffers.size()}, {"optimizer", names},
                            {"same_as", shared >= 0 ? json(kSnapshots[shared]) : json(nullptr)}};
  }
  j["snapshots"] = snaps;
  return j.dump();
}

void TrainingHealth::load_state(const std::string& text, const nn::NamedTensors& tensors) {
  Impl& s = *impl_;
  try {
    const json j = json::parse(text);
    const json& windows = j.at("window");
    if (windows.size() != s.window.size())
      throw Error(fmt::format("health state of {} layers, the model has {}", windows.size(), s.window.size()));
    for (size_t i = 0; i < s.window.size(); ++i) {
      const json& w = windows[i];
      LayerWindow& lw = s.window[i];
      lw.alive = w.at("alive").get<std::vector<uint8_t>>();
      lw.saturated_sum = num(w.at("saturated_sum"));
      lw.grad_samples = w.at("grad_samples").get<int64_t>();
      lw.zero_grad_samples = w.at("zero_grad_samples").get<int64_t>();
      lw.update_ratio_sum = num(w.at("update_ratio_sum"));
      lw.update_samples = w.at("update_samples").get<int64_t>();
    }
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.window_samples = j.at("window_samples").get<int64_t>();
    s.window_epoch = j.at("window_epoch").get<int64_t>();
    s.ratio_log_sum = num(j.at("ratio_log_sum"));
    s.ratio_samples = j.at("ratio_samples").get<int64_t>();
    s.start_histograms = j.at("start_histograms");
    s.end_histograms = j.at("end_histograms");
    s.verdicts.clear();
    for (const json& v : j.at("verdicts"))
      s.verdicts.push_back({.rule = v.at("rule").get<std::string>(), .layer = v.at("layer").get<int64_t>(),
                            .step = v.at("step").get<int64_t>(), .epoch = v.at("epoch").get<int64_t>(),
                            .value = num(v.at("value")), .message = v.at("message").get<std::string>()});
    s.fired = j.at("fired").get<std::set<std::string>>();
    s.epoch_severity = j.at("epoch_severity").get<int>();
    s.epoch_events = j.at("epoch_events");
    s.ema = num(j.at("ema"));
    s.ema_min = num(j.at("ema_min"));
    s.ema_first = num(j.at("ema_first"));
    s.ema_n = j.at("ema_n").get<int64_t>();
    s.lr_scale = num(j.at("lr_scale"));
    s.first_lr = num(j.at("first_lr"));
    s.rollbacks = j.at("rollbacks").get<int64_t>();
    s.nonfinite_seen = j.at("nonfinite_seen").get<bool>();
    s.give_up = j.at("give_up").get<std::string>();
    std::map<std::string, Tensor> by_name(tensors.begin(), tensors.end());
    auto tensor = [&](const std::string& name) {
      auto it = by_name.find(name);
      if (it == by_name.end()) throw Error(fmt::format("health state: tensor '{}' is missing", name));
      return it->second;
    };
    const std::array<Snapshot*, 3> all{&s.snapshot, &s.window_snapshot, &s.alive_snapshot};
    for (size_t k = 0; k < 3; ++k) {
      const json& js = j.at("snapshots").at(kSnapshots[k]);
      Snapshot& sn = *all[k];
      if (!js.at("same_as").is_null()) {  // shares an earlier one's tensors, as it did when saved
        const std::string other = js.at("same_as").get<std::string>();
        for (size_t o = 0; o < k; ++o)
          if (other == kSnapshots[o]) sn = *all[o];
        continue;
      }
      sn = Snapshot{};
      sn.valid = js.at("valid").get<bool>();
      if (!sn.valid) continue;
      sn.step = js.at("step").get<int64_t>();
      sn.optimizer_steps = js.at("optimizer_steps").get<int64_t>();
      sn.ema = num(js.at("ema"));
      sn.ema_min = num(js.at("ema_min"));
      sn.ema_n = js.at("ema_n").get<int64_t>();
      const std::string p = kSnapshots[k];
      if (js.at("params").get<size_t>() != s.params.size() || js.at("buffers").get<size_t>() != s.buffers.size())
        throw Error(fmt::format("health state: {} holds {} parameters and {} buffers, the model has {} and {}", p,
                                js.at("params").get<size_t>(), js.at("buffers").get<size_t>(), s.params.size(),
                                s.buffers.size()));
      for (size_t i = 0; i < s.params.size(); ++i) sn.params.push_back(tensor(fmt::format("{}.param.{}", p, i)));
      for (size_t i = 0; i < s.buffers.size(); ++i) sn.buffers.push_back(tensor(fmt::format("{}.buffer.{}", p, i)));
      for (const json& name : js.at("optimizer"))
        sn.optimizer_state.emplace_back(name.get<std::string>(), tensor(fmt::format("{}.optimizer.{}", p, name.get<std::string>())));
    }
  } catch (const json::exception& e) {
    throw Error(fmt::format("health state is incomplete ({})", e.what()));
  }
}

}  // namespace descent::diag
