/* scoring.c: statistics that KV-cache token scorers read at the end of prefill: moments of
 * pre-RoPE queries (Expected Attention's query Gaussian), Expected Attention scores, and
 * the key-only scores Knorm and KeyDiff, over the ragged per-head layout. */
#include <math.h>
#include <stdlib.h>

#include "cpu_common.h"
#include "simd.h"

/* Shifted rows converted to double at a time, and rows whose outer products are added
 * together: each accumulator entry is loaded and stored once per MOMENT_BLOCK rows instead
 * of once per row. The rows still add in order, so the result is the row-by-row sum. */
#define MOMENT_CHUNK 256
#define MOMENT_BLOCK 8

/* acc_sum [d] += the column sums and the upper triangle (b >= a) of acc_outer [d, d] +=
 * x^T x for the shifted rows x [count, d] (double). */
static void add_moments(double* acc_sum, double* acc_outer, const double* x, int64_t count,
                        int64_t d) {
  for (int64_t u = 0; u < count; u++) {
    for (int64_t a = 0; a < d; a++) acc_sum[a] += x[u * d + a];
  }
  int64_t u0 = 0;
  for (; u0 + MOMENT_BLOCK <= count; u0 += MOMENT_BLOCK) {
    const double* block = x + u0 * d;
    for (int64_t a = 0; a < d; a++) {
      double xa[MOMENT_BLOCK];
      for (int u = 0; u < MOMENT_BLOCK; u++) xa[u] = block[u * d + a];
      double* row = acc_outer + a * d;
      for (int64_t b = a; b < d; b++) {
        double sum = row[b];
        for (int u = 0; u < MOMENT_BLOCK; u++) sum += xa[u] * block[u * d + b];
        row[b] = sum;
      }
    }
  }
  for (; u0 < count; u0++) {
    const double* xu = x + u0 * d;
    for (int64_t a = 0; a < d; a++) {
      double* row = acc_outer + a * d;
      for (int64_t b = a; b < d; b++) row[b] += xu[a] * xu[b];
    }
  }
}

/* Each thread owns whole heads, hence whole slices of sum and outer: no atomics, and each
 * entry sums its rows in row order (deterministic). Only the upper triangle is
 * accumulated; outer is symmetric, so the lower one is its mirror. */
LUKV_API int lukv_query_moments(float* sum, float* outer, const float* q, const float* shift,
                                int64_t rows, int64_t heads, int64_t head_dim, void* stream) {
  (void)stream;
  const char* op = "lukv_query_moments";
  LUKV_TRY(lukv_validate_query_moments(sum, outer, q, shift, rows, heads, head_dim));
  int64_t d = head_dim;
  int out_of_memory = 0;
#pragma omp parallel num_threads(lukv_threads(rows * heads * d * d))
  {
    double* scratch = (double*)malloc((size_t)(d * d + d + MOMENT_CHUNK * d) * sizeof(double));
    if (!scratch) {
#pragma omp atomic write
      out_of_memory = 1;
    } else {
      double *acc_outer = scratch, *acc_sum = scratch + d * d, *x = acc_sum + d;
#pragma omp for schedule(dynamic, 1)
      for (int64_t h = 0; h < heads; h++) {
        memset(scratch, 0, (size_t)(d * d + d) * sizeof(double));
        const float* head_shift = shift + h * d;
        for (int64_t r0 = 0; r0 < rows; r0 += MOMENT_CHUNK) {
          int64_t count = rows - r0 < MOMENT_CHUNK ? rows - r0 : MOMENT_CHUNK;
          for (int64_t u = 0; u < count; u++) {
            const float* row = q + ((r0 + u) * heads + h) * d;
            for (int64_t a = 0; a < d; a++) x[u * d + a] = (double)row[a] - head_shift[a];
          }
          add_moments(acc_sum, acc_outer, x, count, d);
        }
        float* head_sum = sum + h * d;
        float* head_outer = outer + h * d * d;
        for (int64_t a = 0; a < d; a++) {
          head_sum[a] = (float)(head_sum[a] + acc_sum[a]);
          for (int64_t b = 0; b < d; b++) {
            double value = b >= a ? acc_outer[a * d + b] : acc_outer[b * d + a];
            head_outer[a * d + b] = (float)(head_outer[a * d + b] + value);
          }
        }
      }
      free(scratch);
    }
  }
  if (out_of_memory) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate a %lld x %lld accumulator", op,
                     (long long)d, (long long)d);
  }
  return LUKV_OK;
}

/* Keys per work item of the logits pass, and keys whose quadratic forms share each load
 * of a covariance row. */
#define EXPECTED_TILE 16
#define QUAD_KEYS 4

static inline lukv_v8 splat8(float x) { return (lukv_v8){x, x, x, x, x, x, x, x}; }

/* quad[u] = k_u^T cov k_u for the QUAD_KEYS keys keys[u] [d]; cov [d, d]. A register tile
 * of y_u = k_u^T cov over 16 (then 8) columns is built row by row of cov, every row
 * load serving all the keys, and folded into the forms with k_u's same columns. */
static void quadratic_forms(float* quad, const float* const* keys, const float* cov, int64_t d) {
  float total[QUAD_KEYS] = {0};
  int64_t b0 = 0;
  for (; b0 + 16 <= d; b0 += 16) {
    lukv_v8 y[QUAD_KEYS][2] = {{{0}}};
    for (int64_t a = 0; a < d; a++) {
      lukv_v8 r0 = lukv_load8(cov + a * d + b0), r1 = lukv_load8(cov + a * d + b0 + 8);
      for (int u = 0; u < QUAD_KEYS; u++) {
        lukv_v8 x = splat8(keys[u][a]);
        y[u][0] += x * r0;
        y[u][1] += x * r1;
      }
    }
    for (int u = 0; u < QUAD_KEYS; u++) {
      total[u] += lukv_sum8(y[u][0] * lukv_load8(keys[u] + b0) +
                            y[u][1] * lukv_load8(keys[u] + b0 + 8));
    }
  }
  for (; b0 + 8 <= d; b0 += 8) {
    lukv_v8 y[QUAD_KEYS] = {{0}};
    for (int64_t a = 0; a < d; a++) {
      lukv_v8 r = lukv_load8(cov + a * d + b0);
      for (int u = 0; u < QUAD_KEYS; u++) y[u] += splat8(keys[u][a]) * r;
    }
    for (int u = 0; u < QUAD_KEYS; u++) total[u] += lukv_sum8(y[u] * lukv_load8(keys[u] + b0));
  }
  for (; b0 < d; b0++) {
    for (int u = 0; u < QUAD_KEYS; u++) {
      float y = 0.0f;
      for (int64_t a = 0; a < d; a++) y += keys[u][a] * cov[a * d + b0];
      total[u] += y * keys[u][b0];
    }
  }
  for (int u = 0; u < QUAD_KEYS; u++) quad[u] = total[u];
}

/* logits [count] = k_u . mean / sqrt(d) + k_u^T cov k_u / (2 d) for the keys k [count, d]. */
static void expected_logits(float* logits, const float* k, int64_t count, const float* mean,
                            const float* cov, int64_t d) {
  float linear_scale = 1.0f / sqrtf((float)d), quadratic_scale = 0.5f / (float)d;
  for (int64_t u0 = 0; u0 < count; u0 += QUAD_KEYS) {
    /* A short last group repeats its last key; the repeats' results are dropped. */
    const float* keys[QUAD_KEYS];
    for (int u = 0; u < QUAD_KEYS; u++) keys[u] = k + (u0 + u < count ? u0 + u : count - 1) * d;
    float quad[QUAD_KEYS];
    quadratic_forms(quad, keys, cov, d);
    for (int u = 0; u < QUAD_KEYS && u0 + u < count; u++) {
      logits[u0 + u] = lukv_dot(keys[u], mean, d) * linear_scale + quad[u] * quadratic_scale;
    }
  }
}

/* Three parallel passes over a logits buffer [q_heads, longest]: the logits of every
 * (query head, tile of its KV head's keys); each query head's softmax in place; each KV
 * head's rows combined from its group's probabilities and value norms. */
LUKV_API int lukv_expected_attention_scores(float* out, const float* k, const float* v,
                                            LUKV_HOST const int32_t* offsets,
                                            LUKV_HOST const int32_t* lengths, int64_t rows,
                                            const float* mean, const float* cov, int64_t q_heads,
                                            int64_t kv_heads, int64_t head_dim, float epsilon,
                                            void* stream) {
  (void)stream;
  const char* op = "lukv_expected_attention_scores";
  LUKV_TRY(lukv_validate_expected_attention_scores(out, k, v, offsets, lengths, rows, mean, cov,
                                                   q_heads, kv_heads, head_dim, epsilon));
  int64_t d = head_dim, group = q_heads / kv_heads, longest = 0, total = 0;
  for (int64_t h = 0; h < kv_heads; h++) {
    longest = lengths[h] > longest ? lengths[h] : longest;
    total += lengths[h];
  }
  float* logits = (float*)malloc((size_t)(q_heads * longest) * sizeof(float));
  if (!logits) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld x %lld logits", op,
                     (long long)q_heads, (long long)longest);
  }
  int64_t tiles = (longest + EXPECTED_TILE - 1) / EXPECTED_TILE;
#pragma omp parallel for num_threads(lukv_threads(group * total * d * d)) schedule(dynamic, 1)
  for (int64_t item = 0; item < q_heads * tiles; item++) {
    int64_t i = item / tiles, j0 = item % tiles * EXPECTED_TILE, h = i / group;
    if (j0 >= lengths[h]) continue;
    int64_t count = lengths[h] - j0 < EXPECTED_TILE ? lengths[h] - j0 : EXPECTED_TILE;
    expected_logits(logits + i * longest + j0, k + ((int64_t)offsets[h] + j0) * d, count,
                    mean + i * d, cov + i * d * d, d);
  }
#pragma omp parallel for num_threads(lukv_threads(group * total)) schedule(dynamic, 1)
  for (int64_t i = 0; i < q_heads; i++) {
    float* row = logits + i * longest;
    lukv_softmax_row(row, row, lengths[i / group]);
  }
#pragma omp parallel for num_threads(lukv_threads(total * (d + group))) schedule(dynamic, 1)
  for (int64_t h = 0; h < kv_heads; h++) {
    for (int64_t j = 0; j < lengths[h]; j++) {
      float p = 0.0f;
      for (int64_t g = 0; g < group; g++) p += logits[(h * group + g) * longest + j];
      int64_t r = (int64_t)offsets[h] + j;
      const float* value = v + r * d;
      out[r] = (p / (float)group + epsilon) * sqrtf(lukv_dot(value, value, d));
    }
  }
  free(logits);
  return LUKV_OK;
}

/* Norms in double, as the TypeScript scorers compute them; a zero key counts as norm 1. */
static double key_norm(const float* key, int64_t d) {
  double sum = 0.0;
  for (int64_t a = 0; a < d; a++) sum += (double)key[a] * key[a];
  return sum > 0.0 ? sqrt(sum) : 1.0;
}

/* Each thread owns whole heads: KeyDiff's mean direction is a per-head reduction, summed
 * in row order (deterministic). */
LUKV_API int lukv_key_scores(float* out, const float* k, LUKV_HOST const int32_t* offsets,
                             LUKV_HOST const int32_t* lengths, int64_t rows, int64_t kv_heads,
                             int64_t head_dim, int32_t mode, void* stream) {
  (void)stream;
  const char* op = "lukv_key_scores";
  LUKV_TRY(lukv_validate_key_scores(out, k, offsets, lengths, rows, kv_heads, head_dim, mode));
  int64_t d = head_dim, total = 0;
  for (int64_t h = 0; h < kv_heads; h++) total += lengths[h];
  int out_of_memory = 0;
#pragma omp parallel num_threads(lukv_threads(total * d))
  {
    double* mean = (double*)malloc((size_t)d * sizeof(double));
    if (!mean) {
#pragma omp atomic write
      out_of_memory = 1;
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t h = 0; h < kv_heads; h++) {
        const float* keys = k + (int64_t)offsets[h] * d;
        float* scores = out + offsets[h];
        int64_t n = lengths[h];
        if (mode == LUKV_KEY_SCORE_KNORM) {
          for (int64_t j = 0; j < n; j++) {
            const float* key = keys + j * d;
            double sum = 0.0;
            for (int64_t a = 0; a < d; a++) sum += (double)key[a] * key[a];
            scores[j] = (float)-sqrt(sum);
          }
          continue;
        }
        memset(mean, 0, (size_t)d * sizeof(double));
        /* A division, not a multiply by 1 / norm: a multiply-add may be fused, and then
         * keys that cancel exactly (k and -k) would leave a rounding residue as the mean. */
        for (int64_t j = 0; j < n; j++) {
          const float* key = keys + j * d;
          double norm = key_norm(key, d);
          for (int64_t a = 0; a < d; a++) mean[a] += key[a] / norm;
        }
        double mean_norm = 0.0;
        for (int64_t a = 0; a < d; a++) mean_norm += mean[a] * mean[a];
        mean_norm = mean_norm > 0.0 ? sqrt(mean_norm) : 1.0;
        for (int64_t j = 0; j < n; j++) {
          const float* key = keys + j * d;
          double dot = 0.0;
          for (int64_t a = 0; a < d; a++) dot += key[a] * mean[a];
          scores[j] = (float)(-dot / key_norm(key, d) / mean_norm);
        }
      }
      free(mean);
    }
  }
  if (out_of_memory) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate a mean of %lld dims", op,
                     (long long)d);
  }
  return LUKV_OK;
}
