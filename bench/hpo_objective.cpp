// hpo_objective — synthetic objectives for bench/hpo_synthetic.sh, run once per trial as an
// external program of `descent tune` (and of the Optuna peer, so both see the same function).
//
//   hpo_objective branin X1 X2            x1 in [-5, 10], x2 in [0, 15]; minimum 0.397887
//   hpo_objective hartmann6 X1 ... X6     xi in [0, 1]; minimum -3.32237
//
// Prints the value alone on a line (the objective line `descent tune` reads). Formulas as in
// Surjanovic & Bingham's Virtual Library of Simulation Experiments (sfu.ca/~ssurjano).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numbers>

namespace {

double branin(const double* x) {
  const double pi = std::numbers::pi;
  const double a = 1, b = 5.1 / (4 * pi * pi), c = 5 / pi, r = 6, s = 10, t = 1 / (8 * pi);
  const double u = x[1] - b * x[0] * x[0] + c * x[0] - r;
  return a * u * u + s * (1 - t) * std::cos(x[0]) + s;
}

double hartmann6(const double* x) {
  constexpr double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  constexpr double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                              {0.05, 10, 17, 0.1, 8, 14},
                              {3, 3.5, 1.7, 10, 17, 8},
                              {17, 8, 0.05, 10, 0.1, 14}};
  constexpr double P[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                              {2329, 4135, 8307, 3736, 1004, 9991},
                              {2348, 1451, 3522, 2883, 3047, 6650},
                              {4047, 8828, 8732, 5743, 1091, 381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j) inner += A[i][j] * (x[j] - 1e-4 * P[i][j]) * (x[j] - 1e-4 * P[i][j]);
    sum += alpha[i] * std::exp(-inner);
  }
  return -sum;
}

int usage() {
  std::fprintf(stderr, "usage: hpo_objective branin X1 X2 | hartmann6 X1 ... X6\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const bool is_branin = std::strcmp(argv[1], "branin") == 0;
  const bool is_hartmann = std::strcmp(argv[1], "hartmann6") == 0;
  const int n = is_branin ? 2 : is_hartmann ? 6 : -1;
  if (n < 0 || argc != n + 2) return usage();
  double x[6];
  for (int i = 0; i < n; ++i) {
    char* end = nullptr;
    x[i] = std::strtod(argv[i + 2], &end);
    if (end == argv[i + 2] || *end != '\0' || !std::isfinite(x[i])) {
      std::fprintf(stderr, "hpo_objective: argument %d is not a number: '%s'\n", i + 1, argv[i + 2]);
      return 2;
    }
  }
  std::printf("%.17g\n", is_branin ? branin(x) : hartmann6(x));
  return 0;
}
