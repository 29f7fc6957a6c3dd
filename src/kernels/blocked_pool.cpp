// 2x2 max pool + ReLU on channel-blocked activations (see blocked_pool.h): portable loops for any
// block size and dtype, and an AVX-512 path for float32 with 16-channel blocks (oneDNN's layout on
// AVX-512 machines), where a window's four inputs are four 16-lane vectors: no permutes at all.
#include "kernels/blocked_pool.h"

#include <algorithm>
#include <cstring>

// The AVX-512 paths: x86-64 with GCC (target attributes), not under AddressSanitizer (masked
// loads and stores near a buffer's end look like overflows to it).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define DESCENT_BLOCKED_POOL_AVX512 1
#include "kernels/max_step_avx512.h"
#else
#define DESCENT_BLOCKED_POOL_AVX512 0
#endif

namespace descent::kernels {
namespace {

// Parallel over (image, channel block) pairs when there is enough work for the threads.
bool parallel(const BlockedDims& d) { return d.n * (d.padded_c() / d.block) > 1 && d.n * d.padded_c() * d.h * d.w > 65536; }

template <class T>
void forward_portable(const BlockedDims& d, const T* x, T* y, uint8_t* code) {
  const int64_t B = d.block, h = d.h, w = d.w, oh = h / 2, ow = w / 2, planes = d.n * (d.padded_c() / B);
#pragma omp parallel for if (parallel(d))
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        const T* a = x + ((p * h + 2 * oy) * w + 2 * ox) * B;
        const T* c = a + w * B;
        const int64_t o = ((p * oh + oy) * ow + ox) * B;
        for (int64_t l = 0; l < B; ++l) {
          // Row-major order with strict '>' keeps the first of tied maxima; NaN wins.
          const T v[4] = {a[l], a[B + l], c[l], c[B + l]};
          T m = v[0];
          uint8_t k = 0;
          for (uint8_t i = 1; i < 4; ++i)
            if (v[i] > m || v[i] != v[i]) m = v[i], k = i;
          const bool pos = m > T(0);
          y[o + l] = pos || m != m ? m : T(0);  // the ReLU keeps NaN, as torch's
          if (code) code[o + l] = pos ? k : kPoolNoGrad;
        }
      }
}

template <class T>
void backward_portable(const BlockedDims& d, const T* gy, const uint8_t* code, T* gx) {
  const int64_t B = d.block, h = d.h, w = d.w, oh = h / 2, ow = w / 2, planes = d.n * (d.padded_c() / B);
#pragma omp parallel for if (parallel(d))
  for (int64_t p = 0; p < planes; ++p) {
    T* plane = gx + p * h * w * B;
    for (int64_t oy = 0; oy < oh; ++oy) {
      T* r0 = plane + 2 * oy * w * B;
      T* r1 = r0 + w * B;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t o = ((p * oh + oy) * ow + ox) * B;
        T* q[4] = {r0 + 2 * ox * B, r0 + (2 * ox + 1) * B, r1 + 2 * ox * B, r1 + (2 * ox + 1) * B};
        for (int64_t l = 0; l < B; ++l) {
          const T g = gy[o + l] + T(0);  // +0: a -0 gradient lands as +0, as a zero fill plus add gives
          for (uint8_t i = 0; i < 4; ++i) q[i][l] = code[o + l] == i ? g : T(0);
        }
      }
      if (2 * ow < w) {  // odd width: the last column is in no window
        std::fill(r0 + 2 * ow * B, r0 + w * B, T(0));
        std::fill(r1 + 2 * ow * B, r1 + w * B, T(0));
      }
    }
    std::fill(plane + 2 * oh * w * B, plane + h * w * B, T(0));  // odd height: the last row too
  }
}

#if DESCENT_BLOCKED_POOL_AVX512
const bool kHaveAvx512 = __builtin_cpu_supports("avx512f");

__attribute__((target("avx512f"))) void forward_avx512(const BlockedDims& d, const float* x, float* y,
                                                        uint8_t* code) {
  const int64_t h = d.h, w = d.w, oh = h / 2, ow = w / 2, planes = d.n * (d.padded_c() / 16);
#pragma omp parallel for if (parallel(d))
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        const float* a = x + ((p * h + 2 * oy) * w + 2 * ox) * 16;
        const float* c = a + w * 16;
        const int64_t o = ((p * oh + oy) * ow + ox) * 16;
        const __m512 v1 = _mm512_loadu_ps(a + 16), v2 = _mm512_loadu_ps(c), v3 = _mm512_loadu_ps(c + 16);
        __m512 m = _mm512_loadu_ps(a);
        __m512i k = _mm512_setzero_si512();
        avx512::take_max(v1, 1, m, k);
        avx512::take_max(v2, 2, m, k);
        avx512::take_max(v3, 3, m, k);
        const __mmask16 pos = _mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ);
        _mm512_storeu_ps(y + o, _mm512_maskz_mov_ps(avx512::relu_keeps(m), m));
        if (code) {
          k = _mm512_mask_blend_epi32(pos, _mm512_set1_epi32(kPoolNoGrad), k);
          // (the masked forms: GCC 12 warns that the unmasked ones read an undefined register)
          _mm512_mask_cvtepi32_storeu_epi8(code + o, 0xFFFF, k);
        }
      }
}

__attribute__((target("avx512f"))) void backward_avx512(const BlockedDims& d, const float* gy, const uint8_t* code,
                                                         float* gx) {
  const int64_t h = d.h, w = d.w, oh = h / 2, ow = w / 2, planes = d.n * (d.padded_c() / 16);
#pragma omp parallel for if (parallel(d))
  for (int64_t p = 0; p < planes; ++p) {
    float* plane = gx + p * h * w * 16;
    for (int64_t oy = 0; oy < oh; ++oy) {
      float* r0 = plane + 2 * oy * w * 16;
      float* r1 = r0 + w * 16;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t o = ((p * oh + oy) * ow + ox) * 16;
        const __m512 g = _mm512_add_ps(_mm512_loadu_ps(gy + o), _mm512_setzero_ps());
        const __m512i k = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(code + o)));
        _mm512_storeu_ps(r0 + 2 * ox * 16, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(0)), g));
        _mm512_storeu_ps(r0 + 2 * ox * 16 + 16,
                         _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(1)), g));
        _mm512_storeu_ps(r1 + 2 * ox * 16, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(2)), g));
        _mm512_storeu_ps(r1 + 2 * ox * 16 + 16,
                         _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(3)), g));
      }
      if (2 * ow < w) {
        std::fill(r0 + 2 * ow * 16, r0 + w * 16, 0.0f);
        std::fill(r1 + 2 * ow * 16, r1 + w * 16, 0.0f);
      }
    }
    std::fill(plane + 2 * oh * w * 16, plane + h * w * 16, 0.0f);
  }
}
#endif

}  // namespace

void pool2x2_relu_blocked_forward(const BlockedDims& d, const float* x, float* y, uint8_t* code) {
#if DESCENT_BLOCKED_POOL_AVX512
  if (d.block == 16 && kHaveAvx512) return forward_avx512(d, x, y, code);
#endif
  forward_portable(d, x, y, code);
}
void pool2x2_relu_blocked_forward(const BlockedDims& d, const double* x, double* y, uint8_t* code) {
  forward_portable(d, x, y, code);
}
void pool2x2_relu_blocked_backward(const BlockedDims& d, const float* gy, const uint8_t* code, float* gx) {
#if DESCENT_BLOCKED_POOL_AVX512
  if (d.block == 16 && kHaveAvx512) return backward_avx512(d, gy, code, gx);
#endif
  backward_portable(d, gy, code, gx);
}
void pool2x2_relu_blocked_backward(const BlockedDims& d, const double* gy, const uint8_t* code, double* gx) {
  backward_portable(d, gy, code, gx);
}

}  // namespace descent::kernels
