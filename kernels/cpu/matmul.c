/* matmul.c: y = x W^T (+ b), the linear layer, as a cache-blocked, register-blocked
 * f32 GEMM. */
#include "cpu_common.h"
#include "simd.h"

/* Register tile: ROWS rows of x against COLS rows of W keep ROWS * COLS vector
 * accumulators plus COLS + 1 operands in registers (16 on AVX2). */
#define ROWS 4
#define COLS 3
/* Depth of one pass over k: ROWS + COLS rows of this many floats stay in L1. */
#define DEPTH 512

/* y [rows, n] (row stride n) += x [rows, depth] (stride k) . w [cols, depth]^T (stride k),
 * for rows <= ROWS and cols <= COLS. Inlined with constant rows/cols so the loops
 * unroll into straight-line vector code. */
static inline __attribute__((always_inline)) void tile(float* y, const float* x, const float* w,
                                                       int rows, int cols, int64_t depth,
                                                       int64_t n, int64_t k) {
  lukv_v8 acc[ROWS][COLS] = {{{0}}};
  int64_t p = 0;
  for (; p + 8 <= depth; p += 8) {
    lukv_v8 wv[COLS];
    for (int c = 0; c < cols; c++) wv[c] = lukv_load8(w + c * k + p);
    for (int r = 0; r < rows; r++) {
      lukv_v8 xv = lukv_load8(x + r * k + p);
      for (int c = 0; c < cols; c++) acc[r][c] += xv * wv[c];
    }
  }
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++) {
      float sum = lukv_sum8(acc[r][c]);
      for (int64_t q = p; q < depth; q++) sum += x[r * k + q] * w[c * k + q];
      y[r * n + c] += sum;
    }
  }
}

/* One tile size per call site keeps every instance fully unrolled. */
static void tile_any(float* y, const float* x, const float* w, int rows, int cols, int64_t depth,
                     int64_t n, int64_t k) {
  if (rows == ROWS && cols == COLS) tile(y, x, w, ROWS, COLS, depth, n, k);
  else if (rows == 1 && cols == COLS) tile(y, x, w, 1, COLS, depth, n, k);
  else tile(y, x, w, rows, cols, depth, n, k);
}

LUKV_API int lukv_matmul(float* y, const float* x, const void* w_raw, int32_t w_dtype,
                         const float* bias, int64_t m, int64_t n, int64_t k, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_matmul(y, x, w_raw, w_dtype, bias, m, n, k, 1u << LUKV_F32));
  const float* w = (const float*)w_raw;
  int64_t col_blocks = (n + COLS - 1) / COLS;
  /* Threads split the output columns, so each thread streams its own slice of W once
   * per depth pass while the (smaller) x block is shared through the cache. */
#pragma omp parallel for if (m * n * k > LUKV_PARALLEL_MIN_WORK) schedule(static)
  for (int64_t jb = 0; jb < col_blocks; jb++) {
    int64_t j = jb * COLS;
    int cols = (int)(n - j < COLS ? n - j : COLS);
    for (int64_t i = 0; i < m; i++) {
      for (int c = 0; c < cols; c++) y[i * n + j + c] = bias ? bias[j + c] : 0.0f;
    }
    for (int64_t p = 0; p < k; p += DEPTH) {
      int64_t depth = k - p < DEPTH ? k - p : DEPTH;
      for (int64_t i = 0; i < m; i += ROWS) {
        int rows = (int)(m - i < ROWS ? m - i : ROWS);
        tile_any(y + i * n + j, x + i * k + p, w + j * k + p, rows, cols, depth, n, k);
      }
    }
  }
  return LUKV_OK;
}
