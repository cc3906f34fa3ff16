// softmax.cu: numerically stable row softmax.
#include "cuda_common.cuh"

// y [rows, cols] = softmax of each row of x [rows, cols], one block per row at a time.
// y may equal x: every pass rereads x, and an element is written only in the last pass,
// by the thread that read it.
__global__ __launch_bounds__(LUKV_ROW_THREADS_MAX) void softmax_kernel(float* y, const float* x,
                                                                       int64_t rows, int64_t cols) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* in = x + row * cols;
    float* out = y + row * cols;
    float max = -INFINITY;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) max = fmaxf(max, in[i]);
    max = lukv_block_max(max);
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) sum += expf(in[i] - max);
    float inv = 1.0f / lukv_block_sum(sum);
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[i] = expf(in[i] - max) * inv;
  }
}

extern "C" LUKV_API int lukv_softmax(float* y, const float* x, int64_t rows, int64_t cols,
                                     void* stream) {
  LUKV_TRY(lukv_validate_softmax(y, x, rows, cols));
  softmax_kernel<<<lukv_grid_rows(rows), lukv_row_threads(cols), 0, lukv_stream(stream)>>>(
      y, x, rows, cols);
  return lukv_launch_status("lukv_softmax");
}
