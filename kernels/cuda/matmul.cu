// matmul.cu: y = x W^T (+ b) with f32/f16/bf16 weights: cuBLAS (f32 weights, and f16/bf16
// weights widened block by block for blocks of rows), else own GEMV and GEMM.
#include <limits.h>

#include "cublas.cuh"
#include "cuda_common.cuh"

// GEMV: a warp owns GEMV_COLS output columns, a block GEMV_WARPS warps.
constexpr int GEMV_MAX_ROWS = 8;
constexpr int GEMV_COLS = 2;
constexpr int GEMV_WARPS = 8;

// Tiled GEMM: a block of 16 x 16 threads computes a TILE x TILE output tile, 4 x 4 per
// thread, walking k in stages of TILE_K.
constexpr int TILE = 64;
constexpr int TILE_K = 16;
constexpr int TILE_THREADS = 256;

// out [8] <- p [8] widened to f32; p is 16-byte aligned.
static __device__ __forceinline__ void load8(const float* p, float* out) {
  float4 a = *(const float4*)p, b = *(const float4*)(p + 4);
  out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
  out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}

static __device__ __forceinline__ void load8(const __half* p, float* out) {
  uint4 raw = *(const uint4*)p;
  const __half2* pairs = (const __half2*)&raw;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    float2 f = __half22float2(pairs[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

static __device__ __forceinline__ void load8(const __nv_bfloat16* p, float* out) {
  uint4 raw = *(const uint4*)p;
  const __nv_bfloat162* pairs = (const __nv_bfloat162*)&raw;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    float2 f = __bfloat1622float2(pairs[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// y [m, n] = x [m, k] . w [n, k]^T (+ bias [n]) for m <= GEMV_MAX_ROWS. A decode step
// is bound by reading w, so each warp streams its weight rows exactly once and applies
// every row of x (small, cache-resident) to each load. VEC: k % 8 == 0 and x, w are
// 16-byte aligned, so a lane reads 8 elements per load.
template <typename T, bool VEC>
__global__ __launch_bounds__(GEMV_WARPS * 32) void matmul_gemv_kernel(
    float* __restrict__ y, const float* __restrict__ x, const T* __restrict__ w,
    const float* __restrict__ bias, int m, int64_t n, int64_t k) {
  int lane = threadIdx.x & 31;
  int64_t col0 = ((int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5)) * GEMV_COLS;
  if (col0 >= n) return;  // whole warps leave; nothing below synchronises the block
  int cols = n - col0 < GEMV_COLS ? (int)(n - col0) : GEMV_COLS;
  float acc[GEMV_MAX_ROWS][GEMV_COLS] = {};
  if constexpr (VEC) {
    for (int64_t i = lane * 8; i < k; i += 32 * 8) {
      float wv[GEMV_COLS][8] = {};
#pragma unroll
      for (int c = 0; c < GEMV_COLS; c++) {
        if (c < cols) load8(w + (col0 + c) * k + i, wv[c]);
      }
#pragma unroll
      for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        if (r < m) {
          float xv[8];
          load8(x + r * k + i, xv);
#pragma unroll
          for (int c = 0; c < GEMV_COLS; c++) {
#pragma unroll
            for (int e = 0; e < 8; e++) acc[r][c] += wv[c][e] * xv[e];
          }
        }
      }
    }
  } else {
    for (int64_t i = lane; i < k; i += 32) {
      float wv[GEMV_COLS] = {};
#pragma unroll
      for (int c = 0; c < GEMV_COLS; c++) {
        if (c < cols) wv[c] = lukv_to_f32(w[(col0 + c) * k + i]);
      }
#pragma unroll
      for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        if (r < m) {
          float xv = x[r * k + i];
#pragma unroll
          for (int c = 0; c < GEMV_COLS; c++) acc[r][c] += wv[c] * xv;
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < GEMV_MAX_ROWS; r++) {
    if (r < m) {
#pragma unroll
      for (int c = 0; c < GEMV_COLS; c++) {
        float sum = lukv_warp_sum(acc[r][c]);
        if (lane == 0 && c < cols) y[r * n + col0 + c] = sum + (bias ? bias[col0 + c] : 0.0f);
      }
    }
  }
}

// y [m, n] = x [m, k] . w [n, k]^T (+ bias [n]); block (bx, by) owns rows by * TILE ..
// and columns bx * TILE ... Both operands are k-contiguous: a stage reads TILE rows x
// TILE_K of each (16 consecutive k per half-warp, so loads coalesce), widens w to f32
// and stores both transposed, so the inner loop reads 4 rows / 4 columns as one float4.
// The 4-float row padding spreads the transposing stores over banks yet keeps float4
// alignment.
template <typename T>
__global__ __launch_bounds__(TILE_THREADS) void matmul_tiled_kernel(
    float* __restrict__ y, const float* __restrict__ x, const T* __restrict__ w,
    const float* __restrict__ bias, int64_t m, int64_t n, int64_t k) {
  __shared__ __align__(16) float xs[TILE_K][TILE + 4];
  __shared__ __align__(16) float ws[TILE_K][TILE + 4];
  int tid = threadIdx.x;
  int64_t row0 = (int64_t)blockIdx.y * TILE, col0 = (int64_t)blockIdx.x * TILE;
  int load_k = tid % TILE_K, load_row = tid / TILE_K;
  int tx = tid % 16, ty = tid / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < k; k0 += TILE_K) {
    int64_t kk = k0 + load_k;
#pragma unroll
    for (int pass = 0; pass < TILE * TILE_K / TILE_THREADS; pass++) {
      int r = load_row + pass * (TILE_THREADS / TILE_K);
      int64_t xr = row0 + r, wr = col0 + r;
      xs[load_k][r] = xr < m && kk < k ? x[xr * k + kk] : 0.0f;
      ws[load_k][r] = wr < n && kk < k ? lukv_to_f32(w[wr * k + kk]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < TILE_K; j++) {
      float4 a4 = *(const float4*)&xs[j][ty * 4];
      float4 b4 = *(const float4*)&ws[j][tx * 4];
      float a[4] = {a4.x, a4.y, a4.z, a4.w}, b[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
      for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int c = 0; c < 4; c++) acc[i][c] += a[i] * b[c];
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int64_t r = row0 + ty * 4 + i;
    if (r >= m) break;
#pragma unroll
    for (int c = 0; c < 4; c++) {
      int64_t col = col0 + tx * 4 + c;
      if (col < n) y[r * n + col] = acc[i][c] + (bias ? bias[col] : 0.0f);
    }
  }
}

// y [m, n] <- bias [n] in every row, so that cuBLAS accumulates the product onto it.
__global__ void broadcast_rows_kernel(float* __restrict__ y, const float* __restrict__ bias,
                                      int64_t m, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * n;
       i += (int64_t)gridDim.x * blockDim.x) {
    y[i] = bias[i % n];
  }
}

// dst [count] <- src [count] widened to f32 (exact).
template <typename T>
__global__ void widen_kernel(float* __restrict__ dst, const T* __restrict__ src, int64_t count) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    dst[i] = lukv_to_f32(src[i]);
  }
}

// f16/bf16 weights with more rows than a GEMV takes: widening a block of weight rows to
// f32 in scratch and handing it to cuBLAS's sgemm is several times faster than the own
// tiled kernel, and computes the same f32 products (widening is exact). Blocks of at most
// WIDEN_SCRATCH_FLOATS bound the scratch whatever the weight's size.
constexpr int64_t WIDEN_SCRATCH_FLOATS = 1 << 24;

template <typename T>
static int cublas_widened_matmul(const char* op, float* y, const float* x, const T* w,
                                 const float* bias, int64_t m, int64_t n, int64_t k,
                                 cudaStream_t stream) {
  const int threads = 256;
  if (bias) {
    broadcast_rows_kernel<<<lukv_grid_1d(m * n, threads), threads, 0, stream>>>(y, bias, m, n);
    LUKV_TRY(lukv_launch_status(op));
  }
  int64_t block_rows = WIDEN_SCRATCH_FLOATS / k;
  block_rows = block_rows < 1 ? 1 : block_rows > n ? n : block_rows;
  float* scratch = nullptr;
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&scratch, (size_t)(block_rows * k) * sizeof(float),
                              stream));
  int status = LUKV_OK;
  for (int64_t row0 = 0; row0 < n && !status; row0 += block_rows) {
    int64_t rows = n - row0 < block_rows ? n - row0 : block_rows;
    widen_kernel<<<lukv_grid_1d(rows * k, threads), threads, 0, stream>>>(scratch, w + row0 * k,
                                                                          rows * k);
    status = lukv_launch_status(op);
    if (!status) {
      status = lukv_cublas_sgemm(y + row0, (int)n, x, scratch, (int)m, (int)rows, (int)k,
                                 bias ? 1.0f : 0.0f, stream);
    }
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(scratch, stream));
  return status ? status : freed;
}

template <typename T>
static void launch_own_matmul(float* y, const float* x, const T* w, const float* bias, int64_t m,
                              int64_t n, int64_t k, cudaStream_t stream) {
  if (m <= GEMV_MAX_ROWS) {
    const int per_block = GEMV_WARPS * GEMV_COLS;
    unsigned blocks = (unsigned)((n + per_block - 1) / per_block);
    bool vec = k % 8 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)w % 16 == 0;
    if (vec) {
      matmul_gemv_kernel<T, true>
          <<<blocks, GEMV_WARPS * 32, 0, stream>>>(y, x, w, bias, (int)m, n, k);
    } else {
      matmul_gemv_kernel<T, false>
          <<<blocks, GEMV_WARPS * 32, 0, stream>>>(y, x, w, bias, (int)m, n, k);
    }
  } else {
    dim3 grid((unsigned)((n + TILE - 1) / TILE), (unsigned)((m + TILE - 1) / TILE));
    matmul_tiled_kernel<T><<<grid, TILE_THREADS, 0, stream>>>(y, x, w, bias, m, n, k);
  }
}

extern "C" LUKV_API int lukv_matmul(float* y, const float* x, const void* w, int32_t w_dtype,
                                    const float* bias, int64_t m, int64_t n, int64_t k,
                                    void* stream) {
  const char* op = "lukv_matmul";
  const unsigned w_dtypes = 1u << LUKV_F32 | 1u << LUKV_F16 | 1u << LUKV_BF16;
  LUKV_TRY(lukv_validate_matmul(y, x, w, w_dtype, bias, m, n, k, w_dtypes));
  // Grid limits: columns go on grid x (2^31 - 1 blocks), row tiles on grid y (65535).
  if (n > INT_MAX || m > 65535LL * TILE) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED, "%s: m = %lld, n = %lld exceed the launch grid", op,
                     (long long)m, (long long)n);
  }
  cudaStream_t s = lukv_stream(stream);
  if (w_dtype == LUKV_F32 && k <= INT_MAX && lukv_cublas_ready()) {
    if (bias) {
      const int threads = 256;
      broadcast_rows_kernel<<<lukv_grid_1d(m * n, threads), threads, 0, s>>>(y, bias, m, n);
      LUKV_TRY(lukv_launch_status(op));
    }
    return lukv_cublas_sgemm(y, (int)n, x, (const float*)w, (int)m, (int)n, (int)k,
                             bias ? 1.0f : 0.0f, s);
  }
  if (w_dtype != LUKV_F32 && m > GEMV_MAX_ROWS && k <= INT_MAX && lukv_cublas_ready()) {
    return w_dtype == LUKV_F16
               ? cublas_widened_matmul(op, y, x, (const __half*)w, bias, m, n, k, s)
               : cublas_widened_matmul(op, y, x, (const __nv_bfloat16*)w, bias, m, n, k, s);
  }
  switch (w_dtype) {
    case LUKV_F16: launch_own_matmul(y, x, (const __half*)w, bias, m, n, k, s); break;
    case LUKV_BF16: launch_own_matmul(y, x, (const __nv_bfloat16*)w, bias, m, n, k, s); break;
    default: launch_own_matmul(y, x, (const float*)w, bias, m, n, k, s);
  }
  return lukv_launch_status(op);
}
