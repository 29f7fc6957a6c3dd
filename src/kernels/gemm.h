// Kernels: general matrix multiply on raw row-major pointers (level 0: includes nothing of ours).
//
// C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T. float goes through oneDNN's
// dnnl_sgemm (its own AVX-512 dispatch, the same OpenMP pool as our loops); double through a
// plain cache-friendly loop — it serves gradient checks on small tensors.
#pragma once
#include <cstdint>

namespace descent::kernels {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace descent::kernels
