// Dropout module: a mode switch around ops::dropout and the generator that draws its masks.
#include <fmt/format.h>

#include "descent/nn.h"

namespace descent::nn {

Dropout::Dropout(double p, uint64_t seed) : p_(p), gen_(seed) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error(fmt::format("Dropout: p must be in [0, 1], got {}", p));
}

std::string Dropout::describe() const { return fmt::format("Dropout(p={})", p_); }

}  // namespace descent::nn
