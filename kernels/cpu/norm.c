/* norm.c: RMSNorm over the last dimension. */
#include <math.h>

#include "cpu_common.h"

LUKV_API int lukv_rmsnorm(float* y, const float* x, const float* weight, int64_t rows,
                          int64_t dim, float eps, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_rmsnorm(y, x, weight, rows, dim, eps));
#pragma omp parallel for num_threads(lukv_threads(rows * dim)) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* in = x + r * dim;
    float* out = y + r * dim;
    /* Sum of squares in double: dim is up to ~16K and rows differ by orders of
     * magnitude, so f32 accumulation would cost digits the reference keeps. */
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < dim; i++) sum += (double)in[i] * in[i];
    float inv = (float)(1.0 / sqrt(sum / (double)dim + (double)eps));
#pragma omp simd
    for (int64_t i = 0; i < dim; i++) out[i] = in[i] * inv * weight[i];
  }
  return LUKV_OK;
}
