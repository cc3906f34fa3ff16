// norm.cu: RMSNorm over the last dimension.
#include "cuda_common.cuh"

// y [rows, dim] = x [rows, dim] / sqrt(mean(x^2) + eps) * weight [dim]; one block per
// row at a time. y may equal x: a thread reads each element before it writes it.
__global__ __launch_bounds__(LUKV_ROW_THREADS_MAX) void rmsnorm_kernel(
    float* y, const float* x, const float* __restrict__ weight, int64_t rows, int64_t dim,
    float eps) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* in = x + row * dim;
    float* out = y + row * dim;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum += in[i] * in[i];
    sum = lukv_block_sum(sum);
    // Once per row, so the scale is taken in double like the CPU reference.
    float inv = (float)(1.0 / sqrt((double)sum / (double)dim + (double)eps));
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[i] = in[i] * inv * weight[i];
  }
}

extern "C" LUKV_API int lukv_rmsnorm(float* y, const float* x, const float* weight, int64_t rows,
                                     int64_t dim, float eps, void* stream) {
  LUKV_TRY(lukv_validate_rmsnorm(y, x, weight, rows, dim, eps));
  rmsnorm_kernel<<<lukv_grid_rows(rows), lukv_row_threads(dim), 0, lukv_stream(stream)>>>(
      y, x, weight, rows, dim, eps);
  return lukv_launch_status("lukv_rmsnorm");
}
