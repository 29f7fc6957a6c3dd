// hpo/parzen.h — the Parzen estimators of TPE (internal).
//
// As in Optuna's univariate TPE: one truncated-normal kernel per observation plus a wide prior
// kernel, bandwidths from the distances to the neighbours (clipped), weights that ramp up for
// newer observations beyond the last 25.
#pragma once
#include <span>
#include <vector>

namespace descent::hpo {

class Rng;

/// Weights of observations ordered oldest first: 1 for the newest 25, a linear ramp before.
std::vector<double> tpe_weights(std::size_t n);

/// A mixture of normals truncated to [low, high], for a numeric parameter in TPE's space.
class NumericParzen {
 public:
  /// `observations` ordered by trial number (oldest first).
  NumericParzen(std::span<const double> observations, double low, double high, double prior_weight);
  /// A draw from the mixture.
  double sample(Rng& rng) const;
  /// log density at x.
  double log_pdf(double x) const;

  const std::vector<double>& mus() const { return mus_; }
  const std::vector<double>& sigmas() const { return sigmas_; }
  const std::vector<double>& weights() const { return weights_; }

 private:
  double low_, high_;
  std::vector<double> mus_, sigmas_, weights_, log_mass_;
};

/// A smoothed histogram over the choices of a categorical parameter.
class CategoricalParzen {
 public:
  /// `observations` are choice indices, oldest first.
  CategoricalParzen(std::span<const int> observations, int n_choices, double prior_weight);
  /// A draw (a choice index).
  int sample(Rng& rng) const;
  /// log probability of choice c.
  double log_pmf(int c) const;

 private:
  std::vector<double> probs_;
};

}  // namespace descent::hpo
