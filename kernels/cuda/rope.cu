// rope.cu: rotary position embedding, rotate-half layout, from explicit cos/sin tables.
#include "cuda_common.cuh"

// In place on x [rows, heads, head_dim]: one thread per rotated pair (x_i, x_{i+half})
// of one head, using cos, sin [table_len, half] at position pos0 + row.
__global__ void rope_kernel(float* x, const float* __restrict__ cos, const float* __restrict__ sin,
                            int64_t rows, int64_t heads, int64_t half, int64_t pos0) {
  int64_t pairs = rows * heads * half;
  for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pairs;
       p += (int64_t)gridDim.x * blockDim.x) {
    int64_t i = p % half, head_row = p / half, row = head_row / heads;
    float* lo = x + head_row * 2 * half + i;
    float* hi = lo + half;
    int64_t t = (pos0 + row) * half + i;
    float c = cos[t], s = sin[t], a = *lo, b = *hi;
    *lo = a * c - b * s;
    *hi = b * c + a * s;
  }
}

extern "C" LUKV_API int lukv_rope(float* x, const float* cos, const float* sin, int64_t rows,
                                  int64_t heads, int64_t head_dim, int64_t pos0,
                                  int64_t table_len, void* stream) {
  LUKV_TRY(lukv_validate_rope(x, cos, sin, rows, heads, head_dim, pos0, table_len));
  const int threads = 256;
  int64_t half = head_dim / 2;
  rope_kernel<<<lukv_grid_1d(rows * heads * half, threads), threads, 0, lukv_stream(stream)>>>(
      x, cos, sin, rows, heads, half, pos0);
  return lukv_launch_status("lukv_rope");
}
