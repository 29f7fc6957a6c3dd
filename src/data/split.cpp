// Train / validation / test splits as index sets.
//
// Counts: held-out H = round((val + test) * n), test T = round(test / (val + test) * H), val
// H - T; the same totals with or without stratification. Stratified, each class c gets its share
// of H (and of T within it) by largest remainder, so every class's count is the floor or the
// ceiling of its exact share and the totals still match.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "descent/data.h"

namespace descent::data {
namespace {

void shuffle(std::vector<int64_t>& v, Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.below(i)]);
}

// Integer shares of `total` proportional to `weights` (summing to total): floors, then one more
// to the largest remainders (ties go to the lower index).
std::vector<int64_t> largest_remainder(const std::vector<double>& exact, int64_t total) {
  std::vector<int64_t> out(exact.size());
  int64_t assigned = 0;
  for (size_t i = 0; i < exact.size(); ++i) assigned += out[i] = static_cast<int64_t>(std::floor(exact[i]));
  std::vector<size_t> order(exact.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return exact[a] - std::floor(exact[a]) > exact[b] - std::floor(exact[b]); });
  for (size_t k = 0; assigned < total && k < order.size(); ++k, ++assigned) ++out[order[k]];
  return out;
}

}  // namespace

Split split(const Dataset& dataset, const SplitOptions& options) {
  const int64_t n = dataset.size();
  const double fv = options.val_fraction, ft = options.test_fraction;
  if (!(fv >= 0.0 && fv < 1.0)) throw Error(fmt::format("data: val_fraction must be in [0, 1), got {}", fv));
  if (!(ft >= 0.0 && ft < 1.0)) throw Error(fmt::format("data: test_fraction must be in [0, 1), got {}", ft));
  if (fv + ft >= 1.0) throw Error(fmt::format("data: val_fraction + test_fraction = {} leaves no training data", fv + ft));
  const int64_t held = std::llround((fv + ft) * static_cast<double>(n));
  const int64_t n_test = fv + ft > 0.0 ? std::llround(ft / (fv + ft) * static_cast<double>(held)) : 0;
  const int64_t n_val = held - n_test;
  if (fv > 0.0 && n_val == 0) {
    throw Error(fmt::format("data: val_fraction {} of {} samples gives an empty validation set", fv, n));
  }
  if (ft > 0.0 && n_test == 0) {
    throw Error(fmt::format("data: test_fraction {} of {} samples gives an empty test set", ft, n));
  }
  if (n - held <= 0) throw Error(fmt::format("data: the split of {} samples leaves no training data", n));

  Generator gen(options.seed);
  // groups[c] = the indices of class c (one group when not stratified), shuffled.
  std::vector<std::vector<int64_t>> groups;
  if (options.stratify) {
    if (dataset.task == Task::Regression) {
      throw Error("data: stratify needs class labels; it does not apply to a regression dataset");
    }
    groups.resize(static_cast<size_t>(dataset.num_classes));
    const int64_t* y = dataset.targets.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      if (y[i] < 0 || y[i] >= dataset.num_classes) {
        throw Error(fmt::format("data: label {} of sample {} is outside [0, {})", y[i], i, dataset.num_classes));
      }
      groups[static_cast<size_t>(y[i])].push_back(i);
    }
  } else {
    groups.emplace_back(static_cast<size_t>(n));
    std::iota(groups[0].begin(), groups[0].end(), int64_t{0});
  }
  std::vector<double> exact_held, exact_test;
  for (auto& g : groups) {
    shuffle(g, gen);
    exact_held.push_back((fv + ft) * static_cast<double>(g.size()));
  }
  std::vector<int64_t> held_c = largest_remainder(exact_held, held);
  for (int64_t h : held_c) exact_test.push_back(held > 0 ? static_cast<double>(h) * n_test / static_cast<double>(held) : 0.0);
  std::vector<int64_t> test_c = largest_remainder(exact_test, n_test);

  Split out;
  for (size_t c = 0; c < groups.size(); ++c) {
    const auto& g = groups[c];
    auto at = [&](int64_t k) { return g.begin() + k; };
    out.test.insert(out.test.end(), at(0), at(test_c[c]));
    out.val.insert(out.val.end(), at(test_c[c]), at(held_c[c]));
    out.train.insert(out.train.end(), at(held_c[c]), g.end());
  }
  for (auto* part : {&out.train, &out.val, &out.test}) std::sort(part->begin(), part->end());
  return out;
}

}  // namespace descent::data
