// Internal: inline SVG charts of the diag reports (line charts and histograms), self-contained:
// no scripts, no fonts beyond the browser's generic families.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace descent::diag::svg {

/// One line of a chart; NaN/Inf y values break the line.
struct Series {
  std::string name{};
  std::vector<double> x{}, y{};
  std::string color{};    ///< "" = palette colour of its position
  bool markers = false;   ///< dots at the points (sparse series, e.g. per-epoch metrics)
  bool dashed = false;    ///< dashed line
};

/// Axis titles and size of a line chart.
struct ChartOptions {
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  bool log_y = false;     ///< log10 y axis (non-positive values are dropped)
  bool x_zero = false;    ///< the x axis starts at 0 (steps: an epoch's dot sits where it belongs)
  int width = 600;
  int height = 280;
};

/// A line chart; an empty chart says "no data".
std::string line_chart(const std::vector<Series>& series, const ChartOptions& options);
/// A histogram of counts over [lo, hi] with the range printed under it.
std::string histogram(const std::vector<int64_t>& counts, double lo, double hi, int width, int height,
                      const std::string& color);
/// The i-th colour of a colour-blind-safe palette.
std::string palette(size_t i);

}  // namespace descent::diag::svg
