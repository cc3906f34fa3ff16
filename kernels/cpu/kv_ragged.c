/* kv_ragged.c: the ragged per-head KV layout: compaction of a dense layer cache by
 * per-head index lists (gather) and the one-row-per-head decode append. */
#include "cpu_common.h"

/* dst [dst_rows, head_dim] rows dst_offsets[h] + i <- src [heads, capacity, head_dim]
 * rows indices[index_offsets[h] + i] of head h. Heads copy in parallel: each owns a
 * disjoint destination span, so there is nothing to synchronise. */
LUKV_API int lukv_kv_gather(float* dst, const float* src, LUKV_HOST const int32_t* indices,
                            LUKV_HOST const int32_t* index_offsets,
                            LUKV_HOST const int32_t* dst_offsets, int64_t heads, int64_t capacity,
                            int64_t head_dim, int64_t dst_rows, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_kv_gather(dst, src, indices, index_offsets, dst_offsets, heads, capacity,
                                   head_dim, dst_rows));
  size_t row_bytes = (size_t)head_dim * sizeof(float);
#pragma omp parallel for num_threads(lukv_threads((int64_t)index_offsets[heads] * head_dim)) \
    schedule(dynamic, 1)
  for (int64_t h = 0; h < heads; h++) {
    const float* head = src + h * capacity * head_dim;
    float* to = dst + (int64_t)dst_offsets[h] * head_dim;
    for (int64_t i = index_offsets[h]; i < index_offsets[h + 1]; i++, to += head_dim) {
      memcpy(to, head + (int64_t)indices[i] * head_dim, row_bytes);
    }
  }
  return LUKV_OK;
}

/* dst [dst_rows, head_dim] row offsets[h] + lengths[h] <- src [heads, head_dim] row h. */
LUKV_API int lukv_kv_append(float* dst, const float* src, LUKV_HOST const int32_t* offsets,
                            LUKV_HOST const int32_t* lengths, LUKV_HOST const int32_t* capacities,
                            int64_t heads, int64_t head_dim, int64_t dst_rows, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_kv_append(dst, src, offsets, lengths, capacities, heads, head_dim,
                                   dst_rows));
  for (int64_t h = 0; h < heads; h++) {
    memcpy(dst + ((int64_t)offsets[h] + lengths[h]) * head_dim, src + h * head_dim,
           (size_t)head_dim * sizeof(float));
  }
  return LUKV_OK;
}
