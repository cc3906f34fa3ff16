/* softmax.c: numerically stable row softmax. */
#include <math.h>

#include "cpu_common.h"

/* out [n] = softmax(in [n]); out may equal in. Shared with attention.c. */
void lukv_softmax_row(float* out, const float* in, int64_t n) {
  float max = in[0];
  for (int64_t i = 1; i < n; i++) max = in[i] > max ? in[i] : max;
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) {
    out[i] = expf(in[i] - max);
    sum += out[i];
  }
  float inv = (float)(1.0 / sum);
#pragma omp simd
  for (int64_t i = 0; i < n; i++) out[i] *= inv;
}

LUKV_API int lukv_softmax(float* y, const float* x, int64_t rows, int64_t cols, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_softmax(y, x, rows, cols));
#pragma omp parallel for num_threads(lukv_threads(rows * cols)) schedule(static)
  for (int64_t r = 0; r < rows; r++) lukv_softmax_row(y + r * cols, x + r * cols, cols);
  return LUKV_OK;
}
