/* simd.h: 8-wide and target-wide float vectors (GCC/Clang vector extension) for the CPU
 * kernels, with the reductions and the exp that attention needs. They map to AVX or
 * AVX-512 on x86-64 and to NEON on arm64, and keep the kernels plain C: intrinsics only
 * where the generic code would be much slower (f16 widening, the 16-way lane sums). */
#ifndef LUKV_SIMD_H
#define LUKV_SIMD_H

#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

#include "lukv_internal.h"

typedef float lukv_v8 __attribute__((vector_size(32)));

/* Unaligned load and store: memcpy compiles to a single vector move. */
static inline lukv_v8 lukv_load8(const float* p) {
  lukv_v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void lukv_store8(float* p, lukv_v8 v) { memcpy(p, &v, sizeof v); }

/* The widest float vector the target has: 16 lanes with AVX-512, else 8. Kernels whose
 * registers allow it (the matmul) use it; with AVX-512 it halves the instructions per
 * byte and doubles the registers a tile may hold (32 instead of 16). */
#ifdef __AVX512F__
#define LUKV_VW 16
#else
#define LUKV_VW 8
#endif
typedef float lukv_vec __attribute__((vector_size(LUKV_VW * sizeof(float))));
typedef uint16_t lukv_vec_u16 __attribute__((vector_size(LUKV_VW * sizeof(uint16_t))));
typedef uint32_t lukv_vec_u32 __attribute__((vector_size(LUKV_VW * sizeof(uint32_t))));

static inline lukv_vec lukv_load_vec(const float* p) {
  lukv_vec v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* LUKV_VW bf16 values widened to f32: bf16 is the top half of an f32, so a shift is exact. */
static inline lukv_vec lukv_load_vec_bf16(const uint16_t* p) {
  lukv_vec_u16 h;
  memcpy(&h, p, sizeof h);
  lukv_vec_u32 bits = __builtin_convertvector(h, lukv_vec_u32) << 16;
  lukv_vec v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* LUKV_VW f16 values widened to f32, exactly: one vcvtph2ps where the target has F16C
 * (GCC's generic _Float16 vector conversion goes element by element, 5x slower), else
 * element by element. */
static inline lukv_vec lukv_load_vec_f16(const uint16_t* p) {
#if LUKV_VW == 16
  return (lukv_vec)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p));
#elif defined(__F16C__)
  return (lukv_vec)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p));
#else
  lukv_vec v;
  for (int i = 0; i < LUKV_VW; i++) v[i] = lukv_f16_to_f32(p[i]);
  return v;
#endif
}

typedef float lukv_v4 __attribute__((vector_size(16)));

/* Pairwise, so the order is fixed whatever the lane count: lane i meets lane i + width,
 * a whole half-vector at a time (element-wise loops here compiled to scalar extracts and
 * adds, which made the matmul's final sums cost as much as its multiply-adds). */
static inline float lukv_sum_vec(lukv_vec v) {
#if LUKV_VW == 16
  lukv_v8 h8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
               __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
  lukv_v8 h8 = v;
#endif
  lukv_v4 h4 = __builtin_shufflevector(h8, h8, 0, 1, 2, 3) + __builtin_shufflevector(h8, h8, 4, 5, 6, 7);
  return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/* Lane masks of lukv_vec comparisons: all ones where true. */
typedef int32_t lukv_vec_mask __attribute__((vector_size(LUKV_VW * sizeof(int32_t))));

/* mask ? a : b lane by lane (C has no vector ?: operator, so through the bits). */
static inline lukv_vec lukv_select_vec(lukv_vec_mask mask, lukv_vec a, lukv_vec b) {
  lukv_vec_mask ai, bi;
  memcpy(&ai, &a, sizeof ai);
  memcpy(&bi, &b, sizeof bi);
  lukv_vec_mask bits = (ai & mask) | (bi & ~mask);
  lukv_vec out;
  memcpy(&out, &bits, sizeof out);
  return out;
}

/* Lanes 0 .. LUKV_VW - 1 as floats, to build "lane < n" masks. */
static inline lukv_vec lukv_lane_index(void) {
  lukv_vec index;
  for (int i = 0; i < LUKV_VW; i++) index[i] = (float)i;
  return index;
}

/* The largest lane; a pairwise tree like lukv_sum_vec. */
static inline float lukv_max_vec(lukv_vec v) {
#if LUKV_VW == 16
  return _mm512_reduce_max_ps((__m512)v);
#else
  for (int width = LUKV_VW / 2; width >= 1; width /= 2) {
    for (int i = 0; i < width; i++) v[i] = v[i] > v[i + width] ? v[i] : v[i + width];
  }
  return v[0];
#endif
}

/* e^x lane by lane, for the x <= 0 of a softmax (x - max): within 2 ulp of expf down to
 * x = -87, and there clamped, so e^-inf gives about 1e-38 rather than 0 (callers mask
 * lanes that must be exactly 0). x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so
 * r is exact); e^r by its degree-6 Taylor polynomial (error < 1.2e-7); 2^n built in the
 * exponent bits. n comes from adding 1.5 * 2^23, which rounds to nearest and leaves n in
 * the low mantissa bits: no float-to-int conversion, plain vector code on any target. */
static inline lukv_vec lukv_exp_vec(lukv_vec x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23, bits 0x4b400000 */
  lukv_vec floor_x = (lukv_vec){0} - 87.0f;
  x = lukv_select_vec(x < floor_x, floor_x, x);
  lukv_vec t = x * 1.44269504088896341f + magic;
  lukv_vec n = t - magic;
  lukv_vec r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  lukv_vec p = r * (1.0f / 720) + (1.0f / 120);
  p = p * r + (1.0f / 24);
  p = p * r + (1.0f / 6);
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  lukv_vec_u32 bits;
  memcpy(&bits, &t, sizeof bits);
  bits = (bits - 0x4b400000u + 127u) << 23;
  lukv_vec two_n;
  memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

/* out[j] = the sum of the lanes of a[j], for LUKV_VW vectors at once: the dot products of
 * one query with LUKV_VW key rows, each accumulated lane-wise, become one vector of
 * scores. With AVX-512 a transpose-and-add tree (45 instructions for 16 sums, against
 * about 8 each one by one): unpack pairs, then 64-bit halves, then 128-bit quarters. */
static inline lukv_vec lukv_sum_each(const lukv_vec* a) {
#if LUKV_VW == 16
  __m512 pairs[8], quads[4];
  for (int i = 0; i < 8; i++) {
    __m512 x = (__m512)a[2 * i], y = (__m512)a[2 * i + 1];
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y));
  }
  /* pairs[i]: in each 128-bit quarter, lanes (a[2i], a[2i+1], a[2i], a[2i+1]). */
  for (int i = 0; i < 4; i++) {
    __m512d x = _mm512_castps_pd(pairs[2 * i]), y = _mm512_castps_pd(pairs[2 * i + 1]);
    quads[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  /* quads[i]: each 128-bit quarter holds that quarter's sums of a[4i .. 4i+3]. */
  __m512 lo = _mm512_add_ps(_mm512_shuffle_f32x4(quads[0], quads[1], 0x88),
                            _mm512_shuffle_f32x4(quads[0], quads[1], 0xdd));
  __m512 hi = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2], quads[3], 0x88),
                            _mm512_shuffle_f32x4(quads[2], quads[3], 0xdd));
  return (lukv_vec)_mm512_add_ps(_mm512_shuffle_f32x4(lo, hi, 0x88),
                                 _mm512_shuffle_f32x4(lo, hi, 0xdd));
#else
  lukv_vec out;
  for (int j = 0; j < LUKV_VW; j++) out[j] = lukv_sum_vec(a[j]);
  return out;
#endif
}

static inline float lukv_sum8(lukv_v8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* sum_i a[i] * b[i] over n floats. */
static inline float lukv_dot(const float* a, const float* b, int64_t n) {
  lukv_v8 acc0 = {0}, acc1 = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 += lukv_load8(a + i) * lukv_load8(b + i);
    acc1 += lukv_load8(a + i + 8) * lukv_load8(b + i + 8);
  }
  for (; i + 8 <= n; i += 8) acc0 += lukv_load8(a + i) * lukv_load8(b + i);
  float sum = lukv_sum8(acc0 + acc1);
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

/* y[i] += alpha * x[i] over n floats. */
static inline void lukv_axpy(float* y, float alpha, const float* x, int64_t n) {
  lukv_v8 a = {alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) lukv_store8(y + i, lukv_load8(y + i) + a * lukv_load8(x + i));
  for (; i < n; i++) y[i] += alpha * x[i];
}

#endif /* LUKV_SIMD_H */
