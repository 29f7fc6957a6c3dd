// hpo/space_util.h — shared helpers on parameter values and their domains (internal).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "descent/hpo.h"

namespace descent::hpo {

class Rng;

/// "space.\"optimizer.lr\".low": how messages name a field of a parameter.
std::string param_field(std::string_view param, std::string_view field = {});

/// Number of values of an Int or stepped Uniform parameter: floor((high - low) / step) + 1.
std::int64_t lattice_size(const ParamSpec& spec);

/// The i-th lattice value (i in [0, lattice_size)).
Value lattice_value(const ParamSpec& spec, std::int64_t i);

/// A uniform draw from the parameter's domain (in log space for log parameters).
Value draw_random(const ParamSpec& spec, Rng& rng);

/// Bounds of the space TPE models a numeric parameter in: log for log parameters, widened by
/// half a step for lattices so that the end values get their fair share of mass.
std::pair<double, double> internal_bounds(const ParamSpec& spec);

/// A numeric value in TPE's space (log applied for log parameters).
double to_internal(const ParamSpec& spec, const Value& value);

/// Back from TPE's space: exp for log parameters, snapped to the lattice, clamped to bounds.
Value from_internal(const ParamSpec& spec, double x);

/// Index of `value` among a categorical parameter's choices, or -1.
int choice_index(const ParamSpec& spec, const Value& value);

/// Whether a parameter is sampled in log space.
inline bool is_log(const ParamSpec& spec) {
  return spec.kind == ParamKind::LogUniform || (spec.kind == ParamKind::Int && spec.log);
}

}  // namespace descent::hpo
