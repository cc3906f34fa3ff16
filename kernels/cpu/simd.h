/* simd.h: an 8-wide float vector (GCC/Clang vector extension) for the CPU kernels.
 * It maps to AVX on x86-64 and to two NEON registers on arm64, and keeps the kernels
 * plain C instead of intrinsics. */
#ifndef LUKV_SIMD_H
#define LUKV_SIMD_H

#include <stdint.h>
#include <string.h>

#include "lukv_internal.h"

typedef float lukv_v8 __attribute__((vector_size(32)));

/* Unaligned load and store: memcpy compiles to a single vector move. */
static inline lukv_v8 lukv_load8(const float* p) {
  lukv_v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void lukv_store8(float* p, lukv_v8 v) { memcpy(p, &v, sizeof v); }

typedef uint16_t lukv_v8u16 __attribute__((vector_size(16)));
typedef uint32_t lukv_v8u32 __attribute__((vector_size(32)));

/* Eight bf16 values widened to f32: bf16 is the top half of an f32, so a shift is exact. */
static inline lukv_v8 lukv_load8_bf16(const uint16_t* p) {
  lukv_v8u16 h;
  memcpy(&h, p, sizeof h);
  lukv_v8u32 bits = __builtin_convertvector(h, lukv_v8u32) << 16;
  lukv_v8 v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* Eight f16 values widened to f32 (one vcvtph2ps with F16C, exact). Compilers without
 * _Float16 convert element by element. */
static inline lukv_v8 lukv_load8_f16(const uint16_t* p) {
#ifdef __FLT16_MAX__
  typedef _Float16 lukv_v8f16 __attribute__((vector_size(16)));
  lukv_v8f16 h;
  memcpy(&h, p, sizeof h);
  return __builtin_convertvector(h, lukv_v8);
#else
  lukv_v8 v;
  for (int i = 0; i < 8; i++) v[i] = lukv_f16_to_f32(p[i]);
  return v;
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
