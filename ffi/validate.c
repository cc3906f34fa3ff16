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

int lukv_validate_fill_random(const void* dst, int32_t dtype, int64_t count, float scale) {
  const char* op = "lukv_fill_random";
  POSITIVE("count", count);
  LUKV_TRY(lukv_check_dtype(op, "dst", dtype, 1u << LUKV_F32 | 1u << LUKV_F16 | 1u << LUKV_BF16));
  if (!(scale >= 0.0f) || scale > 3.4028235e38f) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: scale must be finite and >= 0, got %g", op,
                     (double)scale);
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

/* ---- Ragged KV cache and eviction scores ----------------------------------------------- */

/* Device arrays a [a_count] and b [b_count] of floats (already span-checked) must not
 * share a byte: the kernels read one while writing the other. */
static int check_disjoint(const char* op, const char* a_name, const float* a, int64_t a_count,
                          const char* b_name, const float* b, int64_t b_count) {
  uintptr_t as = (uintptr_t)a, bs = (uintptr_t)b;
  uintptr_t ae = as + (uintptr_t)a_count * 4, be = bs + (uintptr_t)b_count * 4;
  if (as < be && bs < ae) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                     "%s: %s and %s overlap (they must be separate memory)", op, a_name, b_name);
  }
  return LUKV_OK;
}

static int check_gqa(const char* op, int64_t q_heads, int64_t kv_heads) {
  if (q_heads % kv_heads) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: q_heads (%lld) is not a multiple of kv_heads (%lld)", op,
                     (long long)q_heads, (long long)kv_heads);
  }
  return LUKV_OK;
}

static int check_scale(const char* op, float scale) {
  if (!(scale > 0.0f) || scale > 1e30f) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: scale must be a positive finite number", op);
  }
  return LUKV_OK;
}

/* Head h's span of `count` rows starts at `start` (an int32 from the caller) and must end
 * before `next` (the next head's start, or the buffer's row count for the last head). */
static int check_head_span(const char* op, const char* array, int64_t h, int64_t heads,
                           int32_t start, int64_t count, int64_t next) {
  if (start < 0) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: %s[%lld] = %d is negative", op, array, (long long)h,
                     start);
  }
  if ((int64_t)start + count <= next) return LUKV_OK;
  if (h == heads - 1) {
    return lukv_fail(LUKV_ERR_SHAPE,
                     "%s: head %lld's rows %d .. %lld run past the buffer's %lld rows", op,
                     (long long)h, start, (long long)start + count - 1, (long long)next);
  }
  return lukv_fail(LUKV_ERR_SHAPE,
                   "%s: head %lld's rows %d .. %lld overlap head %lld's span, which starts at row "
                   "%lld (spans must be in head order and disjoint)",
                   op, (long long)h, start, (long long)start + count - 1, (long long)h + 1,
                   (long long)next);
}

int lukv_validate_kv_gather(const float* dst, const float* src, const int32_t* indices,
                            const int32_t* index_offsets, const int32_t* dst_offsets,
                            int64_t heads, int64_t capacity, int64_t head_dim, int64_t dst_rows) {
  const char* op = "lukv_kv_gather";
  POSITIVE("heads", heads);
  POSITIVE("capacity", capacity);
  POSITIVE("head_dim", head_dim);
  POSITIVE("dst_rows", dst_rows);
  LUKV_TRY(lukv_check_host(op, "index_offsets", index_offsets));
  LUKV_TRY(lukv_check_host(op, "dst_offsets", dst_offsets));
  if (index_offsets[0] != 0) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: index_offsets[0] must be 0, got %d", op,
                     index_offsets[0]);
  }
  for (int64_t h = 0; h < heads; h++) {
    if (index_offsets[h + 1] < index_offsets[h]) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                       "%s: index_offsets must not decrease, but index_offsets[%lld] = %d < "
                       "index_offsets[%lld] = %d",
                       op, (long long)h + 1, index_offsets[h + 1], (long long)h, index_offsets[h]);
    }
  }
  /* With no kept row at all the indices array may be empty (NULL from Deno). */
  if (index_offsets[heads] > 0) LUKV_TRY(lukv_check_host(op, "indices", indices));
  for (int64_t h = 0; h < heads; h++) {
    int64_t first = index_offsets[h], end = index_offsets[h + 1];
    for (int64_t i = first; i < end; i++) {
      if (indices[i] < 0 || indices[i] >= capacity) {
        return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                         "%s: head %lld: indices[%lld] = %d is outside [0, capacity %lld)", op,
                         (long long)h, (long long)i, indices[i], (long long)capacity);
      }
      if (i > first && indices[i] <= indices[i - 1]) {
        return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                         "%s: head %lld: indices must be strictly ascending, but indices[%lld] = "
                         "%d follows %d",
                         op, (long long)h, (long long)i, indices[i], indices[i - 1]);
      }
    }
    int64_t next = h + 1 < heads ? (int64_t)dst_offsets[h + 1] : dst_rows;
    LUKV_TRY(check_head_span(op, "dst_offsets", h, heads, dst_offsets[h], end - first, next));
  }
  SPAN("dst", dst, lukv_mul2(dst_rows, head_dim), 4);
  SPAN("src", src, lukv_mul3(heads, capacity, head_dim), 4);
  return check_disjoint(op, "dst", dst, dst_rows * head_dim, "src", src,
                        heads * capacity * head_dim);
}

int lukv_validate_kv_append(const float* dst, const float* src, const int32_t* offsets,
                            const int32_t* lengths, const int32_t* capacities, int64_t heads,
                            int64_t head_dim, int64_t dst_rows) {
  const char* op = "lukv_kv_append";
  POSITIVE("heads", heads);
  POSITIVE("head_dim", head_dim);
  POSITIVE("dst_rows", dst_rows);
  LUKV_TRY(lukv_check_host(op, "offsets", offsets));
  LUKV_TRY(lukv_check_host(op, "lengths", lengths));
  LUKV_TRY(lukv_check_host(op, "capacities", capacities));
  for (int64_t h = 0; h < heads; h++) {
    if (lengths[h] < 0 || capacities[h] < 0) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                       "%s: head %lld: length %d and capacity %d must not be negative", op,
                       (long long)h, lengths[h], capacities[h]);
    }
    if (lengths[h] >= capacities[h]) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                       "%s: head %lld is full (length %d of capacity %d): grow it or evict before "
                       "appending",
                       op, (long long)h, lengths[h], capacities[h]);
    }
    int64_t next = h + 1 < heads ? (int64_t)offsets[h + 1] : dst_rows;
    LUKV_TRY(check_head_span(op, "offsets", h, heads, offsets[h], capacities[h], next));
  }
  SPAN("dst", dst, lukv_mul2(dst_rows, head_dim), 4);
  SPAN("src", src, lukv_mul2(heads, head_dim), 4);
  return check_disjoint(op, "dst", dst, dst_rows * head_dim, "src", src, heads * head_dim);
}

int lukv_validate_attention_ragged(const float* out, const float* q, const float* k,
                                   const float* v, const int32_t* offsets, const int32_t* lengths,
                                   int64_t rows, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale) {
  const char* op = "lukv_attention_decode_ragged";
  POSITIVE("rows", rows);
  POSITIVE("q_heads", q_heads);
  POSITIVE("kv_heads", kv_heads);
  POSITIVE("head_dim", head_dim);
  LUKV_TRY(check_gqa(op, q_heads, kv_heads));
  LUKV_TRY(check_scale(op, scale));
  LUKV_TRY(lukv_check_host(op, "offsets", offsets));
  LUKV_TRY(lukv_check_host(op, "lengths", lengths));
  for (int64_t h = 0; h < kv_heads; h++) {
    if (lengths[h] < 1) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                       "%s: head %lld has length %d; every head needs at least one row", op,
                       (long long)h, lengths[h]);
    }
    if (offsets[h] < 0 || (int64_t)offsets[h] + lengths[h] > rows) {
      return lukv_fail(LUKV_ERR_SHAPE, "%s: head %lld's rows %d .. %lld fall outside the %lld rows",
                       op, (long long)h, offsets[h], (long long)offsets[h] + lengths[h] - 1,
                       (long long)rows);
    }
  }
  SPAN("out", out, lukv_mul2(q_heads, head_dim), 4);
  SPAN("q", q, lukv_mul2(q_heads, head_dim), 4);
  SPAN("k", k, lukv_mul2(rows, head_dim), 4);
  SPAN("v", v, lukv_mul2(rows, head_dim), 4);
  return LUKV_OK;
}

int lukv_validate_attention_scores(const float* out, const float* q, const float* k,
                                   int64_t tokens, int64_t q_pos0, int64_t kv_len,
                                   int64_t capacity, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale) {
  const char* op = "lukv_attention_scores";
  POSITIVE("tokens", tokens);
  POSITIVE("kv_len", kv_len);
  POSITIVE("capacity", capacity);
  POSITIVE("q_heads", q_heads);
  POSITIVE("kv_heads", kv_heads);
  POSITIVE("head_dim", head_dim);
  LUKV_TRY(check_gqa(op, q_heads, kv_heads));
  LUKV_TRY(check_scale(op, scale));
  if (kv_len > capacity) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: kv_len (%lld) exceeds capacity (%lld)", op,
                     (long long)kv_len, (long long)capacity);
  }
  if (q_pos0 < 0 || q_pos0 > kv_len - tokens) {
    return lukv_fail(LUKV_ERR_SHAPE,
                     "%s: queries at positions %lld .. %lld need keys up to there, but kv_len is "
                     "%lld (q_pos0 + tokens must be <= kv_len)",
                     op, (long long)q_pos0, (long long)q_pos0 + tokens - 1, (long long)kv_len);
  }
  SPAN("out", out, lukv_mul2(kv_heads, kv_len), 4);
  SPAN("q", q, lukv_mul3(tokens, q_heads, head_dim), 4);
  SPAN("k", k, lukv_mul3(kv_heads, capacity, head_dim), 4);
  LUKV_TRY(check_disjoint(op, "out", out, kv_heads * kv_len, "q", q, tokens * q_heads * head_dim));
  return check_disjoint(op, "out", out, kv_heads * kv_len, "k", k, kv_heads * capacity * head_dim);
}

int lukv_validate_attention_oracle(const float* out, const float* q, const float* k,
                                   const float* weights, int64_t kv_len, int64_t ctx_len,
                                   int64_t capacity, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale) {
  const char* op = "lukv_attention_oracle";
  POSITIVE("kv_len", kv_len);
  POSITIVE("ctx_len", ctx_len);
  POSITIVE("capacity", capacity);
  POSITIVE("q_heads", q_heads);
  POSITIVE("kv_heads", kv_heads);
  POSITIVE("head_dim", head_dim);
  LUKV_TRY(check_gqa(op, q_heads, kv_heads));
  LUKV_TRY(check_scale(op, scale));
  if (kv_len > capacity) {
    return lukv_fail(LUKV_ERR_SHAPE, "%s: kv_len (%lld) exceeds capacity (%lld)", op,
                     (long long)kv_len, (long long)capacity);
  }
  if (ctx_len > kv_len) {
    return lukv_fail(LUKV_ERR_SHAPE,
                     "%s: ctx_len (%lld) exceeds kv_len (%lld): the context tokens must all be "
                     "in the cache",
                     op, (long long)ctx_len, (long long)kv_len);
  }
  SPAN("out", out, lukv_mul2(kv_heads, ctx_len), 4);
  SPAN("q", q, lukv_mul2(q_heads, head_dim), 4);
  SPAN("k", k, lukv_mul3(kv_heads, capacity, head_dim), 4);
  SPAN("weights", weights, lukv_mul2(q_heads, ctx_len), 4);
  int64_t out_count = kv_heads * ctx_len;
  LUKV_TRY(check_disjoint(op, "out", out, out_count, "q", q, q_heads * head_dim));
  LUKV_TRY(check_disjoint(op, "out", out, out_count, "k", k, kv_heads * capacity * head_dim));
  return check_disjoint(op, "out", out, out_count, "weights", weights, q_heads * ctx_len);
}

/* ---- Scoring statistics ------------------------------------------------------------------ */

int lukv_validate_query_moments(const float* sum, const float* outer, const float* q,
                                const float* shift, int64_t rows, int64_t heads,
                                int64_t head_dim) {
  const char* op = "lukv_query_moments";
  POSITIVE("rows", rows);
  POSITIVE("heads", heads);
  POSITIVE("head_dim", head_dim);
  int64_t sum_count = lukv_mul2(heads, head_dim);
  int64_t outer_count = lukv_mul3(heads, head_dim, head_dim);
  int64_t q_count = lukv_mul3(rows, heads, head_dim);
  SPAN("sum", sum, sum_count, 4);
  SPAN("outer", outer, outer_count, 4);
  SPAN("q", q, q_count, 4);
  SPAN("shift", shift, sum_count, 4);
  LUKV_TRY(check_disjoint(op, "sum", sum, sum_count, "outer", outer, outer_count));
  LUKV_TRY(check_disjoint(op, "sum", sum, sum_count, "q", q, q_count));
  LUKV_TRY(check_disjoint(op, "sum", sum, sum_count, "shift", shift, sum_count));
  LUKV_TRY(check_disjoint(op, "outer", outer, outer_count, "q", q, q_count));
  return check_disjoint(op, "outer", outer, outer_count, "shift", shift, sum_count);
}

/* The spans of a scored ragged layer: every head owns at least one row, inside the
 * buffer's rows, in head order and without overlap (each score has one writer). */
static int check_scored_spans(const char* op, const int32_t* offsets, const int32_t* lengths,
                              int64_t kv_heads, int64_t rows) {
  LUKV_TRY(lukv_check_host(op, "offsets", offsets));
  LUKV_TRY(lukv_check_host(op, "lengths", lengths));
  for (int64_t h = 0; h < kv_heads; h++) {
    int64_t first = offsets[h], end = (int64_t)offsets[h] + lengths[h];
    if (lengths[h] < 1) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                       "%s: head %lld has length %d; every head needs at least one row", op,
                       (long long)h, lengths[h]);
    }
    if (first < 0 || end > rows) {
      return lukv_fail(LUKV_ERR_SHAPE,
                       "%s: head %lld's rows %lld .. %lld fall outside the %lld rows", op,
                       (long long)h, (long long)first, (long long)end - 1, (long long)rows);
    }
    if (h + 1 < kv_heads && end > offsets[h + 1]) {
      return lukv_fail(LUKV_ERR_SHAPE,
                       "%s: head %lld's rows %lld .. %lld overlap head %lld's span, which starts "
                       "at row %d (spans must be in head order and disjoint)",
                       op, (long long)h, (long long)first, (long long)end - 1, (long long)h + 1,
                       offsets[h + 1]);
    }
  }
  return LUKV_OK;
}

int lukv_validate_expected_attention_scores(const float* out, const float* k, const float* v,
                                            const int32_t* offsets, const int32_t* lengths,
                                            int64_t rows, const float* mean, const float* cov,
                                            int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                            float epsilon) {
  const char* op = "lukv_expected_attention_scores";
  POSITIVE("rows", rows);
  POSITIVE("q_heads", q_heads);
  POSITIVE("kv_heads", kv_heads);
  POSITIVE("head_dim", head_dim);
  LUKV_TRY(check_gqa(op, q_heads, kv_heads));
  if (!(epsilon >= 0.0f) || epsilon > 3.4028235e38f) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: epsilon must be finite and >= 0, got %g", op,
                     (double)epsilon);
  }
  LUKV_TRY(check_scored_spans(op, offsets, lengths, kv_heads, rows));
  int64_t kv_count = lukv_mul2(rows, head_dim);
  int64_t mean_count = lukv_mul2(q_heads, head_dim);
  int64_t cov_count = lukv_mul3(q_heads, head_dim, head_dim);
  SPAN("out", out, rows, 4);
  SPAN("k", k, kv_count, 4);
  SPAN("v", v, kv_count, 4);
  SPAN("mean", mean, mean_count, 4);
  SPAN("cov", cov, cov_count, 4);
  LUKV_TRY(check_disjoint(op, "out", out, rows, "k", k, kv_count));
  LUKV_TRY(check_disjoint(op, "out", out, rows, "v", v, kv_count));
  LUKV_TRY(check_disjoint(op, "out", out, rows, "mean", mean, mean_count));
  return check_disjoint(op, "out", out, rows, "cov", cov, cov_count);
}

int lukv_validate_key_scores(const float* out, const float* k, const int32_t* offsets,
                             const int32_t* lengths, int64_t rows, int64_t kv_heads,
                             int64_t head_dim, int32_t mode) {
  const char* op = "lukv_key_scores";
  POSITIVE("rows", rows);
  POSITIVE("kv_heads", kv_heads);
  POSITIVE("head_dim", head_dim);
  if (mode != LUKV_KEY_SCORE_KNORM && mode != LUKV_KEY_SCORE_KEYDIFF) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT,
                     "%s: unknown mode %d (0 = knorm, 1 = keydiff)", op, mode);
  }
  LUKV_TRY(check_scored_spans(op, offsets, lengths, kv_heads, rows));
  SPAN("out", out, rows, 4);
  SPAN("k", k, lukv_mul2(rows, head_dim), 4);
  return check_disjoint(op, "out", out, rows, "k", k, rows * head_dim);
}
