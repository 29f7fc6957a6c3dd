// Internal to the max-pool kernels (pool.cpp, blocked_pool.cpp): one step of a running
// first-maximum over 16 float lanes in AVX-512, the rule of every max pool here — strict '>'
// keeps the first of tied maxima, NaN wins as in PyTorch — and the fused ReLU's keep mask. The
// library is built for baseline x86-64: include this only under those files' AVX-512 guards; the
// functions carry the target attribute themselves.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace descent::kernels::avx512 {

/// Where v beats m (or is NaN), m takes v and k takes `code`.
__attribute__((target("avx512f"))) inline void take_max(__m512 v, int32_t code, __m512& m, __m512i& k) {
  const __mmask16 t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  m = _mm512_mask_blend_ps(t, m, v);
  k = _mm512_mask_blend_epi32(t, k, _mm512_set1_epi32(code));
}

/// The lanes a ReLU keeps: positive values and NaN (torch's ReLU keeps NaN).
__attribute__((target("avx512f"))) inline __mmask16 relu_keeps(__m512 m) {
  return _mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ) | _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q);
}

}  // namespace descent::kernels::avx512
