// hpo/svg.h — a minimal scatter/line plot as inline SVG, for study.html (internal).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace descent::hpo {

/// Escapes &, <, >, " for HTML text and attributes.
std::string html_escape(std::string_view s);

/// A plot with linear or log x, linear y; add marks, then render().
class SvgPlot {
 public:
  /// A plot titled `title` with axis labels.
  SvgPlot(std::string title, std::string x_label, std::string y_label, bool log_x = false);
  /// Widens the data range to include (x, y); call for every point before adding marks.
  void fit(double x, double y);
  /// Names the integer x positions 0, 1, ... (categorical axes).
  void set_x_names(std::vector<std::string> names) { x_names_ = std::move(names); }
  /// A dot; `title` shows on hover.
  void dot(double x, double y, std::string_view color, std::string_view title = {});
  /// A cross (pruned trials).
  void cross(double x, double y, std::string_view color, std::string_view title = {});
  /// A polyline through the points.
  void line(const std::vector<std::pair<double, double>>& points, std::string_view color, double width = 1.5);
  /// The <svg> element.
  std::string render() const;

 private:
  double sx(double x) const;
  double sy(double y) const;
  std::string title_, x_label_, y_label_;
  bool log_x_;
  double x0_ = 0, x1_ = 0, y0_ = 0, y1_ = 0;
  bool empty_ = true;
  std::vector<std::string> x_names_;
  std::string body_;
};

}  // namespace descent::hpo
