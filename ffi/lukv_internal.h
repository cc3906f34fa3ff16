/* lukv_internal.h: glue shared by the CPU and CUDA libraries (errors, allocation
 * registry, argument checks, dtype conversion). Not part of the ABI. */
#ifndef LUKV_INTERNAL_H
#define LUKV_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "lukv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Records the calling thread's error message (printf-style) and returns `code`, so a
 * failing check reads `return lukv_fail(LUKV_ERR_SHAPE, "...", ...)`. */
int lukv_fail(int code, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Propagates a non-zero status. */
#define LUKV_TRY(expr)        \
  do {                        \
    int lukv_status_ = (expr); \
    if (lukv_status_) return lukv_status_; \
  } while (0)

/* ---- Allocation registry ---------------------------------------------------------
 * Every lukv_alloc is recorded (base address, size) so that frees can be checked and
 * every device array argument can be proven to lie inside live memory before a
 * kernel touches it. Thread-safe. */
int lukv_registry_insert(void* base, int64_t bytes);
/* Records a file mapping: `base` lies `shift` bytes past the page where the mapping starts. */
int lukv_registry_insert_mapped(void* base, int64_t bytes, int64_t shift);
/* Removes `base` (must be an allocation's start); its size goes to *bytes and, when
 * `shift` is not NULL, the mapping's page shift to *shift (-1 for ordinary memory). */
int lukv_registry_remove(const char* op, void* base, int64_t* bytes, int64_t* shift);
int64_t lukv_registry_live_bytes(void);
/* The live bytes and the most live at once since load or the last reset; reset != 0
 * restarts the peak at the live bytes after reading both. */
void lukv_registry_usage(int64_t* live, int64_t* peak, int reset);

/* Checks that `count` elements of `elem_size` bytes starting at `ptr` lie inside one
 * live allocation; `name` is the argument's name for the message. count must be > 0. */
int lukv_check_span(const char* op, const char* name, const void* ptr, int64_t count,
                    int64_t elem_size);

/* Checks a size argument is > 0. */
int lukv_check_positive(const char* op, const char* name, int64_t value);

/* Checks a host pointer argument is not NULL. */
int lukv_check_host(const char* op, const char* name, const void* ptr);

/* a * b (* c), saturating at INT64_MAX so that absurd shapes fail the span check
 * instead of wrapping around. Sizes are checked positive before use. */
int64_t lukv_mul2(int64_t a, int64_t b);
int64_t lukv_mul3(int64_t a, int64_t b, int64_t c);

/* Bytes per element of a dtype code, or 0 when the code is unknown. */
int64_t lukv_dtype_size(int32_t dtype);
const char* lukv_dtype_name(int32_t dtype);
/* Checks dtype is one of the `allowed` mask bits (1 << LUKV_F32 | ...). */
int lukv_check_dtype(const char* op, const char* name, int32_t dtype, unsigned allowed);

/* ---- Op validators (validate.c) ----------------------------------------------------
 * One per op, shared by every library so that all reject the same inputs with the
 * same message. `*_on_device` says which side of a copy is device memory; `w_dtypes`
 * is the mask of weight dtypes this library's matmul takes. */
int lukv_validate_copy(const char* op, const void* dst, int dst_on_device, const void* src,
                       int src_on_device, int64_t bytes);
int lukv_validate_fill(const void* dst, int32_t dtype, int64_t count, double value);
int lukv_validate_fill_random(const void* dst, int32_t dtype, int64_t count, float scale);
int lukv_validate_convert(const void* dst, int32_t dst_dtype, const void* src, int32_t src_dtype,
                          int64_t count);
int lukv_validate_matmul(const float* y, const float* x, const void* w, int32_t w_dtype,
                         const float* bias, int64_t m, int64_t n, int64_t k, unsigned w_dtypes);
int lukv_validate_rmsnorm(const float* y, const float* x, const float* weight, int64_t rows,
                          int64_t dim, float eps);
int lukv_validate_rope(const float* x, const float* cos, const float* sin, int64_t rows,
                       int64_t heads, int64_t head_dim, int64_t pos0, int64_t table_len);
int lukv_validate_binary(const char* op, const float* out, const float* a, const float* b,
                         int64_t count);
int lukv_validate_embedding(const float* out, const void* table, int32_t table_dtype,
                            const int32_t* ids, int64_t count, int64_t vocab, int64_t dim);
int lukv_validate_softmax(const float* y, const float* x, int64_t rows, int64_t cols);
int lukv_validate_kv_write(const float* cache, const float* src, int64_t tokens, int64_t heads,
                           int64_t head_dim, int64_t pos0, int64_t capacity);
int lukv_validate_attention(const char* op, const float* out, const float* q, const float* k,
                            const float* v, int64_t tokens, int64_t kv_len, int64_t capacity,
                            int64_t q_heads, int64_t kv_heads, int64_t head_dim, float scale);
int lukv_validate_argmax(const int32_t* out, const float* x, int64_t rows, int64_t cols);
/* The ragged-cache validators also read every host index array in full: a bad index,
 * an unsorted list or overlapping spans is refused before any row is touched. */
int lukv_validate_kv_gather(const float* dst, const float* src, const int32_t* indices,
                            const int32_t* index_offsets, const int32_t* dst_offsets,
                            int64_t heads, int64_t capacity, int64_t head_dim, int64_t dst_rows);
int lukv_validate_kv_append(const float* dst, const float* src, const int32_t* offsets,
                            const int32_t* lengths, const int32_t* capacities, int64_t heads,
                            int64_t head_dim, int64_t dst_rows);
int lukv_validate_attention_ragged(const float* out, const float* q, const float* k,
                                   const float* v, const int32_t* offsets, const int32_t* lengths,
                                   int64_t rows, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale);
int lukv_validate_attention_scores(const float* out, const float* q, const float* k,
                                   int64_t tokens, int64_t q_pos0, int64_t kv_len,
                                   int64_t capacity, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale);
int lukv_validate_attention_oracle(const float* out, const float* q, const float* k,
                                   const float* weights, int64_t kv_len, int64_t ctx_len,
                                   int64_t capacity, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale);
/* The scoring-statistics validators; the ragged ones read offsets and lengths in full. */
int lukv_validate_query_moments(const float* sum, const float* outer, const float* q,
                                const float* shift, int64_t rows, int64_t heads,
                                int64_t head_dim);
int lukv_validate_expected_attention_scores(const float* out, const float* k, const float* v,
                                            const int32_t* offsets, const int32_t* lengths,
                                            int64_t rows, const float* mean, const float* cov,
                                            int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                            float epsilon);
int lukv_validate_key_scores(const float* out, const float* k, const int32_t* offsets,
                             const int32_t* lengths, int64_t rows, int64_t kv_heads,
                             int64_t head_dim, int32_t mode);

/* Scalar conversions (round to nearest even; NaN stays NaN). Usable from CUDA device
 * code through the LUKV_HD qualifier. */
#if defined(__CUDACC__)
#define LUKV_HD __host__ __device__ static inline
#else
#define LUKV_HD static inline
#endif

LUKV_HD float lukv_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

LUKV_HD uint16_t lukv_f32_to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u); /* quiet NaN */
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

LUKV_HD float lukv_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1fu) {
    bits = sign | 0x7f800000u | (mantissa << 13); /* inf or NaN */
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13); /* normal: rebias 15 -> 127 */
  } else if (mantissa == 0) {
    bits = sign; /* signed zero */
  } else {
    /* Subnormal: shift the mantissa up until its leading one becomes implicit. */
    exponent = 113u;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      exponent--;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

LUKV_HD uint16_t lukv_f32_to_f16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN */
  if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
  if (magnitude < 0x38800000u) {
    /* Result is subnormal or zero: value = m * 2^-24 with m rounded to nearest even. */
    if (magnitude < 0x33000000u) return sign; /* below half the smallest subnormal */
    uint32_t exponent = magnitude >> 23;
    uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exponent; /* 14 .. 24 */
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1u);
    uint32_t midpoint = 1u << (shift - 1u);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) half++;
    return (uint16_t)(sign | half);
  }
  /* Normal: rebias and round the 13 dropped mantissa bits to nearest even. */
  uint32_t rounded = magnitude - 0x38000000u + 0xfffu + ((magnitude >> 13) & 1u);
  return (uint16_t)(sign | (rounded >> 13));
}

/* Element `index` of lukv_fill_random's stream for `seed`, as f32 in [-scale, scale)
 * (see lukv.h). Shared by both libraries so that they write the same bits. */
LUKV_HD float lukv_random_uniform(uint64_t seed, uint64_t index, float scale) {
  uint64_t z = seed + (index + 1u) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  float centred = (float)((int32_t)(z >> 40) - 8388608); /* exact: |value| <= 2^23 */
  return centred * (scale * 0x1p-23f);
}

#ifdef __cplusplus
}
#endif

#endif /* LUKV_INTERNAL_H */
