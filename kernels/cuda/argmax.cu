// argmax.cu: greedy token choice, lowest index on ties, NaN rejected.
#include "cuda_common.cuh"

// Marks "no candidate yet"; indices are < cols <= INT32_MAX.
constexpr int32_t NO_INDEX = -1;

// True when candidate (value, index) beats the current best: larger, or equal and
// earlier. Comparisons with NaN are false, so NaN never wins (it is reported instead).
static __device__ __forceinline__ bool beats(float value, int32_t index, float best,
                                             int32_t best_index) {
  if (index == NO_INDEX) return false;
  return best_index == NO_INDEX || value > best || (value == best && index < best_index);
}

// result [rows] = index of the largest value of each row of x [rows, cols], or
// -(i + 1) when the row holds a NaN, i the first NaN's index. One block per row at a time.
__global__ __launch_bounds__(LUKV_ROW_THREADS_MAX) void argmax_kernel(
    int32_t* result, const float* __restrict__ x, int64_t rows, int64_t cols) {
  __shared__ float warp_best[32];
  __shared__ int32_t warp_index[32];
  __shared__ int32_t first_nan;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* in = x + row * cols;
    float best = -INFINITY;
    int32_t best_index = NO_INDEX, nan_index = INT32_MAX;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
      float value = in[i];
      if (isnan(value)) nan_index = min(nan_index, (int32_t)i);
      else if (beats(value, (int32_t)i, best, best_index)) {
        best = value;
        best_index = (int32_t)i;
      }
    }
    if (threadIdx.x == 0) first_nan = INT32_MAX;
    for (int offset = 16; offset > 0; offset >>= 1) {
      float other = __shfl_xor_sync(0xffffffffu, best, offset);
      int32_t other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
      if (beats(other, other_index, best, best_index)) {
        best = other;
        best_index = other_index;
      }
    }
    __syncthreads();  // first_nan reset is visible; the previous row's slots are consumed
    if (nan_index != INT32_MAX) atomicMin(&first_nan, nan_index);
    if (lane == 0) {
      warp_best[warp] = best;
      warp_index[warp] = best_index;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < (int)(blockDim.x >> 5); w++) {
        if (beats(warp_best[w], warp_index[w], best, best_index)) {
          best = warp_best[w];
          best_index = warp_index[w];
        }
      }
      result[row] = first_nan != INT32_MAX ? -(first_nan + 1) : best_index;
    }
  }
}

// The row results come back through a stream-ordered scratch buffer; the copy to the
// host buffer needs the stream drained before the caller may read it.
extern "C" LUKV_API int lukv_argmax(LUKV_HOST int32_t* out, const float* x, int64_t rows,
                                    int64_t cols, void* stream) {
  const char* op = "lukv_argmax";
  LUKV_TRY(lukv_validate_argmax(out, x, rows, cols));
  cudaStream_t s = lukv_stream(stream);
  size_t bytes = (size_t)rows * sizeof(int32_t);
  int32_t* result = nullptr;
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&result, bytes, s));
  argmax_kernel<<<lukv_grid_rows(rows), lukv_row_threads(cols), 0, s>>>(result, x, rows, cols);
  int status = lukv_launch_status(op);
  if (status == LUKV_OK) {
    status = lukv_cuda_status(op, cudaMemcpyAsync(out, result, bytes, cudaMemcpyDeviceToHost, s));
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(result, s));
  if (status == LUKV_OK) status = freed;
  if (status == LUKV_OK) status = lukv_cuda_status(op, cudaStreamSynchronize(s));
  LUKV_TRY(status);
  for (int64_t r = 0; r < rows; r++) {
    if (out[r] < 0) {
      return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: row %lld has NaN at %lld", op,
                       (long long)r, (long long)-(out[r] + 1));
    }
  }
  return LUKV_OK;
}
