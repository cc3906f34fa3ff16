/* argmax.c: greedy token choice, lowest index on ties, NaN rejected. */
#include <math.h>

#include "cpu_common.h"

LUKV_API int lukv_argmax(LUKV_HOST int32_t* out, const float* x, int64_t rows, int64_t cols,
                         void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_argmax(out, x, rows, cols));
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x + r * cols;
    int64_t best = 0;
    for (int64_t i = 0; i < cols; i++) {
      if (isnan(row[i])) {
        return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "lukv_argmax: row %lld has NaN at %lld",
                         (long long)r, (long long)i);
      }
      if (row[i] > row[best]) best = i;
    }
    out[r] = (int32_t)best;
  }
  return LUKV_OK;
}
