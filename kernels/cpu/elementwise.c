/* elementwise.c: the SwiGLU gate (silu(gate) * up) and the residual add. */
#include <math.h>

#include "cpu_common.h"

LUKV_API int lukv_silu_mul(float* out, const float* gate, const float* up, int64_t count,
                           void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_binary("lukv_silu_mul", out, gate, up, count));
#pragma omp parallel for simd num_threads(lukv_threads(count)) schedule(static)
  for (int64_t i = 0; i < count; i++) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
  return LUKV_OK;
}

LUKV_API int lukv_add(float* out, const float* a, const float* b, int64_t count, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_binary("lukv_add", out, a, b, count));
#pragma omp parallel for simd num_threads(lukv_threads(count)) schedule(static)
  for (int64_t i = 0; i < count; i++) out[i] = a[i] + b[i];
  return LUKV_OK;
}
