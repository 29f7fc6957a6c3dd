#include "diag/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "diag/stats.h"

namespace descent::diag::svg {
namespace {

// "Nice" ticks (1, 2, 5 × 10^k) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target) {
  const double span = hi - lo;
  const double raw = span / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::string tick_label(double v, bool log) {
  if (log) return fmt::format("1e{}", static_cast<int>(std::lround(v)));
  // Steps are whole numbers: 4000, not 4e+03.
  if (std::abs(v) >= 1000 && std::abs(v) < 1e7 && v == std::round(v)) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt_num(v);
}

}  // namespace

std::string palette(size_t i) {
  // Okabe-Ito, readable for colour-blind readers and in grey print.
  static const char* kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};
  return kColors[i % (sizeof kColors / sizeof kColors[0])];
}

std::string line_chart(const std::vector<Series>& series, const ChartOptions& o) {
  const double left = 62, right = 12, top = 30, bottom = 40;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto ty = [&](double v) { return o.log_y ? (v > 0 ? std::log10(v) : NAN) : v; };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double y = ty(s.y[i]);
      if (!std::isfinite(s.x[i]) || !std::isfinite(y)) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" "
      "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n<title>{2}</title>\n"
      "<text x=\"{3}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{2}</text>\n",
      o.width, o.height, html_escape(o.title), left);
  if (!std::isfinite(x0)) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#777\" text-anchor=\"middle\">no data</text>\n</svg>\n",
                       o.width / 2, o.height / 2);
    return out;
  }
  if (o.x_zero) x0 = std::min(x0, 0.0);
  if (x1 <= x0) x0 -= 0.5, x1 += 0.5;
  if (y1 <= y0) {
    const double pad = o.log_y ? 0.5 : std::max(std::abs(y0) * 0.1, 1e-12);
    y0 -= pad, y1 += pad;
  } else {
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
  }
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };

  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", left, top, pw, ph);
  // Tick positions (in axis units) and labels: decades on a log axis spanning more than one,
  // else round values of the data's own units.
  std::vector<std::pair<double, std::string>> yt;
  if (o.log_y && y1 - y0 >= 1.5) {
    for (double d = std::ceil(y0); d <= std::floor(y1); d += std::max(1.0, std::ceil((y1 - y0) / 6)))
      yt.emplace_back(d, tick_label(d, true));
  } else if (o.log_y) {
    for (double v : nice_ticks(std::pow(10.0, y0), std::pow(10.0, y1), 4))
      if (v > 0) yt.emplace_back(std::log10(v), fmt_num(v));
  } else {
    for (double v : nice_ticks(y0, y1, 5)) yt.emplace_back(v, fmt_num(v));
  }
  for (const auto& [v, label] : yt)
    out += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#e4e4e4\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
                       left, left + pw, py(v), left - 4, py(v) + 4, label);
  for (double v : nice_ticks(x0, x1, 6))
    out += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#e4e4e4\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                       px(v), top, top + ph, top + ph + 14, fmt_num(v));
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#444\">{}</text>\n", left + pw / 2,
                     o.height - 6, html_escape(o.x_label));
  out += fmt::format("<text transform=\"translate(12 {}) rotate(-90)\" text-anchor=\"middle\" fill=\"#444\">{}</text>\n",
                     top + ph / 2, html_escape(o.y_label + (o.log_y ? " (log)" : "")));

  for (size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    const std::string color = s.color.empty() ? palette(si) : s.color;
    std::string path, dots;
    bool pen = false;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double y = ty(s.y[i]);
      if (!std::isfinite(s.x[i]) || !std::isfinite(y)) {
        pen = false;
        continue;
      }
      path += fmt::format("{}{:.1f},{:.1f} ", pen ? "L" : "M", px(s.x[i]), py(y));
      pen = true;
      if (s.markers) dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.6\" fill=\"{}\"/>", px(s.x[i]), py(y), color);
    }
    if (!path.empty())
      out += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{}/>{}\n", path, color,
                         s.dashed ? " stroke-dasharray=\"5 3\"" : "", dots);
  }
  // Legend in the top margin, right-aligned, one entry per series.
  double lx = o.width - right;
  for (size_t si = series.size(); si-- > 0;) {
    const std::string name = html_escape(series[si].name);
    const double w = 18 + 6.2 * static_cast<double>(series[si].name.size());
    lx -= w + 8;
    const std::string color = series[si].color.empty() ? palette(si) : series[si].color;
    out += fmt::format("<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"22\" y2=\"22\" stroke=\"{2}\" stroke-width=\"2.5\"{4}/>"
                       "<text x=\"{3:.1f}\" y=\"26\">{5}</text>\n",
                       lx, lx + 14, color, lx + 17, series[si].dashed ? " stroke-dasharray=\"5 3\"" : "", name);
  }
  out += "</svg>\n";
  return out;
}

std::string histogram(const std::vector<int64_t>& counts, double lo, double hi, int width, int height,
                      const std::string& color) {
  const double bottom = 14, ph = height - bottom - 2;
  int64_t peak = 1;
  for (int64_t c : counts) peak = std::max(peak, c);
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" "
      "font-family=\"sans-serif\" font-size=\"10\">\n",
      width, height);
  const double bw = counts.empty() ? 0.0 : static_cast<double>(width) / static_cast<double>(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    // Square-root heights: a spike at 0 (dead ReLUs) must not flatten the rest to nothing.
    const double h = std::max(1.0, ph * std::sqrt(static_cast<double>(counts[i]) / static_cast<double>(peak)));
    out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>",
                       bw * static_cast<double>(i), 2 + ph - h, std::max(bw - 0.6, 0.6), h, color);
  }
  out += fmt::format("\n<line x1=\"0\" x2=\"{0}\" y1=\"{1:.1f}\" y2=\"{1:.1f}\" stroke=\"#888\"/>"
                     "<text x=\"1\" y=\"{2}\">{3}</text><text x=\"{0}\" y=\"{2}\" text-anchor=\"end\">{4}</text>\n</svg>\n",
                     width, 2 + ph, height - 2, fmt_num(lo), fmt_num(hi));
  return out;
}

}  // namespace descent::diag::svg
