// Tests of the task metrics the Trainer writes into metrics.jsonl (src/train/metrics.h): ROC AUC
// for binary tasks, RMSE / MAE / R² for regression. Expected values are those of scikit-learn's
// roc_auc_score, mean_squared_error, mean_absolute_error and r2_score on the same numbers (the
// examples of sklearn's documentation).
#include <gtest/gtest.h>

#include <cmath>

#include "descent/tensor.h"
#include "train/metrics.h"

using namespace descent;

TEST(Metrics, RocAucIsThePairwiseRankingProbabilityWithTiesHalf) {
  EXPECT_DOUBLE_EQ(train::roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(train::roc_auc({1, 1, 2}, {0, 1, 1}), 0.75);  // the tied pair counts one half
  EXPECT_DOUBLE_EQ(train::roc_auc({3, 2, 1}, {1, 1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(train::roc_auc({1, 2, 3}, {1, 1, 0}), 0.0);
  EXPECT_TRUE(std::isnan(train::roc_auc({1, 2}, {1, 1})));  // one class only
}

TEST(Metrics, BinaryAccuracyAndAucOverBatches) {
  train::MetricAccumulator acc(data::Task::Binary);
  // Logits; logit > 0 predicts 1. Batch 1: right, wrong; batch 2: right, right.
  acc.add(from_vector({2.0, 0.5}, {2, 1}), from_vector({1.0, 0.0}, {2, 1}));
  acc.add(from_vector({-1.0, -3.0}, {2, 1}), from_vector({0.0, 0.0}, {2, 1}));
  auto m = acc.compute();
  EXPECT_DOUBLE_EQ(m.at("acc"), 0.75);
  EXPECT_DOUBLE_EQ(m.at("auc"), 1.0);  // the positive's logit outranks every negative's
}

TEST(Metrics, RegressionRmseMaeR2LikeSklearn) {
  train::MetricAccumulator one(data::Task::Regression);
  one.add(from_vector({2.5, 0.0}, {2, 1}), from_vector({3.0, -0.5}, {2, 1}));
  one.add(from_vector({2.0, 8.0}, {2, 1}), from_vector({2.0, 7.0}, {2, 1}));
  auto m = one.compute();
  EXPECT_NEAR(m.at("r2"), 0.9486081370449679, 1e-12);
  EXPECT_NEAR(m.at("mae"), 0.5, 1e-12);
  EXPECT_NEAR(m.at("rmse"), std::sqrt(0.375), 1e-12);
  EXPECT_EQ(m.count("acc"), 0u);

  // Two targets: R² is the mean of the per-target R² (sklearn's multioutput="uniform_average").
  train::MetricAccumulator two(data::Task::Regression);
  two.add(from_vector({0, 2, -1, 2, 8, -5}, {3, 2}), from_vector({0.5, 1, -1, 1, 7, -6}, {3, 2}));
  EXPECT_NEAR(two.compute().at("r2"), 0.9368005266622779, 1e-12);
}
