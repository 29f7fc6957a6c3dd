// The lecture's initialization experiment on the user's own network: one batch through the
// untrained model, per-layer activation statistics and histograms, a verdict per init.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "descent/autograd.h"
#include "descent/diag.h"
#include "diag/stats.h"
#include "diag/svg.h"

namespace descent::diag {
namespace {

// Layers whose output is an activation (the columns of the classic figure).
bool is_activation(const std::string& type) {
  static const char* kTypes[] = {"relu", "sigmoid", "tanh", "leakyrelu", "elu", "gelu", "selu", "softplus"};
  return std::find(std::begin(kTypes), std::end(kTypes), type) != std::end(kTypes);
}

std::vector<size_t> figure_layers(const InitCheckResult& r) {
  std::vector<size_t> cols;
  for (size_t i = 0; i < r.layers.size(); ++i)
    if (is_activation(r.layers[i].type)) cols.push_back(i);
  if (cols.empty())
    for (size_t i = 0; i < r.layers.size(); ++i) cols.push_back(i);
  return cols;
}

void judge(InitCheckResult& r, const std::vector<double>& dead, const InitCheckOptions& o) {
  for (const LayerActivation& a : r.layers)
    if (!std::isfinite(a.std) || !std::isfinite(a.mean)) {
      r.verdict = "exploding";
      r.reason = fmt::format("layer {} ({}) output is not finite", a.layer, a.type);
      return;
    }
  for (const LayerActivation& a : r.layers)
    if (std::isfinite(a.saturated) && a.saturated >= o.saturated_threshold) {
      r.verdict = "saturated";
      r.reason = fmt::format("layer {} ({}): {:.0f}% of outputs saturated", a.layer, a.type, 100 * a.saturated);
      return;
    }
  for (size_t i = 0; i < r.layers.size(); ++i)
    if (dead[i] >= o.dead_threshold) {
      r.verdict = "dead";
      r.reason = fmt::format("layer {} (relu): {:.0f}% of units are zero on every sample", r.layers[i].layer,
                             100 * dead[i]);
      return;
    }
  const std::vector<size_t> cols = figure_layers(r);
  const LayerActivation& first = r.layers[cols.front()];
  const LayerActivation& last = r.layers[cols.back()];
  double lo = INFINITY, hi = 0.0;
  for (size_t c : cols) lo = std::min(lo, r.layers[c].std), hi = std::max(hi, r.layers[c].std);
  const std::string range = fmt::format("activation std from {} (layer {}) to {} (layer {})", fmt_num(first.std),
                                        first.layer, fmt_num(last.std), last.layer);
  if (last.std * o.depth_ratio < first.std) {
    r.verdict = "vanishing", r.reason = range;
  } else if (last.std > o.depth_ratio * first.std) {
    r.verdict = "exploding", r.reason = range;
  } else {
    r.verdict = "healthy";
    r.reason = fmt::format("activation std between {} and {} in every layer", fmt_num(lo), fmt_num(hi));
  }
}

}  // namespace

InitCheckResult init_check(nn::Sequential& model, const Tensor& x, const Tensor& y, const loss::Loss& loss,
                           const std::string& init, const InitCheckOptions& o) {
  std::vector<Tensor> outs(model.size());
  model.set_observer([&](size_t i, const Tensor& out) {
    if (out.requires_grad()) out.retain_grad();
    outs[i] = out;
  });
  model.zero_grad();
  try {
    Tensor l = loss(model(x), y);
    if (l.requires_grad()) l.backward();
  } catch (...) {
    model.set_observer({});
    throw;
  }
  model.set_observer({});
  model.zero_grad();

  InitCheckResult r;
  r.init = init;
  std::vector<double> dead;
  for (size_t i = 0; i < outs.size(); ++i) {
    const nn::Module& m = *model.at(i);
    const LayerKind kind = layer_kind(m);
    const OutputStats s = output_stats(outs[i], kind);
    LayerActivation a;
    a.layer = static_cast<int64_t>(i);
    a.type = layer_type(m);
    a.mean = s.nonfinite ? NAN : s.mean;
    a.std = s.nonfinite ? NAN : s.std;
    a.saturated = kind == LayerKind::Tanh || kind == LayerKind::Sigmoid
                      ? static_cast<double>(s.saturated) / static_cast<double>(std::max<int64_t>(s.count, 1))
                      : NAN;
    a.zero_frac = static_cast<double>(s.zeros) / static_cast<double>(std::max<int64_t>(s.count, 1));
    a.grad_std = outs[i].requires_grad() ? tensor_std(outs[i].grad()) : NAN;
    histogram_range(kind, s, a.lo, a.hi);
    a.counts = histogram(outs[i], a.lo, a.hi, o.bins);
    double d = 0.0;
    if (kind == LayerKind::Relu) {
      std::vector<uint8_t> alive;
      mark_alive(outs[i], alive);
      d = alive.empty() ? 0.0
                        : static_cast<double>(std::count(alive.begin(), alive.end(), 0)) / static_cast<double>(alive.size());
    }
    dead.push_back(d);
    r.layers.push_back(std::move(a));
  }
  if (r.layers.empty()) throw Error("init-check: the model has no layers");
  judge(r, dead, o);
  return r;
}

std::string init_check_json(const std::vector<InitCheckResult>& results) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json list = nlohmann::json::array();
  for (const InitCheckResult& r : results)
    for (const LayerActivation& a : r.layers)
      list.push_back({{"init", r.init},           {"layer", a.layer},         {"type", a.type},
                      {"mean", num(a.mean)},      {"std", num(a.std)},        {"saturated", num(a.saturated)},
                      {"zero_frac", num(a.zero_frac)}, {"grad_std", num(a.grad_std)}, {"verdict", r.verdict}});
  return list.dump(1) + "\n";
}

std::string init_check_html(const std::vector<InitCheckResult>& results, const std::string& title) {
  std::string h = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>init-check: {0}</title>\n<style>\n"
      "body{{font-family:sans-serif;margin:16px;color:#222}} table{{border-collapse:collapse}}\n"
      "td,th{{border:1px solid #ddd;padding:4px;vertical-align:top;font-size:11px}} th{{background:#f4f4f4}}\n"
      ".v{{font-weight:bold;padding:1px 6px;border-radius:3px;color:#fff}} .healthy{{background:#1a7f37}}\n"
      ".vanishing,.exploding{{background:#b35900}} .saturated,.dead{{background:#b3261e}}\n"
      ".wrap{{overflow-x:auto}} @media print{{.wrap{{overflow:visible}} td,th{{font-size:9px}}}}\n"
      "</style></head><body>\n<h1>Initialization check: {0}</h1>\n"
      "<p>One batch through the untrained network per initialization: the histogram of each activation layer's "
      "output (square-root heights), its mean (μ), standard deviation (σ), the saturated fraction (|tanh| &gt; 0.99, "
      "sigmoid outside [0.01, 0.99]) and the fraction of zero outputs.</p>\n",
      html_escape(title));
  h += "<h2>Verdicts</h2>\n<table><tr><th>init</th><th>verdict</th><th>why</th></tr>\n";
  for (const InitCheckResult& r : results)
    h += fmt::format("<tr><td>{}</td><td><span class=\"v {}\">{}</span></td><td>{}</td></tr>\n", html_escape(r.init),
                     r.verdict, r.verdict, html_escape(r.reason));
  h += "</table>\n";

  std::vector<svg::Series> std_series;
  for (size_t k = 0; k < results.size(); ++k) {
    svg::Series s{.name = results[k].init, .markers = true};
    for (size_t c : figure_layers(results[k]))
      s.x.push_back(static_cast<double>(results[k].layers[c].layer)), s.y.push_back(results[k].layers[c].std);
    std_series.push_back(std::move(s));
  }
  h += "<h2>Activation std by depth</h2>\n" +
       svg::line_chart(std_series, {.title = "activation std per layer", .x_label = "layer", .y_label = "std",
                                    .log_y = true, .width = 720, .height = 300});

  h += "<h2>Activation histograms</h2>\n<div class=\"wrap\"><table>\n<tr><th>init</th>";
  const std::vector<size_t> cols = figure_layers(results.front());
  for (size_t c : cols)
    h += fmt::format("<th>layer {} ({})</th>", results.front().layers[c].layer, results.front().layers[c].type);
  h += "</tr>\n";
  for (size_t k = 0; k < results.size(); ++k) {
    const InitCheckResult& r = results[k];
    h += fmt::format("<tr><th>{}<br><span class=\"v {}\">{}</span></th>", html_escape(r.init), r.verdict, r.verdict);
    for (size_t c : cols) {
      if (c >= r.layers.size()) break;
      const LayerActivation& a = r.layers[c];
      h += "<td>" + svg::histogram(a.counts, a.lo, a.hi, 130, 70, svg::palette(k));
      h += fmt::format("μ {} σ {}", fmt_num(a.mean), fmt_num(a.std));
      if (std::isfinite(a.saturated)) h += fmt::format("<br>sat {:.0f}%", 100 * a.saturated);
      if (a.type == "relu") h += fmt::format("<br>zero {:.0f}%", 100 * a.zero_frac);
      h += "</td>";
    }
    h += "</tr>\n";
  }
  h += "</table></div>\n</body></html>\n";
  return h;
}

}  // namespace descent::diag
