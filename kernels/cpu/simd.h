/* simd.h: an 8-wide float vector (GCC/Clang vector extension) for the CPU kernels.
 * It maps to AVX on x86-64 and to two NEON registers on arm64, and keeps the kernels
 * plain C instead of intrinsics. */
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
