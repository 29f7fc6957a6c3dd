// hpo/svg.cpp — the plots of study.html, drawn by hand: one small file, no network, no script.
#include "hpo/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace descent::hpo {
namespace {
constexpr double kWidth = 460, kHeight = 260, kLeft = 64, kRight = 12, kTop = 28, kBottom = 40;

std::string tick(double v) { return fmt::format("{:.4g}", v); }
}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

SvgPlot::SvgPlot(std::string title, std::string x_label, std::string y_label, bool log_x)
    : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)), log_x_(log_x) {}

void SvgPlot::fit(double x, double y) {
  if (!std::isfinite(x) || !std::isfinite(y) || (log_x_ && x <= 0)) return;
  if (log_x_) x = std::log10(x);
  if (empty_) {
    x0_ = x1_ = x;
    y0_ = y1_ = y;
    empty_ = false;
  }
  x0_ = std::min(x0_, x), x1_ = std::max(x1_, x), y0_ = std::min(y0_, y), y1_ = std::max(y1_, y);
}

namespace {
// Position of v in [lo, hi] as a fraction, with a 5 % margin so that marks clear the frame; a
// single value sits in the middle.
double fraction(double v, double lo, double hi) {
  if (!(hi > lo)) return 0.5;
  const double pad = 0.05 * (hi - lo);
  return (v - lo + pad) / (hi - lo + 2 * pad);
}
}  // namespace

double SvgPlot::sx(double x) const {
  if (log_x_) x = std::log10(x);
  return kLeft + fraction(x, x0_, x1_) * (kWidth - kLeft - kRight);
}

double SvgPlot::sy(double y) const { return kHeight - kBottom - fraction(y, y0_, y1_) * (kHeight - kTop - kBottom); }

void SvgPlot::dot(double x, double y, std::string_view color, std::string_view title) {
  if (!std::isfinite(x) || !std::isfinite(y) || (log_x_ && x <= 0)) return;
  body_ +=
      fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}" fill-opacity="0.8"><title>{}</title></circle>)",
                  sx(x), sy(y), color, html_escape(title));
}

void SvgPlot::cross(double x, double y, std::string_view color, std::string_view title) {
  if (!std::isfinite(x) || !std::isfinite(y) || (log_x_ && x <= 0)) return;
  const double cx = sx(x), cy = sy(y);
  body_ +=
      fmt::format(R"(<path d="M{:.1f} {:.1f}l6 6m0 -6l-6 6" stroke="{}" stroke-width="1.5"><title>{}</title></path>)",
                  cx - 3, cy - 3, color, html_escape(title));
}

void SvgPlot::line(const std::vector<std::pair<double, double>>& points, std::string_view color, double width) {
  std::string d;
  for (const auto& [x, y] : points)
    if (std::isfinite(x) && std::isfinite(y)) d += fmt::format("{:.1f},{:.1f} ", sx(x), sy(y));
  if (!d.empty())
    body_ += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-opacity="0.8"/>)", d,
                         color, width);
}

std::string SvgPlot::render() const {
  std::string s = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}">)",
                              kWidth, kHeight, kWidth, kHeight);
  s += fmt::format(R"(<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>)", kLeft, html_escape(title_));
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", kLeft, kTop,
                   kWidth - kLeft - kRight, kHeight - kTop - kBottom);
  if (!empty_) {
    const double xs[2] = {x0_, x1_}, ys[2] = {y0_, y1_};
    for (int i = 0; i < 2; ++i) {
      const double xv = log_x_ ? std::pow(10.0, xs[i]) : xs[i];
      std::string label = tick(xv);
      if (!x_names_.empty())
        label = xv >= 0 && xv < static_cast<double>(x_names_.size()) ? x_names_[static_cast<std::size_t>(xv)] : "";
      s += fmt::format(R"(<text x="{:.1f}" y="{}" font-size="11" text-anchor="middle">{}</text>)", sx(xv),
                       kHeight - kBottom + 14, html_escape(label));
      s += fmt::format(R"(<text x="{}" y="{:.1f}" font-size="11" text-anchor="end">{}</text>)", kLeft - 4,
                       sy(ys[i]) + 4, tick(ys[i]));
    }
    for (std::size_t i = 1; i + 1 < x_names_.size(); ++i)
      s += fmt::format(R"(<text x="{:.1f}" y="{}" font-size="11" text-anchor="middle">{}</text>)",
                       sx(static_cast<double>(i)), kHeight - kBottom + 14, html_escape(x_names_[i]));
  }
  s += fmt::format(R"(<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>)",
                   (kLeft + kWidth - kRight) / 2, kHeight - 6, html_escape(x_label_));
  s += fmt::format(
      R"svg(<text x="12" y="{}" font-size="11" text-anchor="middle" transform="rotate(-90 12 {})">{}</text>)svg",
      (kTop + kHeight - kBottom) / 2, (kTop + kHeight - kBottom) / 2, html_escape(y_label_));
  return s + body_ + "</svg>";
}

}  // namespace descent::hpo
