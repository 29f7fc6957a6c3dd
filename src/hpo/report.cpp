// hpo/report.cpp — trials.csv, study.html and the summary of a study.
#include <fmt/format.h>

#include <cmath>
#include <fstream>

#include "descent/error.h"
#include "descent/hpo.h"
#include "hpo/space_util.h"
#include "hpo/svg.h"

namespace descent::hpo {
namespace {

constexpr std::string_view kComplete = "#1f77b4", kPruned = "#aaaaaa", kBest = "#d62728";

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string params_text(const Params& params) {
  std::string s;
  for (const auto& [k, v] : params) s += fmt::format("{}{}={}", s.empty() ? "" : " ", k, format_value(v));
  return s;
}

std::ofstream open_output(const std::filesystem::path& file) {
  std::ofstream out(file, std::ios::binary);
  if (!out) throw Error(fmt::format("{}: cannot write", file.string()));
  return out;
}

// A pruned trial has no objective; the plots show it at its last reported value.
std::optional<double> shown_value(const Trial& t) {
  if (t.state == TrialState::Complete) return t.value;
  if (t.state == TrialState::Pruned && !t.intermediate.empty()) return t.intermediate.rbegin()->second;
  return std::nullopt;
}

std::string objective_plot(const Study& study, std::span<const Trial> trials) {
  const std::string metric = study.metric.empty() ? "objective" : study.metric;
  SvgPlot plot("Objective per trial (red: best so far; x: pruned)", "trial", metric);
  for (const Trial& t : trials)
    if (auto v = shown_value(t)) plot.fit(t.number, *v);
  std::vector<std::pair<double, double>> best_line;
  std::optional<double> best;
  for (const Trial& t : trials) {
    const auto v = shown_value(t);
    if (!v) continue;
    const std::string tip =
        fmt::format("trial {} ({}): {}  {}", t.number, to_string(t.state), *v, params_text(t.params));
    if (t.state == TrialState::Complete) {
      plot.dot(t.number, *v, kComplete, tip);
      const bool better = !best || (study.direction == Direction::Minimize ? *v < *best : *v > *best);
      if (better) {
        if (best) best_line.emplace_back(t.number, *best);
        best = *v;
      }
      best_line.emplace_back(t.number, *best);
    } else {
      plot.cross(t.number, *v, kPruned, tip);
    }
  }
  if (best && !trials.empty()) best_line.emplace_back(trials.back().number, *best);
  plot.line(best_line, kBest, 2);
  return plot.render();
}

std::string param_plot(const ParamSpec& spec, const Study& study, std::span<const Trial> trials) {
  const bool categorical = spec.kind == ParamKind::Categorical;
  SvgPlot plot(spec.name, spec.name, study.metric.empty() ? "objective" : study.metric, is_log(spec));
  if (categorical) {
    std::vector<std::string> names;
    for (const Value& c : spec.choices) names.push_back(format_value(c));
    plot.set_x_names(names);
  }
  auto x_of = [&](const Value& v) -> double {
    if (categorical) return choice_index(spec, v);
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    return NAN;
  };
  for (const Trial& t : trials) {
    auto it = t.params.find(spec.name);
    if (auto v = shown_value(t); v && it != t.params.end()) plot.fit(x_of(it->second), *v);
  }
  if (categorical) {  // keep every choice on the axis even if no trial took it
    double y = 0;
    for (const Trial& t : trials)
      if (auto v = shown_value(t)) y = *v;
    plot.fit(0, y);
    plot.fit(static_cast<double>(spec.choices.size() - 1), y);
  }
  for (const Trial& t : trials) {
    auto it = t.params.find(spec.name);
    const auto v = shown_value(t);
    if (!v || it == t.params.end()) continue;
    const std::string tip = fmt::format("trial {} ({}): {}", t.number, to_string(t.state), *v);
    if (t.state == TrialState::Complete)
      plot.dot(x_of(it->second), *v, kComplete, tip);
    else
      plot.cross(x_of(it->second), *v, kPruned, tip);
  }
  return plot.render();
}

std::string curves_plot(const Study& study, std::span<const Trial> trials) {
  SvgPlot plot("Learning curves (blue: complete, grey/x: pruned)", "step",
               study.metric.empty() ? "value" : study.metric);
  for (const Trial& t : trials)
    for (const auto& [s, v] : t.intermediate) plot.fit(s, v);
  for (const TrialState state : {TrialState::Pruned, TrialState::Complete}) {  // complete on top
    for (const Trial& t : trials) {
      if (t.state != state) continue;
      std::vector<std::pair<double, double>> points;
      for (const auto& [s, v] : t.intermediate)
        if (std::isfinite(v)) points.emplace_back(s, v);
      const auto color = state == TrialState::Complete ? kComplete : kPruned;
      if (points.size() == 1)  // a one-point curve draws no line: most of ASHA's trials end so
        plot.cross(points[0].first, points[0].second, color, fmt::format("trial {}", t.number));
      else
        plot.line(points, color, 1.2);
    }
  }
  return plot.render();
}

}  // namespace

std::optional<int> best_trial(std::span<const Trial> trials, Direction direction) {
  std::optional<int> best;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const Trial& t = trials[i];
    if (t.state != TrialState::Complete || !t.value || !std::isfinite(*t.value)) continue;
    const double b = best ? *trials[static_cast<std::size_t>(*best)].value : 0;
    if (!best || (direction == Direction::Minimize ? *t.value < b : *t.value > b)) best = static_cast<int>(i);
  }
  return best;
}

void write_trials_csv(const std::filesystem::path& file, std::span<const Trial> trials, const SearchSpace& space) {
  std::ofstream out = open_output(file);
  out << "number,state,value";
  for (const ParamSpec& p : space.params) out << "," << csv_field(p.name);
  out << "\n";
  for (const Trial& t : trials) {
    out << t.number << "," << to_string(t.state) << ",";
    if (t.value) out << fmt::format("{}", *t.value);
    for (const ParamSpec& p : space.params) {
      out << ",";
      if (auto it = t.params.find(p.name); it != t.params.end()) out << csv_field(format_value(it->second));
    }
    out << "\n";
  }
  if (!out) throw Error(fmt::format("{}: write failed", file.string()));
}

void write_study_html(const std::filesystem::path& file, const Study& study, std::span<const Trial> trials) {
  std::ofstream out = open_output(file);
  const std::string title = fmt::format("Study {}", html_escape(study.name));
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << title << "</title><style>"
      << "body{font-family:sans-serif;margin:20px;color:#222}svg{margin:6px;background:#fff}"
      << "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
      << ".complete{color:#1f77b4}.pruned{color:#888}.failed{color:#d62728}</style></head><body>\n";
  out << "<h1>" << title << "</h1>\n<pre>" << html_escape(summary(study, trials)) << "</pre>\n";
  out << objective_plot(study, trials) << curves_plot(study, trials) << "\n<h2>Parameters</h2>\n";
  for (const ParamSpec& p : study.space.params) out << param_plot(p, study, trials);
  out << "\n<h2>Trials</h2>\n<table><tr><th>number</th><th>state</th><th>value</th><th>steps</th>";
  for (const ParamSpec& p : study.space.params) out << "<th>" << html_escape(p.name) << "</th>";
  out << "<th>note</th></tr>\n";
  for (const Trial& t : trials) {
    out << fmt::format("<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>", to_string(t.state), t.number,
                       to_string(t.state), t.value ? fmt::format("{:.6g}", *t.value) : "", t.intermediate.size());
    for (const ParamSpec& p : study.space.params) {
      auto it = t.params.find(p.name);
      out << "<td>" << (it == t.params.end() ? "" : html_escape(format_value(it->second))) << "</td>";
    }
    out << "<td>" << html_escape(t.message) << "</td></tr>\n";
  }
  out << "</table>\n</body></html>\n";
  if (!out) throw Error(fmt::format("{}: write failed", file.string()));
}

std::string summary(const Study& study, std::span<const Trial> trials) {
  int counts[static_cast<int>(TrialState::Count)] = {};
  for (const Trial& t : trials) ++counts[static_cast<int>(t.state)];
  std::string s =
      fmt::format("study '{}': {} trials ({} complete, {} pruned, {} failed", study.name, trials.size(),
                  counts[static_cast<int>(TrialState::Complete)], counts[static_cast<int>(TrialState::Pruned)],
                  counts[static_cast<int>(TrialState::Failed)]);
  if (int w = counts[static_cast<int>(TrialState::Waiting)] + counts[static_cast<int>(TrialState::Running)])
    s += fmt::format(", {} unfinished", w);
  s += ")\n";
  int steps = 0;
  for (const Trial& t : trials) steps += static_cast<int>(t.intermediate.size());
  s += fmt::format("steps run: {}\n", steps);
  const auto best = best_trial(trials, study.direction);
  if (!best) return s + "no trial completed\n";
  const Trial& b = trials[static_cast<std::size_t>(*best)];
  s += fmt::format("best: trial {}, {} = {}\n", b.number, study.metric.empty() ? "value" : study.metric, *b.value);
  for (const auto& [k, v] : b.params) s += fmt::format("  {} = {}\n", k, format_value(v));
  return s;
}

}  // namespace descent::hpo
