/* validate.c: the argument checks of every op, shared by the CPU and CUDA libraries so
 * that both reject exactly the same inputs with the same messages. Each validator
 * checks sizes, then dtypes, then that every device array fits in live memory. */
#include "lukv_internal.h"

#define POSITIVE(name, value) LUKV_TRY(lukv_check_positive(op, name, value))
#define SPAN(name, ptr, count, size) LUKV_TRY(lukv_check_span(op, name, ptr, count, size))

int lukv_validate_copy(const char* op, const void* dst, int dst_on_device, const void* src,
                       int src_on_device, int64_t bytes) {
  POSITIVE("bytes", bytes);
  if (dst_on_device) SPAN("dst", dst, bytes, 1);
  else LUKV_TRY(lukv_check_host(op, "dst", dst));
  if (src_on_device) SPAN("src", src, bytes, 1);
  else LUKV_TRY(lukv_check_host(op, "src", src));
  if (dst_on_device && src_on_device) {
    uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    if (d < s + (uintptr_t)bytes && s < d + (uintptr_t)bytes) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: dst and src overlap", op);
    }
  }
  return LUKV_OK;
}

int lukv_validate_fill(const void* dst, int32_t dtype, int64_t count, double value) {
  const char* op = "lukv_fill";
  POSITIVE("count", count);
  LUKV_TRY(lukv_check_dtype(op, "dst", dtype, 0xfu));
  if (dtype == LUKV_I32 && !(value > -2147483649.0 && value < 2147483648.0)) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: %g does not fit an i32", op, value);
  }
  SPAN("dst", dst, count, lukv_dtype_size(dtype));
  return LUKV_OK;
}

int lukv_validate_convert(const void* dst, int32_t dst_dtype, const void* src, int32_t src_dtype,
                          int64_t count) {
  const char* op = "lukv_convert";
  const unsigned floats = 1u << LUKV_F32 | 1u << LUKV_F16 | 1u << LUKV_BF16;
  POSITIVE("count", count);
  LUKV_TRY(lukv_check_dtype(op, "dst", dst_dtype, floats));
  LUKV_TRY(lukv_check_dtype(op, "src", src_dtype, floats));
  SPAN("dst", dst, count, lukv_dtype_size(dst_dtype));
  SPAN("src", src, count, lukv_dtype_size(src_dtype));
  return LUKV_OK;
}

int lukv_validate_matmul(const float* y, const float* x, const void* w, int32_t w_dtype,
                         const float* bias, int64_t m, int64_t n, int64_t k, unsigned w_dtypes) {
  const char* op = "lukv_matmul";
  POSITIVE("m", m);
  POSITIVE("n", n);
  POSITIVE("k", k);
  LUKV_TRY(lukv_check_dtype(op, "w", w_dtype, w_dtypes));
  SPAN("y", y, lukv_mul2(m, n), 4);
  SPAN("x", x, lukv_mul2(m, k), 4);
  SPAN("w", w, lukv_mul2(n, k), lukv_dtype_size(w_dtype));
  if (bias) SPAN("bias", bias, n, 4);
  uintptr_t ys = (uintptr_t)y, xs = (uintptr_t)x;
  uintptr_t ye = ys + (uintptr_t)(m * n) * 4, xe = xs + (uintptr_t)(m * k) * 4;
  if (ys < xe && xs < ye) return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: y overlaps x", op);
  return LUKV_OK;
}

int lukv_validate_rmsnorm(const float* y, const float* x, const float* weight, int64_t rows,
                          int64_t dim, float eps) {
  const char* op = "lukv_rmsnorm";
  POSITIVE("rows", rows);
  POSITIVE("dim", dim);
  if (!(eps >= 0.0f) || eps > 1.0f) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: eps must be in [0, 1], got %g", op,
                     (double)eps);
  }
  SPAN("y", y, lukv_mul2(rows, dim), 4);
  SPAN("x", x, lukv_mul2(rows, dim), 4);
  SPAN("weight", weight, dim, 4);
  return LUKV_OK;
}

int lukv_validate_rope(const float* x, const float* cos, const float* sin, int64_t rows,
                       int64_t heads, int64_t head_dim, int64_t pos0, int64_t table_len) {
  const char* op = "lukv_rope";
  POSITIVE("rows", rows);
  POSITIVE("heads", heads);
  POSITIVE("head_dim", head_dim);
  POSITIVE("table_len", table_len);
  if (head_dim % 2) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: head_dim must be even, got %lld", op,
                     (long long)head_dim);
  }
  if (pos0 < 0 || pos0 > table_len - rows) {
    return lukv_fail(LUKV_ERR_SHAPE,
                     "%s: positions %lld .. %lld fall outside the tables of %lld positions", op,
                     (long long)pos0, (long long)(pos0 + rows - 1), (long long)table_len);
  }
  SPAN("x", x, lukv_mul3(rows, heads, head_dim), 4);
  SPAN("cos", cos, lukv_mul2(table_len, head_dim / 2), 4);
  SPAN("sin", sin, lukv_mul2(table_len, head_dim / 2), 4);
  return LUKV_OK;
}

int lukv_validate_binary(const char* op, const float* out, const float* a, const float* b,
                         int64_t count) {
  POSITIVE("count", count);
  SPAN("out", out, count, 4);
  SPAN("a", a, count, 4);
  SPAN("b", b, count, 4);
  return LUKV_OK;
}

int lukv_validate_embedding(const float* out, const void* table, int32_t table_dtype,
                            const int32_t* ids, int64_t count, int64_t vocab, int64_t dim) {
  const char* op = "lukv_embedding";
  POSITIVE("count", count);
  POSITIVE("vocab", vocab);
  POSITIVE("dim", dim);
  LUKV_TRY(lukv_check_dtype(op, "table", table_dtype,
                            1u << LUKV_F32 | 1u << LUKV_F16 | 1u << LUKV_BF16));
  LUKV_TRY(lukv_check_host(op, "ids", ids));
  for (int64_t i = 0; i < count; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: ids[%lld] = %d is outside [0, %lld)", op,
                       (long long)i, ids[i], (long long)vocab);
    }
  }
  SPAN("out", out, lukv_mul2(count, dim), 4);
  SPAN("table", table, lukv_mul2(vocab, dim), lukv_dtype_size(table_dtype));
  return LUKV_OK;
}

int lukv_validate_softmax(const float* y, const float* x, int64_t rows, int64_t cols) {
  const char* op = "lukv_softmax";
  POSITIVE("rows", rows);
  POSITIVE("cols", cols);
  SPAN("y", y, lukv_mul2(rows, cols), 4);
  SPAN("x", x, lukv_mul2(rows, cols), 4);
  return LUKV_OK;
}

int lukv_validate_kv_write(const float* cache, const float* src, int64_t tokens, int64_t heads,
                           int64_t head_dim, int64_t pos0, int64_t capacity) {
  const char* op = "lukv_kv_write";
  POSITIVE("tokens", tokens);
  POSITIVE("heads", heads);
  POSITIVE("head_dim", head_dim);
  POSITIVE("capacity", capacity);
  if (pos0 < 0 || pos0 > capacity - tokens) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: rows %lld .. %lld do not fit a capacity of %lld", op,
                     (long long)pos0, (long long)(pos0 + tokens - 1), (long long)capacity);
  }
  SPAN("cache", cache, lukv_mul3(heads, capacity, head_dim), 4);
  SPAN("src", src, lukv_mul3(tokens, heads, head_dim), 4);
  return LUKV_OK;
}

int lukv_validate_attention(const char* op, const float* out, const float* q, const float* k,
                            const float* v, int64_t tokens, int64_t kv_len, int64_t capacity,
                            int64_t q_heads, int64_t kv_heads, int64_t head_dim, float scale) {
  POSITIVE("tokens", tokens);
  POSITIVE("kv_len", kv_len);
  POSITIVE("capacity", capacity);
  POSITIVE("q_heads", q_heads);
  POSITIVE("kv_heads", kv_heads);
  POSITIVE("head_dim", head_dim);
  if (q_heads % kv_heads) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: q_heads (%lld) is not a multiple of kv_heads (%lld)",
                     op, (long long)q_heads, (long long)kv_heads);
  }
  if (kv_len > capacity) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: kv_len (%lld) exceeds capacity (%lld)", op,
                     (long long)kv_len, (long long)capacity);
  }
  if (tokens > kv_len) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: %lld new tokens but only %lld cached rows", op,
                     (long long)tokens, (long long)kv_len);
  }
  if (!(scale > 0.0f) || scale > 1e30f) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: scale must be a positive finite number", op);
  }
  SPAN("out", out, lukv_mul3(tokens, q_heads, head_dim), 4);
  SPAN("q", q, lukv_mul3(tokens, q_heads, head_dim), 4);
  SPAN("k", k, lukv_mul3(kv_heads, capacity, head_dim), 4);
  SPAN("v", v, lukv_mul3(kv_heads, capacity, head_dim), 4);
  return LUKV_OK;
}

int lukv_validate_argmax(const int32_t* out, const float* x, int64_t rows, int64_t cols) {
  const char* op = "lukv_argmax";
  POSITIVE("rows", rows);
  POSITIVE("cols", cols);
  if (cols > INT32_MAX) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: cols (%lld) does not fit an int32 index", op,
                     (long long)cols);
  }
  LUKV_TRY(lukv_check_host(op, "out", out));
  SPAN("x", x, lukv_mul2(rows, cols), 4);
  return LUKV_OK;
}
