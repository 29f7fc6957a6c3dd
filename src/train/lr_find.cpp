// The LR range test (Smith, "Cyclical learning rates", 2017; fastai's lr_find): train on minibatches
// while the lr grows exponentially, and read a good lr off the loss curve. The suggestion rules are
// fastai's: the steepest descent of the smoothed curve (skipping the first tenth, where the moving
// average is still mostly noise) and the lr of the minimum divided by 10.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "descent/autograd.h"
#include "descent/error.h"
#include "descent/train.h"

namespace descent::train {
namespace {

void check_options(const LrFindOptions& o) {
  if (!(o.start_lr > 0.0) || !std::isfinite(o.start_lr))
    throw Error(fmt::format("lr-find: start lr must be > 0, got {}", o.start_lr));
  if (!(o.end_lr > o.start_lr) || !std::isfinite(o.end_lr))
    throw Error(fmt::format("lr-find: end lr must be finite and > start lr ({}), got {}", o.start_lr, o.end_lr));
  if (o.steps < 10) throw Error(fmt::format("lr-find: steps must be >= 10 to form a curve, got {}", o.steps));
  if (!(o.smoothing >= 0.0 && o.smoothing < 1.0))
    throw Error(fmt::format("lr-find: smoothing must be in [0, 1), got {}", o.smoothing));
  if (!(o.diverge_factor > 1.0)) throw Error(fmt::format("lr-find: diverge factor must be > 1, got {}", o.diverge_factor));
}

// Everything the test changes, put back by the destructor, so an exception thrown mid-test (a
// shape error, a NaN policy) still leaves the trainer as it was.
class Restorer {
 public:
  Restorer(nn::Module& model, optim::Optimizer& opt)
      : model_(model), opt_(opt), lr_(opt.lr()), steps_(opt.step_count()), training_(model.is_training()),
        opt_state_(opt.state()) {
    for (const auto& [name, t] : model.state_dict()) weights_.emplace_back(name, t.detach().clone());
  }
  Restorer(const Restorer&) = delete;
  Restorer& operator=(const Restorer&) = delete;
  ~Restorer() {
    NoGradGuard no_grad;
    auto current = model_.state_dict();
    // Same module, so names and shapes match entry by entry.
    for (size_t i = 0; i < current.size() && i < weights_.size(); ++i) current[i].second.copy_(weights_[i].second);
    try {
      opt_.load_state(opt_state_, steps_);
    } catch (...) {
      // A state the optimizer itself exported always loads; nothing useful to do in a destructor.
    }
    opt_.set_lr(lr_);
    opt_.zero_grad();
    model_.train(training_);
  }

 private:
  nn::Module& model_;
  optim::Optimizer& opt_;
  double lr_;
  int64_t steps_;
  bool training_;
  nn::NamedTensors opt_state_;
  nn::NamedTensors weights_;
};

// fastai's `steep`: the forward difference of the smoothed loss per unit of log lr, most negative
// on [first, last]; returns the left point of that segment, or −1 when the range is too short.
int64_t steepest(const std::vector<double>& lr, const std::vector<double>& s, int64_t first, int64_t last) {
  int64_t best = -1;
  double best_slope = 0.0;
  for (int64_t i = first; i < last; ++i) {
    const auto k = static_cast<size_t>(i);
    const double slope = (s[k + 1] - s[k]) / (std::log(lr[k + 1]) - std::log(lr[k]));
    if (slope < best_slope) best_slope = slope, best = i;
  }
  return best;
}

}  // namespace

LrFindResult lr_find(Trainer& trainer, const LrFindOptions& o) {
  check_options(o);
  nn::Module& model = trainer.model();
  optim::Optimizer& opt = trainer.optimizer();
  const loss::Loss& loss = trainer.loss();
  data::Loader& loader = trainer.train_loader();
  if (loader.num_batches() < 1) throw Error("lr-find: the training set has no batches");

  LrFindResult r;
  {
    Restorer restore(model, opt);
    model.train();
    // lr_i = start·(end/start)^(i/(steps−1)): the first batch uses start, the last end.
    const double growth = std::log(o.end_lr / o.start_lr) / static_cast<double>(o.steps - 1);
    double avg = 0.0, best = INFINITY;
    int64_t epoch = 0;
    loader.start_epoch(epoch);
    data::Batch b;
    for (int64_t i = 0; i < o.steps; ++i) {
      if (!loader.next(b)) {
        loader.start_epoch(++epoch);
        if (!loader.next(b)) throw Error("lr-find: the training loader gave an empty epoch");
      }
      const double lr = o.start_lr * std::exp(growth * static_cast<double>(i));
      opt.set_lr(lr);
      Tensor l = loss(model(b.x), b.y);
      const double lv = l.item();
      if (!std::isfinite(lv)) {
        r.diverged = true;  // a non-finite loss would poison the average: end the curve before it
        break;
      }
      opt.zero_grad();
      l.backward();
      opt.step();
      avg = o.smoothing * avg + (1.0 - o.smoothing) * lv;
      const double smoothed = avg / (1.0 - std::pow(o.smoothing, static_cast<double>(i + 1)));
      r.lr.push_back(lr);
      r.loss.push_back(lv);
      r.smoothed_loss.push_back(smoothed);
      if (smoothed < best) best = smoothed, r.min_index = i;
      if (smoothed > o.diverge_factor * best) {
        r.diverged = true;
        break;
      }
    }
  }

  if (r.min_index < 0) return r;
  const auto m = static_cast<size_t>(r.min_index);
  r.min_lr = r.lr[m];
  r.min_lr_div10 = r.min_lr / 10.0;
  // Past the minimum the curve only rises; before steps/10 the average has seen too few batches.
  r.steepest_index = steepest(r.lr, r.smoothed_loss, o.steps / 10, r.min_index);
  if (r.steepest_index >= 0) r.steepest_lr = r.lr[static_cast<size_t>(r.steepest_index)];
  return r;
}

std::string lr_find_csv(const LrFindResult& r) {
  // fmt's "{}" prints the shortest decimal that reads back as the same double.
  std::string out = "step,lr,loss,smoothed_loss\n";
  for (size_t i = 0; i < r.lr.size(); ++i)
    out += fmt::format("{},{},{},{}\n", i, r.lr[i], r.loss[i], r.smoothed_loss[i]);
  return out;
}

namespace {

constexpr double kWidth = 720, kHeight = 380;
constexpr double kLeft = 64, kRight = 24, kTop = 40, kBottom = 46;

// y-axis ticks at 1, 2 or 5 × 10^k covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi) {
  if (!(hi > lo)) hi = lo + 1.0;
  const double raw = (hi - lo) / 5.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double unit = raw / mag < 1.5 ? 1.0 : raw / mag < 3.5 ? 2.0 : raw / mag < 7.5 ? 5.0 : 10.0;
  const double step = unit * mag;
  std::vector<double> ticks;
  for (double k = std::floor(lo / step + 1e-9); ticks.empty() || ticks.back() < hi * (1 - 1e-12); ++k)
    ticks.push_back(k * step);
  return ticks;
}

}  // namespace

std::string lr_find_svg(const LrFindResult& r) {
  if (r.lr.empty()) throw Error("lr_find_svg: the test recorded no points to plot");
  // x: log10 lr over whole decades. y: from just below the lowest loss to a quarter above the
  // smoothed curve's level before its minimum; the blow-up at the end (often 100x the start) is
  // clipped to the frame, or it would flatten the descent the suggestions are read from.
  const double x_lo = std::floor(std::log10(r.lr.front())), x_hi = std::max(std::ceil(std::log10(r.lr.back())), x_lo + 1);
  const size_t last_good = r.min_index >= 0 ? static_cast<size_t>(r.min_index) : r.lr.size() - 1;
  const double y_top = 1.25 * *std::max_element(r.smoothed_loss.begin(), r.smoothed_loss.begin() + last_good + 1);
  double y_low = *std::min_element(r.smoothed_loss.begin(), r.smoothed_loss.end());
  for (double v : r.loss) y_low = std::min(y_low, v);
  const auto yt = nice_ticks(std::max(0.0, y_low - 0.1 * (y_top - y_low)), y_top);
  const double right = kWidth - kRight, bottom = kHeight - kBottom;
  auto px = [&](double lr) { return kLeft + (std::log10(lr) - x_lo) / (x_hi - x_lo) * (right - kLeft); };
  auto py = [&](double v) {
    return bottom - std::clamp((v - yt.front()) / (yt.back() - yt.front()), 0.0, 1.0) * (bottom - kTop);
  };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n",
      kWidth, kHeight);
  for (double d = x_lo; d <= x_hi + 1e-9; d += 1.0) {
    const double x = px(std::pow(10.0, d));
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#e5e5e5\"/>\n", x, kTop, bottom);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">1e{}</text>\n", x, bottom + 16, d);
  }
  for (double t : yt) {
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.2f}\" x2=\"{2}\" y2=\"{1:.2f}\" stroke=\"#e5e5e5\"/>\n", kLeft, py(t), right);
    svg += fmt::format("<text x=\"{}\" y=\"{:.2f}\" text-anchor=\"end\">{:g}</text>\n", kLeft - 6, py(t) + 4, t);
  }
  svg += fmt::format("<path d=\"M{0} {1} V{2} H{3}\" fill=\"none\" stroke=\"black\"/>\n", kLeft, kTop, bottom, right);
  svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">learning rate (log scale)</text>\n",
                     (kLeft + right) / 2, kHeight - 8);
  svg += fmt::format("<text x=\"{}\" y=\"{}\">loss: <tspan fill=\"#1f77b4\">smoothed</tspan>, "
                     "<tspan fill=\"#9ecae1\">raw</tspan></text>\n", kLeft, kTop - 24);

  auto polyline = [&](const std::vector<double>& y, const char* color, double width) {
    std::string pts;
    for (size_t i = 0; i < y.size(); ++i)
      pts += fmt::format("{}{:.2f},{:.2f}", pts.empty() ? "" : " ", px(r.lr[i]), py(y[i]));
    return fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" points=\"{}\"/>\n", color, width, pts);
  };
  svg += polyline(r.loss, "#9ecae1", 1.0);
  svg += polyline(r.smoothed_loss, "#1f77b4", 1.8);

  auto marker = [&](int64_t index, double lr, const char* color, const std::string& text, double label_y) {
    if (index < 0 || !(lr > 0)) return std::string();
    const double x = px(lr), y = py(r.smoothed_loss[static_cast<size_t>(index)]);
    const bool left = x > kLeft + 0.6 * (right - kLeft);  // labels near the right edge go on the left
    return fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"{3}\" stroke-dasharray=\"4 3\"/>\n"
                       "<circle cx=\"{0:.2f}\" cy=\"{4:.2f}\" r=\"4\" fill=\"{3}\"/>\n"
                       "<text x=\"{5:.2f}\" y=\"{6}\" fill=\"{3}\" text-anchor=\"{8}\">{7}</text>\n",
                       x, kTop, bottom, color, y, left ? x - 5 : x + 5, label_y, text, left ? "end" : "start");
  };
  svg += marker(r.steepest_index, r.steepest_lr, "#d62728", fmt::format("steepest {:.3g} (suggested)", r.steepest_lr),
                kTop + 12);
  if (r.min_index >= 0) {
    // min/10 sits on the curve at the nearest recorded lr.
    int64_t near = 0;
    for (size_t i = 0; i < r.lr.size(); ++i)
      if (std::abs(std::log(r.lr[i] / r.min_lr_div10)) < std::abs(std::log(r.lr[static_cast<size_t>(near)] / r.min_lr_div10)))
        near = static_cast<int64_t>(i);
    svg += marker(near, r.min_lr_div10, "#2ca02c", fmt::format("min/10 {:.3g}", r.min_lr_div10), kTop + 26);
  }
  return svg + "</svg>\n";
}

}  // namespace descent::train
