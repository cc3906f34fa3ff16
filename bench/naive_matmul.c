/* naive_matmul.c: the benchmark baseline, y = x W^T as the textbook triple loop
 * (single thread, no blocking), compiled with the same flags as the CPU library. */
#include <stdint.h>

void naive_matmul(float* y, const float* x, const float* w, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < n; j++) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; p++) sum += x[i * k + p] * w[j * k + p];
      y[i * n + j] = sum;
    }
  }
}
