#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "descent/ops.h"

namespace descent::train {

double roc_auc(const std::vector<double>& scores, const std::vector<double>& labels) {
  // Mann-Whitney U: the probability that a random positive outranks a random negative.
  const size_t n = scores.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0.0, pos = 0.0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[idx[j]] == scores[idx[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + j + 1);  // 1-based ranks, ties averaged
    for (size_t k = i; k < j; ++k)
      if (labels[idx[k]] > 0.5) rank_sum += avg_rank, pos += 1;
    i = j;
  }
  const double neg = static_cast<double>(n) - pos;
  if (pos == 0 || neg == 0) return NAN;
  return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg);
}

void MetricAccumulator::add(const Tensor& output, const Tensor& target) {
  const int64_t n = output.size(0);
  if (task_ == data::Task::Classification) {
    if (target.dtype() != DType::I64) return;
    Tensor pred = ops::argmax(output, 1);
    const int64_t* p = pred.data<int64_t>();
    const int64_t* t = target.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) correct_ += p[i] == t[i];
    count_ += n;
  } else if (task_ == data::Task::Binary) {
    std::vector<double> o = output.to_vector(), t = target.to_vector();
    for (int64_t i = 0; i < n; ++i) {
      scores_.push_back(o[static_cast<size_t>(i)]);
      labels_.push_back(t[static_cast<size_t>(i)]);
      correct_ += (o[static_cast<size_t>(i)] > 0) == (t[static_cast<size_t>(i)] > 0.5);
    }
    count_ += n;
  } else {
    std::vector<double> o = output.to_vector(), t = target.to_vector();
    targets_ = n ? static_cast<int64_t>(o.size()) / n : 0;
    pred_.insert(pred_.end(), o.begin(), o.end());
    truth_.insert(truth_.end(), t.begin(), t.end());
    count_ += n;
  }
}

std::map<std::string, double> MetricAccumulator::compute() const {
  std::map<std::string, double> m;
  if (count_ == 0) return m;
  if (task_ == data::Task::Classification || task_ == data::Task::Binary)
    m["acc"] = static_cast<double>(correct_) / static_cast<double>(count_);
  if (task_ == data::Task::Binary) m["auc"] = roc_auc(scores_, labels_);
  if (task_ == data::Task::Regression && targets_ > 0) {
    // Per-target R² averaged (sklearn's "uniform_average"); RMSE and MAE over all values.
    double se = 0.0, ae = 0.0, r2 = 0.0;
    for (int64_t j = 0; j < targets_; ++j) {
      double mean = 0.0, ss_tot = 0.0, ss_res = 0.0;
      for (int64_t i = 0; i < count_; ++i) mean += truth_[static_cast<size_t>(i * targets_ + j)];
      mean /= static_cast<double>(count_);
      for (int64_t i = 0; i < count_; ++i) {
        const size_t k = static_cast<size_t>(i * targets_ + j);
        const double d = pred_[k] - truth_[k];
        ss_res += d * d;
        ss_tot += (truth_[k] - mean) * (truth_[k] - mean);
        se += d * d;
        ae += std::abs(d);
      }
      r2 += ss_tot > 0 ? 1.0 - ss_res / ss_tot : NAN;
    }
    const double total = static_cast<double>(count_ * targets_);
    m["rmse"] = std::sqrt(se / total);
    m["mae"] = ae / total;
    m["r2"] = r2 / static_cast<double>(targets_);
  }
  return m;
}

}  // namespace descent::train
