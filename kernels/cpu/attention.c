/* attention.c: the dense KV cache write, causal GQA attention (prefill and decode) over
 * a cache laid out [kv_heads, capacity, head_dim], decode attention over the ragged
 * per-head layout, the summed attention probabilities that eviction scorers read, and
 * LU-KV's oracle utility (attention times value-output norm, running max). */
#include <math.h>
#include <stdlib.h>

#include "cpu_common.h"
#include "simd.h"

LUKV_API int lukv_kv_write(float* cache, const float* src, int64_t tokens, int64_t heads,
                           int64_t head_dim, int64_t pos0, int64_t capacity, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_kv_write(cache, src, tokens, heads, head_dim, pos0, capacity));
  for (int64_t h = 0; h < heads; h++) {
    for (int64_t t = 0; t < tokens; t++) {
      memcpy(cache + (h * capacity + pos0 + t) * head_dim, src + (t * heads + h) * head_dim,
             (size_t)head_dim * sizeof(float));
    }
  }
  return LUKV_OK;
}

/* probs [group, visible] = softmax(scale * q.k) of the `group` query heads q [group,
 * head_dim] (one token) that share one KV head, over its first `visible` rows of k
 * [capacity, head_dim]. Every key row is loaded once for the whole group: decode
 * attention is bound by memory traffic, so GQA's sharing is where the speed is. */
static void group_probabilities(float* probs, const float* q, const float* k, int64_t group,
                                int64_t visible, int64_t head_dim, float scale) {
  for (int64_t s = 0; s < visible; s++) {
    const float* key = k + s * head_dim;
    for (int64_t g = 0; g < group; g++) {
      probs[g * visible + s] = scale * lukv_dot(q + g * head_dim, key, head_dim);
    }
  }
  for (int64_t g = 0; g < group; g++) {
    lukv_softmax_row(probs + g * visible, probs + g * visible, visible);
  }
}

/* The `group` query heads q [group, head_dim] (one token) that share one KV head attend
 * to its first `visible` rows of k, v [capacity, head_dim]; out [group, head_dim].
 * scores [group, visible]. */
static void attend_group(float* out, const float* q, const float* k, const float* v, int64_t group,
                         int64_t visible, int64_t head_dim, float scale, float* scores) {
  group_probabilities(scores, q, k, group, visible, head_dim, scale);
  memset(out, 0, (size_t)(group * head_dim) * sizeof(float));
  for (int64_t s = 0; s < visible; s++) {
    const float* value = v + s * head_dim;
    for (int64_t g = 0; g < group; g++) {
      lukv_axpy(out + g * head_dim, scores[g * visible + s], value, head_dim);
    }
  }
}

/* Shared body: `tokens` queries, the last of which sits at position kv_len - 1. Work
 * items are (token, KV head) pairs; each thread owns one scores buffer. */
static int attention(const char* op, float* out, const float* q, const float* k, const float* v,
                     int64_t tokens, int64_t kv_len, int64_t capacity, int64_t q_heads,
                     int64_t kv_heads, int64_t head_dim, float scale) {
  int64_t group = q_heads / kv_heads;
  int64_t items = tokens * kv_heads;
  int out_of_memory = 0;
#pragma omp parallel if (tokens * q_heads * kv_len * head_dim > LUKV_PARALLEL_MIN_WORK)
  {
    float* scores = (float*)malloc((size_t)(group * kv_len) * sizeof(float));
    if (!scores) {
#pragma omp atomic write
      out_of_memory = 1;
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < items; item++) {
        int64_t t = item / kv_heads, h = item % kv_heads;
        int64_t kv_offset = h * capacity * head_dim;
        int64_t first_q = (t * q_heads + h * group) * head_dim;
        attend_group(out + first_q, q + first_q, k + kv_offset, v + kv_offset, group,
                     kv_len - tokens + t + 1, head_dim, scale, scores);
      }
      free(scores);
    }
  }
  if (out_of_memory) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate scores for %lld keys", op,
                     (long long)kv_len);
  }
  return LUKV_OK;
}

LUKV_API int lukv_attention_prefill(float* out, const float* q, const float* k, const float* v,
                                    int64_t tokens, int64_t kv_len, int64_t capacity,
                                    int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                    float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_prefill";
  LUKV_TRY(lukv_validate_attention(op, out, q, k, v, tokens, kv_len, capacity, q_heads, kv_heads,
                                   head_dim, scale));
  return attention(op, out, q, k, v, tokens, kv_len, capacity, q_heads, kv_heads, head_dim, scale);
}

LUKV_API int lukv_attention_decode(float* out, const float* q, const float* k, const float* v,
                                   int64_t kv_len, int64_t capacity, int64_t q_heads,
                                   int64_t kv_heads, int64_t head_dim, float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_decode";
  LUKV_TRY(lukv_validate_attention(op, out, q, k, v, 1, kv_len, capacity, q_heads, kv_heads,
                                   head_dim, scale));
  return attention(op, out, q, k, v, 1, kv_len, capacity, q_heads, kv_heads, head_dim, scale);
}

/* Work items are KV heads, each of its own length; dynamic scheduling lets a thread that
 * drew short heads take the next one, so unequal budgets still balance. */
LUKV_API int lukv_attention_decode_ragged(float* out, const float* q, const float* k,
                                          const float* v, LUKV_HOST const int32_t* offsets,
                                          LUKV_HOST const int32_t* lengths, int64_t rows,
                                          int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                          float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_decode_ragged";
  LUKV_TRY(lukv_validate_attention_ragged(out, q, k, v, offsets, lengths, rows, q_heads, kv_heads,
                                          head_dim, scale));
  int64_t group = q_heads / kv_heads, longest = 0, total = 0;
  for (int64_t h = 0; h < kv_heads; h++) {
    longest = lengths[h] > longest ? lengths[h] : longest;
    total += lengths[h];
  }
  int out_of_memory = 0;
#pragma omp parallel if (group * total * head_dim > LUKV_PARALLEL_MIN_WORK)
  {
    float* scores = (float*)malloc((size_t)(group * longest) * sizeof(float));
    if (!scores) {
#pragma omp atomic write
      out_of_memory = 1;
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t h = 0; h < kv_heads; h++) {
        int64_t first_q = h * group * head_dim, first_row = (int64_t)offsets[h] * head_dim;
        attend_group(out + first_q, q + first_q, k + first_row, v + first_row, group, lengths[h],
                     head_dim, scale, scores);
      }
      free(scores);
    }
  }
  if (out_of_memory) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate scores for %lld keys", op,
                     (long long)longest);
  }
  return LUKV_OK;
}

/* out_row [kv_len] += the attention probabilities of `tokens` queries times `group` query
 * heads over one KV head's keys k [capacity, head_dim]. q points at the group's first
 * head of token 0; token t's heads start q_stride floats further per token. Query t
 * sees keys 0 .. q_pos0 + t. scores [group, q_pos0 + tokens]: every key row is loaded
 * once per token for the whole group, then each query's row gets its own max and sum
 * (the normaliser over exactly the keys it sees) before it is added to out_row. */
static void score_group(float* out_row, const float* q, int64_t q_stride, const float* k,
                        int64_t tokens, int64_t q_pos0, int64_t group, int64_t head_dim,
                        float scale, float* scores) {
  for (int64_t t = 0; t < tokens; t++) {
    const float* query = q + t * q_stride;
    int64_t visible = q_pos0 + t + 1;
    for (int64_t s = 0; s < visible; s++) {
      const float* key = k + s * head_dim;
      for (int64_t g = 0; g < group; g++) {
        scores[g * visible + s] = scale * lukv_dot(query + g * head_dim, key, head_dim);
      }
    }
    for (int64_t g = 0; g < group; g++) {
      float* row = scores + g * visible;
      float max = row[0];
      for (int64_t s = 1; s < visible; s++) max = row[s] > max ? row[s] : max;
      double sum = 0.0;
      for (int64_t s = 0; s < visible; s++) {
        row[s] = expf(row[s] - max);
        sum += row[s];
      }
      lukv_axpy(out_row, (float)(1.0 / sum), row, visible);
    }
  }
}

/* Each thread owns whole KV heads, hence whole rows of out: accumulation needs no
 * atomics, and the sum over a head's queries has a fixed order (deterministic). */
LUKV_API int lukv_attention_scores(float* out, const float* q, const float* k, int64_t tokens,
                                   int64_t q_pos0, int64_t kv_len, int64_t capacity,
                                   int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                   float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_scores";
  LUKV_TRY(lukv_validate_attention_scores(out, q, k, tokens, q_pos0, kv_len, capacity, q_heads,
                                          kv_heads, head_dim, scale));
  int64_t group = q_heads / kv_heads, keys = q_pos0 + tokens;
  int out_of_memory = 0;
#pragma omp parallel if (tokens * q_heads * keys * head_dim > LUKV_PARALLEL_MIN_WORK)
  {
    float* scores = (float*)malloc((size_t)(group * keys) * sizeof(float));
    if (!scores) {
#pragma omp atomic write
      out_of_memory = 1;
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t h = 0; h < kv_heads; h++) {
        score_group(out + h * kv_len, q + h * group * head_dim, q_heads * head_dim,
                    k + h * capacity * head_dim, tokens, q_pos0, group, head_dim, scale, scores);
      }
      free(scores);
    }
  }
  if (out_of_memory) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate scores for %lld keys", op,
                     (long long)keys);
  }
  return LUKV_OK;
}

/* Each thread owns whole KV heads, hence whole rows of out: the running max needs no
 * atomics. probs [group, kv_len] holds one step's attention of one GQA group, never more. */
LUKV_API int lukv_attention_oracle(float* out, const float* q, const float* k,
                                   const float* weights, int64_t kv_len, int64_t ctx_len,
                                   int64_t capacity, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_oracle";
  LUKV_TRY(lukv_validate_attention_oracle(out, q, k, weights, kv_len, ctx_len, capacity, q_heads,
                                          kv_heads, head_dim, scale));
  int64_t group = q_heads / kv_heads;
  int out_of_memory = 0;
#pragma omp parallel if (q_heads * kv_len * head_dim > LUKV_PARALLEL_MIN_WORK)
  {
    float* probs = (float*)malloc((size_t)(group * kv_len) * sizeof(float));
    if (!probs) {
#pragma omp atomic write
      out_of_memory = 1;
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t h = 0; h < kv_heads; h++) {
        group_probabilities(probs, q + h * group * head_dim, k + h * capacity * head_dim, group,
                            kv_len, head_dim, scale);
        float* row = out + h * ctx_len;
        const float* head_weights = weights + h * group * ctx_len;
        for (int64_t g = 0; g < group; g++) {
          const float* p = probs + g * kv_len;
          const float* w = head_weights + g * ctx_len;
          for (int64_t j = 0; j < ctx_len; j++) row[j] = fmaxf(row[j], p[j] * w[j]);
        }
      }
      free(probs);
    }
  }
  if (out_of_memory) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate probabilities for %lld keys", op,
                     (long long)kv_len);
  }
  return LUKV_OK;
}
