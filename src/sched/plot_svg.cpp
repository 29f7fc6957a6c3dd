// A self-contained SVG line plot of a schedule (no scripts, no fonts to fetch), for the
// `descent schedule` command and report.html. lr on the left axis from 0, momentum on the right.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "descent/error.h"
#include "descent/sched.h"

namespace descent::sched {
namespace {

constexpr double kWidth = 720, kHeight = 360;
constexpr double kLeft = 76, kRight = 64, kTop = 28, kBottom = 46;
// Beyond this many points a polyline only costs file size: a pixel column cannot show more.
constexpr std::size_t kMaxPoints = 4000;
constexpr const char* kLrColor = "#1f77b4";
constexpr const char* kMomentumColor = "#d62728";

// Ticks at 1, 2 or 5 × 10^k covering [lo, hi], about five of them.
std::vector<double> nice_ticks(double lo, double hi) {
  if (!(hi > lo)) hi = lo + (lo == 0.0 ? 1.0 : std::abs(lo) * 0.1);
  const double raw = (hi - lo) / 5.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double unit = raw / mag < 1.5 ? 1.0 : raw / mag < 3.5 ? 2.0 : raw / mag < 7.5 ? 5.0 : 10.0;
  const double step = unit * mag;
  std::vector<double> ticks;
  for (double k = std::floor(lo / step + 1e-9); ticks.empty() || ticks.back() < hi * (1 - 1e-12); ++k)
    ticks.push_back(k * step);
  return ticks;
}

// Indices to draw: all of them, or per bucket the first, smallest and largest, so that the
// shape of a long per-step schedule survives the thinning.
std::vector<std::size_t> pick_points(const std::vector<double>& y) {
  std::vector<std::size_t> idx;
  if (y.size() <= kMaxPoints) {
    for (std::size_t i = 0; i < y.size(); ++i) idx.push_back(i);
    return idx;
  }
  const std::size_t bucket = (y.size() + kMaxPoints / 3 - 1) / (kMaxPoints / 3);
  for (std::size_t b = 0; b < y.size(); b += bucket) {
    const std::size_t e = std::min(b + bucket, y.size());
    const auto [lo, hi] = std::minmax_element(y.begin() + b, y.begin() + e);
    std::vector<std::size_t> three{b, static_cast<std::size_t>(lo - y.begin()), static_cast<std::size_t>(hi - y.begin())};
    std::sort(three.begin(), three.end());
    three.erase(std::unique(three.begin(), three.end()), three.end());
    idx.insert(idx.end(), three.begin(), three.end());
  }
  if (idx.back() != y.size() - 1) idx.push_back(y.size() - 1);
  return idx;
}

void check_finite(const std::vector<double>& v, const char* name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw Error(fmt::format("schedule_svg: {}[{}] is {}, not a number to plot", name, i, v[i]));
}

struct Axis {
  double lo, hi;     // data range shown
  double px0, px1;   // pixel positions of lo and hi
  double operator()(double v) const { return px0 + (v - lo) / (hi - lo) * (px1 - px0); }
};

std::string polyline(const std::vector<double>& y, const Axis& x, const Axis& ya, const char* color,
                     const char* extra) {
  std::string pts;
  for (std::size_t i : pick_points(y)) pts += fmt::format("{}{:.2f},{:.2f}", pts.empty() ? "" : " ", x(double(i)), ya(y[i]));
  return fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{} points=\"{}\"/>\n", color, extra, pts);
}

std::string label(double v) { return fmt::format("{:g}", std::abs(v) < 1e-15 ? 0.0 : v); }

}  // namespace

std::string schedule_svg(const std::vector<double>& lr, const std::vector<double>* momentum) {
  if (lr.empty()) throw Error("schedule_svg: no lr values to plot");
  if (momentum && momentum->size() != lr.size())
    throw Error(fmt::format("schedule_svg: {} momentum values for {} lr values", momentum->size(), lr.size()));
  check_finite(lr, "lr");
  if (momentum) check_finite(*momentum, "momentum");

  const double right = kWidth - (momentum ? kRight : 24.0);
  const auto xt = nice_ticks(0.0, double(std::max<std::size_t>(lr.size() - 1, 1)));
  const auto yt = nice_ticks(0.0, *std::max_element(lr.begin(), lr.end()));
  const Axis x{xt.front(), xt.back(), kLeft, right};
  const Axis y{yt.front(), yt.back(), kHeight - kBottom, kTop};

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      kWidth, kHeight);
  for (double t : xt) {
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#e5e5e5\"/>\n", x(t), kTop,
                       kHeight - kBottom);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x(t), kHeight - kBottom + 16,
                       label(t));
  }
  for (double t : yt) {
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.2f}\" x2=\"{2}\" y2=\"{1:.2f}\" stroke=\"#e5e5e5\"/>\n", kLeft, y(t),
                       right);
    svg += fmt::format("<text x=\"{}\" y=\"{:.2f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, y(t) + 4, label(t));
  }
  svg += fmt::format("<path d=\"M{0} {1} V{2} H{3}\" fill=\"none\" stroke=\"black\"/>\n", kLeft, kTop,
                     kHeight - kBottom, right);
  svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", (kLeft + right) / 2,
                     kHeight - 8);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">lr</text>\n", kLeft, kTop - 10, kLrColor);
  svg += polyline(lr, x, y, kLrColor, "");

  if (momentum) {
    const auto [lo, hi] = std::minmax_element(momentum->begin(), momentum->end());
    const auto mt = nice_ticks(*lo, *hi);
    const Axis m{mt.front(), mt.back(), kHeight - kBottom, kTop};
    svg += fmt::format("<path d=\"M{0} {1} V{2}\" fill=\"none\" stroke=\"black\"/>\n", right, kTop, kHeight - kBottom);
    for (double t : mt)
      svg += fmt::format("<text x=\"{}\" y=\"{:.2f}\" fill=\"{}\">{}</text>\n", right + 6, m(t) + 4, kMomentumColor,
                         label(t));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\">momentum</text>\n", right, kTop - 10,
                       kMomentumColor);
    svg += polyline(*momentum, x, m, kMomentumColor, " stroke-dasharray=\"5 3\"");
  }
  return svg + "</svg>\n";
}

}  // namespace descent::sched
