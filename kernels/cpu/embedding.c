/* embedding.c: token embedding gather, converting f16/bf16 tables to f32 rows. */
#include "cpu_common.h"

LUKV_API int lukv_embedding(float* out, const void* table, int32_t table_dtype,
                            LUKV_HOST const int32_t* ids, int64_t count, int64_t vocab,
                            int64_t dim, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_embedding(out, table, table_dtype, ids, count, vocab, dim));
#pragma omp parallel for num_threads(lukv_threads(count * dim)) schedule(static)
  for (int64_t t = 0; t < count; t++) {
    float* row = out + t * dim;
    int64_t base = (int64_t)ids[t] * dim;
    if (table_dtype == LUKV_F32) {
      memcpy(row, (const float*)table + base, (size_t)dim * sizeof(float));
    } else {
      const uint16_t* src = (const uint16_t*)table + base;
      for (int64_t i = 0; i < dim; i++) {
        row[i] = table_dtype == LUKV_F16 ? lukv_f16_to_f32(src[i]) : lukv_bf16_to_f32(src[i]);
      }
    }
  }
  return LUKV_OK;
}
