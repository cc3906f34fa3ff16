/* rope.c: rotary position embedding, rotate-half layout, from explicit cos/sin tables
 * (the tables carry any frequency scaling, e.g. llama3's, computed in TypeScript). */
#include "cpu_common.h"

LUKV_API int lukv_rope(float* x, const float* cos, const float* sin, int64_t rows, int64_t heads,
                       int64_t head_dim, int64_t pos0, int64_t table_len, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_rope(x, cos, sin, rows, heads, head_dim, pos0, table_len));
  int64_t half = head_dim / 2;
#pragma omp parallel for collapse(2) num_threads(lukv_threads(rows * heads * head_dim)) \
    schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t h = 0; h < heads; h++) {
      float* lo = x + (r * heads + h) * head_dim;
      float* hi = lo + half;
      const float* c = cos + (pos0 + r) * half;
      const float* s = sin + (pos0 + r) * half;
#pragma omp simd
      for (int64_t i = 0; i < half; i++) {
        float a = lo[i], b = hi[i];
        lo[i] = a * c[i] - b * s[i];
        hi[i] = b * c[i] + a * s[i];
      }
    }
  }
  return LUKV_OK;
}
