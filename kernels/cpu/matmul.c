/* matmul.c: y = x W^T (+ b), the linear layer, as a cache-blocked, register-blocked
 * GEMM. W is f32, f16 or bf16 as the checkpoint stores it: 16-bit weights are widened in
 * registers and accumulated in f32, so they cost half the bytes that decode streams. */
#include "cpu_common.h"
#include "simd.h"

/* Register tile: ROWS rows of x against COLS rows of W keep ROWS * COLS vector
 * accumulators plus COLS + 1 operands in registers: 6 x 4 fills AVX-512's 32 registers,
 * 4 x 3 AVX2's 16. */
#if LUKV_VW == 16
#define ROWS 6
#define COLS 4
#else
#define ROWS 4
#define COLS 3
#endif
/* Depth of one pass over k when x has many rows: W's COLS rows of this many floats
 * (16 KB) stay in L1 while the tile sweeps down x, whose block streams from L2. Every
 * pass ends in ROWS * COLS horizontal sums, so deeper is cheaper: 1024 ran 1.2x faster
 * than 512 on 256 x 1024 x 1024 (Zen 4, one thread). A single row (decode) streams W
 * once and takes the whole depth in one pass instead. */
#define DEPTH 1024

/* LUKV_VW weights from element i of w, widened to f32. */
static inline __attribute__((always_inline)) lukv_vec load_w(const void* w, int64_t i,
                                                             int32_t dtype) {
  switch (dtype) {
    case LUKV_F16: return lukv_load_vec_f16((const uint16_t*)w + i);
    case LUKV_BF16: return lukv_load_vec_bf16((const uint16_t*)w + i);
    default: return lukv_load_vec((const float*)w + i);
  }
}

static inline __attribute__((always_inline)) float load_w1(const void* w, int64_t i,
                                                           int32_t dtype) {
  switch (dtype) {
    case LUKV_F16: return lukv_f16_to_f32(((const uint16_t*)w)[i]);
    case LUKV_BF16: return lukv_bf16_to_f32(((const uint16_t*)w)[i]);
    default: return ((const float*)w)[i];
  }
}

/* y [rows, n] (row stride n) += x [rows, depth] (stride k) . w [cols, depth]^T (stride k),
 * for rows <= ROWS and cols <= COLS; w points at element w0 of a `dtype` matrix. Inlined
 * with constant rows, cols and dtype so the loops unroll into straight-line vector code. */
static inline __attribute__((always_inline)) void tile(float* y, const float* x, const void* w,
                                                       int64_t w0, int32_t dtype, int rows,
                                                       int cols, int64_t depth, int64_t n,
                                                       int64_t k) {
  lukv_vec acc[ROWS][COLS] = {{{0}}};
  int64_t p = 0;
  for (; p + LUKV_VW <= depth; p += LUKV_VW) {
    lukv_vec wv[COLS];
    for (int c = 0; c < cols; c++) wv[c] = load_w(w, w0 + c * k + p, dtype);
    if (rows == 1) {
      /* Decode: the tile reads COLS rows side by side, each a short stream (2 KB of f16 at
       * k = 1024) that the hardware prefetcher has to find again at every tile; fetching the
       * next tile's rows (this thread's next columns) meanwhile made one thread's f16 decode
       * matmul 1.5x faster (1.40-1.69, bench/matmul_ab.ts, 3 rounds), f32 0.93-1.14x.
       * A prefetch past the end of W is harmless (prefetches never fault), and the address
       * is integer arithmetic, not a pointer past the array. */
      for (int c = 0; c < cols; c++) {
        int64_t element = w0 + (COLS + c) * k + p;
        uintptr_t next = (uintptr_t)w + (uintptr_t)(element * (dtype == LUKV_F32 ? 4 : 2));
        __builtin_prefetch((const void*)next);
      }
    }
    for (int r = 0; r < rows; r++) {
      lukv_vec xv = lukv_load_vec(x + r * k + p);
      for (int c = 0; c < cols; c++) acc[r][c] += xv * wv[c];
    }
  }
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++) {
      float sum = lukv_sum_vec(acc[r][c]);
      for (int64_t q = p; q < depth; q++) sum += x[r * k + q] * load_w1(w, w0 + c * k + q, dtype);
      y[r * n + c] += sum;
    }
  }
}

/* One tile size and dtype per call site keeps every instance fully unrolled. */
#define TILE_SHAPES(dtype)                                                                     \
  if (rows == ROWS && cols == COLS) tile(y, x, w, w0, dtype, ROWS, COLS, depth, n, k);         \
  else if (rows == 1 && cols == COLS) tile(y, x, w, w0, dtype, 1, COLS, depth, n, k);          \
  else tile(y, x, w, w0, dtype, rows, cols, depth, n, k)

static void tile_any(float* y, const float* x, const void* w, int64_t w0, int32_t dtype, int rows,
                     int cols, int64_t depth, int64_t n, int64_t k) {
  switch (dtype) {
    case LUKV_F16: TILE_SHAPES(LUKV_F16); break;
    case LUKV_BF16: TILE_SHAPES(LUKV_BF16); break;
    default: TILE_SHAPES(LUKV_F32);
  }
}

LUKV_API int lukv_matmul(float* y, const float* x, const void* w_raw, int32_t w_dtype,
                         const float* bias, int64_t m, int64_t n, int64_t k, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_matmul(y, x, w_raw, w_dtype, bias, m, n, k,
                                (1u << LUKV_F32) | (1u << LUKV_F16) | (1u << LUKV_BF16)));
  int64_t col_blocks = (n + COLS - 1) / COLS;
  int64_t block_depth = m == 1 ? k : DEPTH;
  /* Threads split the output columns, so each thread streams its own slice of W once
   * per depth pass while the (smaller) x block is shared through the cache. The work of
   * one row of x (decode) is W's bytes: each weight then comes from memory, not cache,
   * and one thread streamed f32 W at 4.9 G multiply-adds/s where the blocked GEMM ran
   * 27.6 G/s (2816 x 1024, cycling over 48 matrices so none stays cached, OMP_NUM_THREADS=1,
   * 2026-12-07), so a weight byte costs about what a GEMM multiply-add does. */
  int64_t work = m == 1 ? n * k * lukv_dtype_size(w_dtype) : m * n * k;
#pragma omp parallel for num_threads(lukv_threads(work)) schedule(static)
  for (int64_t jb = 0; jb < col_blocks; jb++) {
    int64_t j = jb * COLS;
    int cols = (int)(n - j < COLS ? n - j : COLS);
    for (int64_t i = 0; i < m; i++) {
      for (int c = 0; c < cols; c++) y[i * n + j + c] = bias ? bias[j + c] : 0.0f;
    }
    for (int64_t p = 0; p < k; p += block_depth) {
      int64_t depth = k - p < block_depth ? k - p : block_depth;
      for (int64_t i = 0; i < m; i += ROWS) {
        int rows = (int)(m - i < ROWS ? m - i : ROWS);
        tile_any(y + i * n + j, x + i * k + p, w_raw, j * k + p, w_dtype, rows, cols, depth, n, k);
      }
    }
  }
  return LUKV_OK;
}
