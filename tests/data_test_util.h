// Helpers shared by the data tests (data_test.cpp, data_tabular_test.cpp).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "descent/data.h"
#include "error_test_util.h"

namespace data_test {

namespace data = descent::data;

/// Path of a fixture under tests/data/.
inline std::string fixture(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/" + name; }

/// A classification dataset whose sample i has pixels (i % 256, i / 256, 7, 7), so that a batch
/// row tells which sample it came from.
inline data::Dataset make_dataset(const std::vector<int64_t>& labels, int64_t num_classes) {
  const auto n = static_cast<int64_t>(labels.size());
  data::Dataset ds;
  ds.inputs = descent::empty({n, 1, 2, 2}, descent::DType::U8);
  uint8_t* p = ds.inputs.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    p[4 * i + 0] = static_cast<uint8_t>(i % 256);
    p[4 * i + 1] = static_cast<uint8_t>(i / 256);
    p[4 * i + 2] = p[4 * i + 3] = 7;
  }
  ds.targets = descent::empty({n}, descent::DType::I64);
  std::copy(labels.begin(), labels.end(), ds.targets.data<int64_t>());
  ds.sample_shape = {1, 2, 2};
  ds.num_classes = num_classes;
  for (int64_t c = 0; c < num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  return ds;
}

/// Labels 0, 1, ..., k-1, 0, 1, ... for n samples.
inline std::vector<int64_t> cyclic_labels(int64_t n, int64_t k) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = i % k;
  return y;
}

/// A tabular dataset (float64 features) from rows, with class labels 0.
inline data::Dataset table(const std::vector<std::vector<double>>& rows) {
  data::Dataset ds = make_dataset(std::vector<int64_t>(rows.size(), 0), 1);
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  const auto n = static_cast<int64_t>(rows.size()), f = static_cast<int64_t>(rows[0].size());
  ds.inputs = descent::from_vector(flat, {n, f}, descent::DType::F64);
  ds.sample_shape = {f};
  return ds;
}

/// Feature f of every sample.
inline std::vector<double> column(const data::Dataset& ds, int64_t f) {
  std::vector<double> all = ds.inputs.to_vector(), out;
  const int64_t row = ds.inputs.numel() / ds.size();
  for (int64_t r = 0; r < ds.size(); ++r) out.push_back(all[static_cast<size_t>(r * row + f)]);
  return out;
}

/// The int64 class labels.
inline std::vector<int64_t> labels_of(const data::Dataset& ds) {
  return {ds.targets.data<int64_t>(), ds.targets.data<int64_t>() + ds.size()};
}

}  // namespace data_test
