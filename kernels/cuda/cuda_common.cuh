// cuda_common.cuh: helpers shared by the CUDA kernels (errors, launch sizes, reductions, loads).
#ifndef LUKV_CUDA_COMMON_CUH
#define LUKV_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "lukv_internal.h"

// The ABI passes streams as void* so that the header needs no CUDA types.
static inline cudaStream_t lukv_stream(void* stream) { return (cudaStream_t)stream; }

// Turns a CUDA status into a lukv status. The runtime also records the error as the
// "last error"; it is cleared here so that the next op's launch check does not report it.
static inline int lukv_cuda_status(const char* op, cudaError_t err) {
  if (err == cudaSuccess) return LUKV_OK;
  cudaGetLastError();
  int code = err == cudaErrorMemoryAllocation ? LUKV_ERR_OUT_OF_MEMORY : LUKV_ERR_DEVICE;
  return lukv_fail(code, "%s: %s", op, cudaGetErrorString(err));
}

// Reports a failed kernel launch (bad configuration, or an earlier asynchronous fault).
static inline int lukv_launch_status(const char* op) {
  return lukv_cuda_status(op, cudaGetLastError());
}

// Stream-ordered scratch (partial results, host index lists copied over) comes from the
// device's default memory pool. By default that pool hands its memory back to the driver
// whenever a stream synchronises, so every op after a synchronize would map fresh memory,
// which costs more than a decode kernel; a release threshold of "never" keeps freed
// scratch for reuse. Scratch is small (at most a few MB per op), so keeping it is cheap.
static inline int lukv_scratch_alloc(const char* op, void** ptr, size_t bytes,
                                     cudaStream_t stream) {
  static int configured[64];  // per device, in this translation unit; setting it twice is harmless
  int device = 0;
  LUKV_TRY(lukv_cuda_status(op, cudaGetDevice(&device)));
  if (device < 0 || device >= 64 || !__atomic_load_n(&configured[device], __ATOMIC_ACQUIRE)) {
    cudaMemPool_t pool;
    LUKV_TRY(lukv_cuda_status(op, cudaDeviceGetDefaultMemPool(&pool, device)));
    uint64_t keep = UINT64_MAX;
    LUKV_TRY(lukv_cuda_status(
        op, cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep)));
    if (device >= 0 && device < 64) __atomic_store_n(&configured[device], 1, __ATOMIC_RELEASE);
  }
  return lukv_cuda_status(op, cudaMallocAsync(ptr, bytes, stream));
}

// Blocks for a grid-stride loop over `count` items: enough to fill the device, and
// never more than the grid allows however large count is.
static inline unsigned lukv_grid_1d(int64_t count, int threads) {
  int64_t blocks = (count + threads - 1) / threads;
  return (unsigned)(blocks < 65536 ? blocks : 65536);
}

// Blocks for kernels that loop over rows with one block per row at a time.
static inline unsigned lukv_grid_rows(int64_t rows) {
  return (unsigned)(rows < (1 << 20) ? rows : (1 << 20));
}

// Row kernels are declared __launch_bounds__(LUKV_ROW_THREADS_MAX) so that any size
// lukv_row_threads picks is launchable.
constexpr int LUKV_ROW_THREADS_MAX = 1024;

// Threads for a block that reduces one row of `cols` values: a multiple of the warp
// size, no more than the row needs, at most LUKV_ROW_THREADS_MAX.
static inline int lukv_row_threads(int64_t cols) {
  int64_t threads = (cols + 31) / 32 * 32;
  return (int)(threads < LUKV_ROW_THREADS_MAX ? threads : LUKV_ROW_THREADS_MAX);
}

static __device__ __forceinline__ float lukv_warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

static __device__ __forceinline__ float lukv_warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// Block-wide reductions: every thread of the block must call them (blockDim.x a
// multiple of 32) and every thread gets the result. The leading barrier lets one block
// call the same reduction again (next row) without racing on the shared slots.
static __device__ __forceinline__ float lukv_block_sum(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = lukv_warp_sum(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < (int)(blockDim.x >> 5) ? partial[lane] : 0.0f;
  return lukv_warp_sum(v);
}

static __device__ __forceinline__ float lukv_block_max(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = lukv_warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < (int)(blockDim.x >> 5) ? partial[lane] : -INFINITY;
  return lukv_warp_max(v);
}

// Element loads widened to f32, so kernels templated on the storage type read any
// table or weight dtype. f16 and bf16 widen exactly, as lukv_f16_to_f32 does.
static __device__ __forceinline__ float lukv_to_f32(float v) { return v; }
static __device__ __forceinline__ float lukv_to_f32(__half v) { return __half2float(v); }
static __device__ __forceinline__ float lukv_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

#endif  // LUKV_CUDA_COMMON_CUH
