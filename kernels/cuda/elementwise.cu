// elementwise.cu: the SwiGLU gate (silu(gate) * up) and the residual add.
#include "cuda_common.cuh"

// out [count] = silu(gate [count]) * up [count].
__global__ void silu_mul_kernel(float* out, const float* gate, const float* up, int64_t count) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// out [count] = a [count] + b [count]; out may alias a or b (each element is read by
// the thread that writes it).
__global__ void add_kernel(float* out, const float* a, const float* b, int64_t count) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

extern "C" LUKV_API int lukv_silu_mul(float* out, const float* gate, const float* up,
                                      int64_t count, void* stream) {
  LUKV_TRY(lukv_validate_binary("lukv_silu_mul", out, gate, up, count));
  const int threads = 256;
  silu_mul_kernel<<<lukv_grid_1d(count, threads), threads, 0, lukv_stream(stream)>>>(out, gate, up,
                                                                                    count);
  return lukv_launch_status("lukv_silu_mul");
}

extern "C" LUKV_API int lukv_add(float* out, const float* a, const float* b, int64_t count,
                                 void* stream) {
  LUKV_TRY(lukv_validate_binary("lukv_add", out, a, b, count));
  const int threads = 256;
  add_kernel<<<lukv_grid_1d(count, threads), threads, 0, lukv_stream(stream)>>>(out, a, b, count);
  return lukv_launch_status("lukv_add");
}
