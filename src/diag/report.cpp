// report.html: one self-contained page (inline SVG and CSS, no scripts, no fetched fonts) built
// only from the files of a run folder, so `descent report RUN_DIR` can rebuild it at any time.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "descent/diag.h"
#include "diag/stats.h"
#include "diag/svg.h"

namespace descent::diag {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Lines of a .jsonl file; a torn last line (a run killed mid-write) is skipped.
std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

double num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

// One colour per split in every chart (train blue, validation green, test orange).
std::string split_color(const std::string& name) {
  if (name.rfind("train", 0) == 0) return svg::palette(0);
  if (name == "validation") return svg::palette(2);
  if (name == "test") return svg::palette(1);
  return "";
}

svg::Series series_of(const std::vector<json>& lines, const char* x, const char* y, std::string name, bool markers) {
  svg::Series s{.name = name, .color = split_color(name), .markers = markers};
  for (const json& j : lines) s.x.push_back(num(j, x)), s.y.push_back(num(j, y));
  return s;
}

bool has_values(const svg::Series& s) {
  for (double v : s.y)
    if (std::isfinite(v)) return true;
  return false;
}

std::vector<svg::Series> nonempty(std::vector<svg::Series> v) {
  std::vector<svg::Series> out;
  for (auto& s : v)
    if (has_values(s)) out.push_back(std::move(s));
  return out;
}

// One series per layer of `field` in the health samples, for layers where it is ever a number.
std::vector<svg::Series> layer_series(const std::vector<json>& samples, const char* field) {
  std::map<int64_t, svg::Series> by_layer;
  for (const json& j : samples) {
    const double step = num(j, "step");
    for (const json& l : j.value("layers", json::array())) {
      const double v = num(l, field);
      const int64_t i = l.value("layer", int64_t{-1});
      svg::Series& s = by_layer[i];
      if (s.name.empty()) s.name = fmt::format("{} {}", i, l.value("type", std::string()));
      s.x.push_back(step), s.y.push_back(v);
    }
  }
  std::vector<svg::Series> out;
  for (auto& [i, s] : by_layer)
    if (has_values(s)) out.push_back(std::move(s));
  for (size_t k = 0; k < out.size(); ++k) out[k].color = svg::palette(k);
  return out;
}

std::string histogram_table(const json& start, const json& end) {
  const json& ref = !start.is_null() ? start : end;
  if (ref.is_null()) return "<p class=\"muted\">No histograms (the monitor was off).</p>\n";
  static const std::vector<std::string> kAct = {"relu", "sigmoid", "tanh", "leakyrelu", "elu", "gelu", "selu", "softplus"};
  std::vector<size_t> cols;
  const json& layers = ref["layers"];
  for (size_t i = 0; i < layers.size(); ++i)
    if (std::find(kAct.begin(), kAct.end(), layers[i].value("type", std::string())) != kAct.end()) cols.push_back(i);
  if (cols.empty())
    for (size_t i = 0; i < layers.size(); ++i) cols.push_back(i);
  std::string h = "<div class=\"wrap\"><table class=\"hist\"><tr><th></th>";
  for (size_t c : cols) h += fmt::format("<th>layer {} ({})</th>", c, html_escape(layers[c].value("type", std::string())));
  h += "</tr>\n";
  int row = 0;
  for (const json* which : {&start, &end}) {
    const std::string label = row == 0 ? "start" : "end";
    const std::string color = svg::palette(row == 0 ? 0 : 1);
    ++row;
    if (which->is_null()) continue;
    h += fmt::format("<tr><th>{}<br><span class=\"muted\">step {}</span></th>", label, (*which).value("step", int64_t{0}));
    for (size_t c : cols) {
      const json& l = (*which)["layers"].at(c);
      std::vector<int64_t> counts = l.value("counts", std::vector<int64_t>{});
      h += "<td>" + svg::histogram(counts, num(l, "lo"), num(l, "hi"), 140, 70, color) + "</td>";
    }
    h += "</tr>\n";
  }
  return h + "</table></div>\n";
}

}  // namespace

std::string write_report(const std::string& run_dir, const std::string& out_path) {
  const fs::path dir(run_dir);
  if (!fs::exists(dir / "metrics.jsonl") && !fs::exists(dir / "manifest.json"))
    throw Error(fmt::format("{}: not a run folder (no manifest.json or metrics.jsonl)", run_dir));
  const json manifest = json::parse(read_text(dir / "manifest.json"), nullptr, false);
  const std::string config = read_text(dir / "config.toml");
  const std::vector<json> metrics = read_jsonl(dir / "metrics.jsonl");
  const std::vector<json> steps = read_jsonl(dir / "steps.jsonl");
  std::vector<json> samples, verdicts, guards, nonfinite;
  json start_hist, end_hist;
  for (json& j : read_jsonl(dir / "health.jsonl")) {
    const std::string kind = j.value("kind", std::string());
    if (kind == "sample") samples.push_back(std::move(j));
    else if (kind == "verdict") verdicts.push_back(std::move(j));
    else if (kind == "guard") guards.push_back(std::move(j));
    else if (kind == "nonfinite") nonfinite.push_back(std::move(j));
    else if (kind == "histograms" && j.value("which", std::string()) == "start") start_hist = std::move(j);
    else if (kind == "histograms") end_hist = std::move(j);
  }
  const bool m_ok = manifest.is_object();
  const std::string name = fs::path(run_dir).filename().string().empty() ? run_dir : fs::path(run_dir).filename().string();
  const std::string status = m_ok ? manifest.value("status", std::string("unknown")) : "unknown";

  std::string h = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>descent report: {0}</title>\n<style>\n"
      "body{{font-family:sans-serif;color:#222;margin:0 auto;max-width:1240px;padding:12px 20px}}\n"
      "h1{{font-size:22px;margin:6px 0}} h2{{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:22px}}\n"
      ".grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:10px}}\n"
      "svg{{max-width:100%;height:auto}} table{{border-collapse:collapse;font-size:12px}}\n"
      "td,th{{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}} th{{background:#f5f5f5}}\n"
      ".muted{{color:#777;font-weight:normal}} .wrap{{overflow-x:auto}}\n"
      ".verdict{{border-left:5px solid #b3261e;background:#fdf0ef;padding:5px 10px;margin:4px 0}}\n"
      ".verdict.warn{{border-color:#b35900;background:#fdf6ec}} .ok{{border-left:5px solid #1a7f37;background:#eef8f0;padding:5px 10px}}\n"
      ".status{{display:inline-block;padding:1px 8px;border-radius:3px;color:#fff;background:#1a7f37}}\n"
      ".status.failed,.status.running{{background:#b3261e}} pre{{background:#f7f7f7;padding:8px;font-size:11px;white-space:pre-wrap;overflow-wrap:anywhere}}\n"
      "@media print{{body{{max-width:none;padding:0}} .grid{{grid-template-columns:1fr 1fr}} h2,.verdict,svg,table{{break-inside:avoid}}"
      " .wrap{{overflow:visible}}}}\n"
      "</style></head><body>\n<h1>descent run report: {0}</h1>\n",
      html_escape(name));

  // Summary.
  h += "<table>";
  auto row = [&](const std::string& k, const std::string& v) {
    h += fmt::format("<tr><th>{}</th><td>{}</td></tr>", html_escape(k), v);
  };
  row("status", fmt::format("<span class=\"status {0}\">{0}</span>", html_escape(status)));
  if (m_ok) {
    if (manifest.contains("error")) row("error", html_escape(manifest.value("error", std::string())));
    row("config", html_escape(manifest.value("config", std::string())));
    row("started / ended", html_escape(manifest.value("start_time", std::string()) + " / " +
                                       manifest.value("end_time", std::string("-"))));
  }
  if (!metrics.empty()) {
    const json& last = metrics.back();
    std::string v = fmt::format("epoch {}, step {}, train loss {}", last.value("epoch", 0), last.value("step", 0),
                                fmt_num(num(last, "train_loss")));
    for (const char* k : {"train_acc", "val_loss", "val_acc", "test_loss", "test_acc"})
      if (std::isfinite(num(last, k))) v += fmt::format(", {} {}", k, fmt_num(num(last, k)));
    row("last epoch", html_escape(v));
  }
  h += "</table>\n";

  // Verdicts, guard events, non-finite values.
  h += "<h2>Verdicts</h2>\n";
  if (verdicts.empty())
    h += samples.empty() ? "<p class=\"muted\">The health monitor recorded nothing (off, or the run stopped before its "
                           "first sample).</p>\n"
                         : "<div class=\"ok\">No verdict fired: no dead or saturated units, zero or exploding/vanishing "
                           "gradients, or too large updates were seen.</div>\n";
  for (const json& v : verdicts) {
    const std::string rule = v.value("rule", std::string());
    const bool severe = rule == "dead" || rule == "diverged" || rule == "nonfinite" || rule == "zero_gradient";
    h += fmt::format("<div class=\"verdict{}\"><b>{}</b> <span class=\"muted\">(step {}, epoch {})</span><br>{}</div>\n",
                     severe ? "" : " warn", html_escape(rule), v.value("step", 0), v.value("epoch", 0),
                     html_escape(v.value("message", std::string())));
  }
  h += "<h2>Divergence guard and non-finite values</h2>\n";
  if (guards.empty() && nonfinite.empty()) h += "<p class=\"muted\">No rollback, no NaN/Inf.</p>\n";
  if (!guards.empty()) {
    h += "<table><tr><th>step</th><th>epoch</th><th>action</th><th>reason</th><th>restored step</th><th>lr</th></tr>\n";
    for (const json& g : guards)
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td></tr>\n",
                       g.value("step", 0), g.value("epoch", 0), html_escape(g.value("action", std::string())),
                       html_escape(g.value("reason", std::string())),
                       g.contains("restored_step") ? std::to_string(g.value("restored_step", 0)) : "-",
                       fmt_num(num(g, g.contains("lr_before") ? "lr_before" : "lr")), fmt_num(num(g, "lr")));
    h += "</table>\n";
  }
  for (const json& n : nonfinite) h += fmt::format("<div class=\"verdict\">{}</div>\n", html_escape(n.value("message", std::string())));

  // Curves on one step axis: per-step samples as lines, per-epoch evaluations as dots.
  h += "<h2>Training curves</h2>\n<div class=\"grid\">\n";
  svg::Series step_loss = steps.empty() ? series_of(samples, "step", "loss", "train (steps)", false)
                                        : series_of(steps, "step", "loss", "train (steps)", false);
  step_loss.color = "#9bbcd8";
  h += svg::line_chart(nonempty({step_loss, series_of(metrics, "step", "train_loss", "train", true),
                                 series_of(metrics, "step", "val_loss", "validation", true),
                                 series_of(metrics, "step", "test_loss", "test", true)}),
                       {.title = "loss", .x_label = "step", .y_label = "loss", .x_zero = true});
  h += svg::line_chart(nonempty({series_of(metrics, "step", "train_acc", "train", true),
                                 series_of(metrics, "step", "val_acc", "validation", true),
                                 series_of(metrics, "step", "test_acc", "test", true)}),
                       {.title = "accuracy", .x_label = "step", .y_label = "accuracy", .x_zero = true});
  svg::Series lr = !steps.empty() ? series_of(steps, "step", "lr", "lr", false)
                   : !samples.empty() ? series_of(samples, "step", "lr", "lr", false)
                                      : series_of(metrics, "step", "lr", "lr", true);
  h += svg::line_chart(nonempty({lr}), {.title = "learning rate", .x_label = "step", .y_label = "lr", .x_zero = true});
  h += svg::line_chart(nonempty({series_of(samples, "step", "grad_ratio", "first / last layer", true)}),
                       {.title = "gradient flow: first/last layer gradient norm", .x_label = "step", .y_label = "ratio", .log_y = true, .x_zero = true});
  h += "</div>\n<h2>Per-layer health over time</h2>\n";
  if (samples.empty()) h += "<p class=\"muted\">No monitor samples ([health] enabled = false).</p>\n";
  h += "<div class=\"grid\">\n";
  struct LayerChart {
    const char* field;
    const char* title;
    const char* y_label;
    bool log_y;
  };
  // A chart only where some layer has the number (no "saturated" chart for a ReLU network).
  for (const LayerChart& c : {LayerChart{"dead", "dead ReLU units (zero on the whole window)", "fraction", false},
                              LayerChart{"saturated", "saturated units (tanh/sigmoid)", "fraction", false},
                              LayerChart{"grad_norm", "gradient norm per layer", "‖∇W‖", true},
                              LayerChart{"update_ratio", "update/weight ratio ‖Δw‖/‖w‖ (healthy ≈ 1e-3)", "ratio", true},
                              LayerChart{"act_std", "activation std per layer", "std", true}}) {
    std::vector<svg::Series> series = layer_series(samples, c.field);
    if (!series.empty())
      h += svg::line_chart(series, {.title = c.title, .x_label = "step", .y_label = c.y_label, .log_y = c.log_y, .x_zero = true});
  }
  h += "</div>\n<h2>Activation histograms at start and end</h2>\n" + histogram_table(start_hist, end_hist);

  h += "<h2>Config</h2>\n<pre>" + html_escape(config.empty() ? "(no config.toml)" : config) + "</pre>\n";
  h += "<h2>Manifest</h2>\n<pre>" + html_escape(m_ok ? manifest.dump(2) : "(no manifest.json)") + "</pre>\n";
  h += "</body></html>\n";

  const fs::path target = out_path.empty() ? dir / "report.html" : fs::path(out_path);
  const fs::path tmp = target.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw Error(fmt::format("{}: cannot write", target.string()));
    out << h;
    if (!out.flush()) throw Error(fmt::format("{}: write failed", target.string()));
  }
  fs::rename(tmp, target);
  return target.string();
}

}  // namespace descent::diag
