// Kernels: batch and layer normalization on raw pointers (level 0: includes nothing of ours).
//
// Batch norm sees its input as [outer, c, inner] (N, C, H·W for 2-d; N, F, 1 for 1-d) and
// normalizes per channel c over outer·inner values; layer norm normalizes each of `rows`
// rows of d values. Statistics accumulate in double, so float32 batches of any size keep
// their digits. Variances are biased (divided by the count), as the forward uses them.
#pragma once
#include <cstdint>

namespace descent::kernels {

/// Per-channel mean and biased variance of x [outer, c, inner].
void batch_norm_stats(const float* x, int64_t outer, int64_t c, int64_t inner, double* mean, double* var);
void batch_norm_stats(const double* x, int64_t outer, int64_t c, int64_t inner, double* mean, double* var);

/// y = (x - mean[c]) · invstd[c] · w[c] + b[c]; w, b may be null (1 and 0).
void batch_norm_apply(const float* x, int64_t outer, int64_t c, int64_t inner, const double* mean, const double* invstd,
                      const float* w, const float* b, float* y);
void batch_norm_apply(const double* x, int64_t outer, int64_t c, int64_t inner, const double* mean,
                      const double* invstd, const double* w, const double* b, double* y);

/// Gradients of batch_norm_apply from gy. With batch_stats the mean and invstd are functions of x
/// (training) and gx includes their derivatives; otherwise they are constants (evaluation).
/// gx, gw, gb may be null to skip them; all are assigned.
void batch_norm_backward(const float* x, const float* gy, int64_t outer, int64_t c, int64_t inner, const double* mean,
                         const double* invstd, const float* w, bool batch_stats, float* gx, float* gw, float* gb);
void batch_norm_backward(const double* x, const double* gy, int64_t outer, int64_t c, int64_t inner, const double* mean,
                         const double* invstd, const double* w, bool batch_stats, double* gx, double* gw, double* gb);

/// y = (x - mean_r) · invstd_r · w + b per row of d values; saves mean and invstd per row.
void layer_norm_forward(const float* x, int64_t rows, int64_t d, const float* w, const float* b, double eps, float* y,
                        double* mean, double* invstd);
void layer_norm_forward(const double* x, int64_t rows, int64_t d, const double* w, const double* b, double eps,
                        double* y, double* mean, double* invstd);

/// Gradients of layer_norm_forward; gx, gw, gb may be null; all are assigned.
void layer_norm_backward(const float* x, const float* gy, int64_t rows, int64_t d, const double* mean,
                         const double* invstd, const float* w, float* gx, float* gw, float* gb);
void layer_norm_backward(const double* x, const double* gy, int64_t rows, int64_t d, const double* mean,
                         const double* invstd, const double* w, double* gx, double* gw, double* gb);

}  // namespace descent::kernels
