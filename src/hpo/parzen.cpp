// hpo/parzen.cpp — truncated-normal and categorical Parzen estimators for TPE.
#include "hpo/parzen.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>

#include "hpo/rng.h"

namespace descent::hpo {
namespace {

constexpr int kFlatWeights = 25;     // Optuna's default_weights: the newest 25 weigh 1
constexpr int kMaxRejections = 100;  // truncated normal by rejection; mass inside is >= ~30 %

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

std::size_t pick(const std::vector<double>& weights, Rng& rng) {
  double u = rng.uniform(), acc = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    acc += weights[i];
    if (u < acc) return i;
  }
  return weights.size() - 1;
}

}  // namespace

std::vector<double> tpe_weights(std::size_t n) {
  std::vector<double> w(n, 1.0);
  if (n > static_cast<std::size_t>(kFlatWeights)) {
    const std::size_t ramp = n - kFlatWeights;  // numpy linspace(1 / n, 1, ramp)
    for (std::size_t i = 0; i < ramp; ++i) w[i] = ramp == 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * i / (ramp - 1);
  }
  return w;
}

NumericParzen::NumericParzen(std::span<const double> observations, double low, double high, double prior_weight)
    : low_(low), high_(high) {
  mus_.assign(observations.begin(), observations.end());
  mus_.push_back(0.5 * (low + high));  // the prior: centred, as wide as the domain
  weights_ = tpe_weights(observations.size());
  weights_.push_back(prior_weight);
  const double total = std::accumulate(weights_.begin(), weights_.end(), 0.0);
  for (double& w : weights_) w /= total;

  // Bandwidth: the larger distance to a neighbour in sorted order (the bounds act as the outer
  // neighbours), except that the outermost kernels look inward only ("consider_endpoints" off).
  const std::size_t n = mus_.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return mus_[a] < mus_[b]; });
  std::vector<double> sorted(n + 2);
  sorted[0] = low;
  sorted[n + 1] = high;
  for (std::size_t i = 0; i < n; ++i) sorted[i + 1] = mus_[order[i]];
  std::vector<double> sorted_sigma(n);
  for (std::size_t i = 0; i < n; ++i)
    sorted_sigma[i] = std::max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
  if (n + 2 >= 4) {
    sorted_sigma[0] = sorted[2] - sorted[1];
    sorted_sigma[n - 1] = sorted[n] - sorted[n - 1];
  }
  sigmas_.resize(n);
  const double max_sigma = high - low;
  const double min_sigma = (high - low) / std::min(100.0, 1.0 + static_cast<double>(n));  // "magic clip"
  for (std::size_t i = 0; i < n; ++i) sigmas_[order[i]] = std::clamp(sorted_sigma[i], min_sigma, max_sigma);
  sigmas_[n - 1] = high - low;  // the prior keeps its own width

  log_mass_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double mass = normal_cdf((high - mus_[i]) / sigmas_[i]) - normal_cdf((low - mus_[i]) / sigmas_[i]);
    log_mass_[i] = std::log(std::max(mass, std::numeric_limits<double>::min()));
  }
}

double NumericParzen::sample(Rng& rng) const {
  const std::size_t k = pick(weights_, rng);
  for (int i = 0; i < kMaxRejections; ++i) {
    const double x = mus_[k] + sigmas_[k] * rng.normal();
    if (x >= low_ && x <= high_) return x;
  }
  return rng.uniform(low_, high_);
}

double NumericParzen::log_pdf(double x) const {
  // log sum_k w_k N(x; mu_k, sigma_k) / mass_k, computed stably (log-sum-exp).
  std::vector<double> terms(mus_.size());
  for (std::size_t k = 0; k < mus_.size(); ++k) {
    const double z = (x - mus_[k]) / sigmas_[k];
    terms[k] =
        std::log(weights_[k]) - 0.5 * z * z - std::log(sigmas_[k] * std::sqrt(2 * std::numbers::pi)) - log_mass_[k];
  }
  const double top = *std::max_element(terms.begin(), terms.end());
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

CategoricalParzen::CategoricalParzen(std::span<const int> observations, int n_choices, double prior_weight)
    : probs_(static_cast<std::size_t>(n_choices), 0.0) {
  // Each kernel is a row over the choices: prior_weight / n_kernels everywhere, +1 at its
  // observation; rows are normalized and mixed with the TPE weights (prior last).
  const std::size_t n_kernels = observations.size() + 1;
  std::vector<double> w = tpe_weights(observations.size());
  w.push_back(prior_weight);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  const double base = prior_weight / static_cast<double>(n_kernels);
  for (std::size_t k = 0; k < n_kernels; ++k) {
    const bool observed = k < observations.size();
    const double row_sum = base * n_choices + (observed ? 1.0 : 0.0);
    for (int c = 0; c < n_choices; ++c) {
      const double cell = base + (observed && observations[k] == c ? 1.0 : 0.0);
      probs_[static_cast<std::size_t>(c)] += (w[k] / total) * cell / row_sum;
    }
  }
}

int CategoricalParzen::sample(Rng& rng) const { return static_cast<int>(pick(probs_, rng)); }

double CategoricalParzen::log_pmf(int c) const { return std::log(probs_[static_cast<std::size_t>(c)]); }

}  // namespace descent::hpo
