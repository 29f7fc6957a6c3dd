// Internal: gathering rows of the dataset into a batch, converting the element type on the way.
//
// This runs once per batch on the training loop's critical path, so it is a plain loop per
// (source, destination) type pair chosen once per batch, never a per-element dispatch.
#pragma once
#include <cstdint>
#include <vector>

#include "descent/tensor.h"

namespace descent::data {

/// Throws naming `what`, the position and the index when an index is outside [0, n).
void check_indices(const std::vector<int64_t>& indices, int64_t n, const char* what);

/// Rows `indices` of src (any dtype), same dtype, [indices.size(), ...].
Tensor gather_rows(const Tensor& src, const std::vector<int64_t>& indices);

/// Writes rows idx[0..count) of src (U8, F32 or F64, rows of `row` elements) converted to dst's
/// dtype (F32 or F64) into dst; uint8 values are multiplied by `scale`, floats are copied as is.
void gather_convert(const Tensor& src, const int64_t* idx, int64_t count, int64_t row, double scale, Tensor& dst);

}  // namespace descent::data
