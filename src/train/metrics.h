// Internal: task metrics over a whole evaluation set — accuracy for classification, accuracy and
// ROC AUC for binary tasks (logit > 0 predicts 1), RMSE, MAE and R² for regression.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "descent/data.h"
#include "descent/tensor.h"

namespace descent::train {

/// Accumulates model outputs and targets batch by batch, then computes the task's metrics.
class MetricAccumulator {
 public:
  explicit MetricAccumulator(data::Task task) : task_(task) {}
  /// Adds one batch: output [B, C] (classification), [B, 1] logits (binary) or [B, T] (regression).
  void add(const Tensor& output, const Tensor& target);
  /// Metric name → value ("acc"; "acc", "auc"; "rmse", "mae", "r2").
  std::map<std::string, double> compute() const;

 private:
  data::Task task_;
  int64_t correct_ = 0, count_ = 0;
  std::vector<double> scores_, labels_;              // binary
  std::vector<double> pred_, truth_;                 // regression, row-major [N, T]
  int64_t targets_ = 0;
};

/// ROC AUC of scores against 0/1 labels (ties count one half); NaN when one class is absent.
double roc_auc(const std::vector<double>& scores, const std::vector<double>& labels);

}  // namespace descent::train
