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
 * [capacity, head_dim]. The oracle needs every probability, not only their weighted sum
 * of values, so it keeps this two-pass form. */
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

/* Decode and prefill attention are one-pass ("online") softmax, as in flash attention.
 * Keys and values go by in blocks of LUKV_VW rows; a block is loaded from memory once and
 * then, from L1, serves every query row that shares its KV head (the GQA group, and in
 * prefill several tokens). Each query row keeps a running max m, a running sum l of
 * e^(s - m) and an accumulator acc = sum of e^(s - m) v; a block with a larger max first
 * rescales l and acc by e^(m - m'). out = acc / l at the end. So each key and value row is
 * read once, the scores never go to memory, and e^x runs LUKV_VW lanes at a time
 * (lukv_exp_vec): decode attention runs at the speed memory delivers K and V. */

/* scale * (q . k_j) for key rows j < n (n <= LUKV_VW) of k [n, head_dim]; lanes >= n are
 * 0. Lane-wise partial dots of all rows at once (each slice of q loaded once), summed
 * across lanes by one transpose tree (lukv_sum_each); a head_dim that is not a multiple
 * of LUKV_VW finishes element by element. Inlined with n = LUKV_VW, the row loop unrolls
 * and the partial dots live in registers. */
static inline __attribute__((always_inline)) lukv_vec block_scores(const float* q, const float* k,
                                                                   int64_t head_dim, int n,
                                                                   float scale) {
  lukv_vec partial[LUKV_VW];
  for (int j = 0; j < LUKV_VW; j++) partial[j] = (lukv_vec){0};
  int64_t c = 0;
  for (; c + LUKV_VW <= head_dim; c += LUKV_VW) {
    lukv_vec qc = lukv_load_vec(q + c);
    for (int j = 0; j < n; j++) partial[j] += qc * lukv_load_vec(k + j * head_dim + c);
  }
  lukv_vec s = lukv_sum_each(partial);
  for (int j = 0; c < head_dim && j < n; j++) {
    float rest = 0.0f;
    for (int64_t i = c; i < head_dim; i++) rest += q[i] * k[j * head_dim + i];
    s[j] += rest;
  }
  return s * scale;
}

/* One query row's online-softmax step over one block: s holds the scores of the block's
 * key rows, of which only the first `valid` count (the rest lie past the row's causal
 * limit or past the keys, and are neither read nor weighted); v [>= valid, head_dim].
 * Updates the row's acc [head_dim], *max and sum [LUKV_VW]: the running sum is kept lane
 * by lane and added up once at the end, not across lanes every block. A row's first block
 * finds *max = -inf: its rescale factor is e^-inf = 0, so acc must start at 0, not garbage
 * (0 * NaN = NaN). The rescale is skipped (factor 1) when the max stays, as it mostly
 * does after the first blocks. */
static inline __attribute__((always_inline)) void block_update(float* acc, float* max, float* sum,
                                                               lukv_vec s, const float* v,
                                                               int64_t head_dim, int valid) {
  lukv_vec_mask live = lukv_lane_index() < (float)valid;
  if (valid < LUKV_VW) s = lukv_select_vec(live, s, (lukv_vec){0} - INFINITY);
  float block_max = lukv_max_vec(s);
  float new_max = block_max > *max ? block_max : *max;
  float rescale = new_max == *max ? 1.0f : expf(*max - new_max);
  lukv_vec p = lukv_exp_vec(s - new_max);
  if (valid < LUKV_VW) p = lukv_select_vec(live, p, (lukv_vec){0});
  lukv_vec lanes = lukv_load_vec(sum) * rescale + p;
  memcpy(sum, &lanes, sizeof lanes);
  *max = new_max;
  float weight[LUKV_VW];
  memcpy(weight, &p, sizeof weight);
  int64_t c = 0;
  for (; c + LUKV_VW <= head_dim; c += LUKV_VW) {
    lukv_vec a = lukv_load_vec(acc + c) * rescale;
    for (int j = 0; j < valid; j++) a += weight[j] * lukv_load_vec(v + j * head_dim + c);
    memcpy(acc + c, &a, sizeof a);
  }
  for (; c < head_dim; c++) {
    float a = acc[c] * rescale;
    for (int j = 0; j < valid; j++) a += weight[j] * v[j * head_dim + c];
    acc[c] = a;
  }
}

/* A decode chunk's partial result per query head of the group: max, the sum's LUKV_VW
 * lanes, then acc [head_dim]; the chunks of one head merge exactly (merge_chunks). */
#define STATE_FLOATS(head_dim) (1 + LUKV_VW + (head_dim))
#define STATE_SUM 1
#define STATE_ACC (1 + LUKV_VW)

/* The `group` query heads q [group, head_dim] of one token attend to the n rows of k, v
 * [n, head_dim] (a chunk of one KV head's rows); state [group, STATE_FLOATS] receives each
 * head's unnormalised (max, sum, acc). The block loop is outside the head loop, so a
 * block's rows come from memory once for the whole group. */
static inline __attribute__((always_inline)) void attend_chunk_dim(float* state, const float* q,
                                                                   const float* k, const float* v,
                                                                   int64_t n, int64_t group,
                                                                   int64_t head_dim, float scale) {
  int64_t stride = STATE_FLOATS(head_dim);
  for (int64_t g = 0; g < group; g++) {
    state[g * stride] = -INFINITY;
    memset(state + g * stride + STATE_SUM, 0, (size_t)(LUKV_VW + head_dim) * sizeof(float));
  }
  int64_t j = 0;
  for (; j + LUKV_VW <= n; j += LUKV_VW) {
    const float *kb = k + j * head_dim, *vb = v + j * head_dim;
    for (int64_t g = 0; g < group; g++) {
      float* st = state + g * stride;
      lukv_vec s = block_scores(q + g * head_dim, kb, head_dim, LUKV_VW, scale);
      block_update(st + STATE_ACC, st, st + STATE_SUM, s, vb, head_dim, LUKV_VW);
    }
  }
  if (j < n) {
    int rest = (int)(n - j);
    for (int64_t g = 0; g < group; g++) {
      float* st = state + g * stride;
      lukv_vec s = block_scores(q + g * head_dim, k + j * head_dim, head_dim, rest, scale);
      block_update(st + STATE_ACC, st, st + STATE_SUM, s, v + j * head_dim, head_dim, rest);
    }
  }
}

/* attend_chunk_dim with head_dim a constant for the common sizes: then a block's row
 * addresses are one pointer plus immediate offsets and the loops over head_dim unroll,
 * where a run-time head_dim needs a pointer register per row and spills them (the
 * generic instance ran at half the speed). */
static void attend_chunk(float* state, const float* q, const float* k, const float* v, int64_t n,
                         int64_t group, int64_t head_dim, float scale) {
  switch (head_dim) {
    case 64: attend_chunk_dim(state, q, k, v, n, group, 64, scale); break;
    case 128: attend_chunk_dim(state, q, k, v, n, group, 128, scale); break;
    default: attend_chunk_dim(state, q, k, v, n, group, head_dim, scale);
  }
}

/* out [group, head_dim] from the `chunks` partial states of one KV head, in chunk order:
 * with M the largest chunk max, out = (sum_c e^(m_c - M) acc_c) / (sum_c e^(m_c - M) l_c),
 * the softmax over all of the head's rows. A head without rows gets zeros. */
static void merge_chunks(float* out, const float* state, int64_t chunks, int64_t group,
                         int64_t head_dim) {
  int64_t stride = STATE_FLOATS(head_dim);
  for (int64_t g = 0; g < group; g++) {
    float* o = out + g * head_dim;
    float max = -INFINITY, sum = 0.0f;
    for (int64_t c = 0; c < chunks; c++) {
      float m = state[(c * group + g) * stride];
      max = m > max ? m : max;
    }
    memset(o, 0, (size_t)head_dim * sizeof(float));
    for (int64_t c = 0; c < chunks; c++) {
      const float* st = state + (c * group + g) * stride;
      float weight = expf(st[0] - max);
      sum += weight * lukv_sum_vec(lukv_load_vec(st + STATE_SUM));
      lukv_axpy(o, weight, st + STATE_ACC, head_dim);
    }
    float inv = chunks > 0 ? 1.0f / sum : 0.0f;
    for (int64_t i = 0; i < head_dim; i++) o[i] *= inv;
  }
}

/* Rows per decode chunk: about 128 KiB of K (and as much of V), a multiple of LUKV_VW.
 * It depends on head_dim alone, so the chunking, and with it the rounding, is the same
 * whatever the thread count. */
static int64_t chunk_rows(int64_t head_dim) {
  int64_t rows = ((int64_t)1 << 15) / head_dim / LUKV_VW * LUKV_VW;
  return rows < LUKV_VW ? LUKV_VW : rows;
}

/* Decode attention (one token) of q [q_heads, head_dim]: KV head h has lengths[h] rows
 * from row offsets[h] of k, v [rows, head_dim] (ragged) or, with offsets NULL, kv_len
 * rows from row h * capacity (dense). Flash-decoding: every head is cut into chunks of
 * chunk_rows, the chunks of all heads are shared out dynamically (a long head spreads
 * over all threads, short ones fill the gaps), then each head merges its chunks. One
 * allocation per call holds the chunks' partial states. */
static int decode(const char* op, float* out, const float* q, const float* k, const float* v,
                  const int32_t* offsets, const int32_t* lengths, int64_t kv_len, int64_t capacity,
                  int64_t q_heads, int64_t kv_heads, int64_t head_dim, float scale) {
  int64_t group = q_heads / kv_heads, per_chunk = chunk_rows(head_dim);
  int64_t chunks = 0, total = 0;
  for (int64_t h = 0; h < kv_heads; h++) {
    int64_t length = lengths ? lengths[h] : kv_len;
    chunks += (length + per_chunk - 1) / per_chunk;
    total += length;
  }
  int64_t state_floats = group * STATE_FLOATS(head_dim);
  size_t bytes = (size_t)(kv_heads + 1) * sizeof(int64_t) +
                 (size_t)(chunks * state_floats) * sizeof(float);
  int64_t* first_chunk = (int64_t*)malloc(bytes);
  if (!first_chunk) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld chunk states", op,
                     (long long)chunks);
  }
  float* state = (float*)(first_chunk + kv_heads + 1);
  first_chunk[0] = 0;
  for (int64_t h = 0; h < kv_heads; h++) {
    int64_t length = lengths ? lengths[h] : kv_len;
    first_chunk[h + 1] = first_chunk[h] + (length + per_chunk - 1) / per_chunk;
  }
#pragma omp parallel num_threads(lukv_threads(2 * group * total * head_dim))
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; c++) {
      /* Binary search for the head h with first_chunk[h] <= c < first_chunk[h + 1]. */
      int64_t lo = 0, hi = kv_heads - 1;
      while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (first_chunk[mid] <= c) lo = mid;
        else hi = mid - 1;
      }
      int64_t h = lo, length = lengths ? lengths[h] : kv_len;
      int64_t start = (c - first_chunk[h]) * per_chunk;
      int64_t n = length - start < per_chunk ? length - start : per_chunk;
      int64_t row = (offsets ? (int64_t)offsets[h] : h * capacity) + start;
      attend_chunk(state + c * state_floats, q + h * group * head_dim, k + row * head_dim,
                   v + row * head_dim, n, group, head_dim, scale);
    }
#pragma omp for schedule(static)
    for (int64_t h = 0; h < kv_heads; h++) {
      merge_chunks(out + h * group * head_dim, state + first_chunk[h] * state_floats,
                   first_chunk[h + 1] - first_chunk[h], group, head_dim);
    }
  }
  free(first_chunk);
  return LUKV_OK;
}

/* Query rows a prefill tile holds: several tokens of one GQA group (or a slice of a
 * group wider than this), so that a key block in L1 serves them all. */
#define TILE_ROWS 16

/* A prefill tile's pass over its keys: `rows` query rows, row r at element at[r] of q and
 * of out (its acc), seeing keys 0 .. limit[r] - 1 of k, v [>= limit[rows - 1], head_dim]
 * (the last row sees the most), with running max[r] and sum[r]. */
static inline __attribute__((always_inline)) void tile_keys_dim(
    float* out, const float* q, const float* k, const float* v, int64_t rows, const int64_t* at,
    const int64_t* limit, float* max, float (*sum)[LUKV_VW], int64_t head_dim, float scale) {
  int64_t keys = limit[rows - 1];
  for (int64_t j = 0; j < keys; j += LUKV_VW) {
    const float *kb = k + j * head_dim, *vb = v + j * head_dim;
    int n = keys - j < LUKV_VW ? (int)(keys - j) : LUKV_VW;
    for (int64_t r = 0; r < rows; r++) {
      int64_t seen = limit[r] - j;
      if (seen <= 0) continue;
      lukv_vec s = n == LUKV_VW ? block_scores(q + at[r], kb, head_dim, LUKV_VW, scale)
                                : block_scores(q + at[r], kb, head_dim, n, scale);
      if (seen >= LUKV_VW) block_update(out + at[r], max + r, sum[r], s, vb, head_dim, LUKV_VW);
      else block_update(out + at[r], max + r, sum[r], s, vb, head_dim, (int)seen);
    }
  }
}

/* tile_keys_dim with a constant head_dim for the common sizes, as attend_chunk. */
static void tile_keys(float* out, const float* q, const float* k, const float* v, int64_t rows,
                      const int64_t* at, const int64_t* limit, float* max, float (*sum)[LUKV_VW],
                      int64_t head_dim, float scale) {
  switch (head_dim) {
    case 64: tile_keys_dim(out, q, k, v, rows, at, limit, max, sum, 64, scale); break;
    case 128: tile_keys_dim(out, q, k, v, rows, at, limit, max, sum, 128, scale); break;
    default: tile_keys_dim(out, q, k, v, rows, at, limit, max, sum, head_dim, scale);
  }
}

/* Causal prefill attention: `tokens` queries q [tokens, q_heads, head_dim], the last at
 * position kv_len - 1, over k, v [kv_heads, capacity, head_dim]. A work item is a tile:
 * up to TILE_ROWS query rows (some tokens, and some or all heads of one group) against
 * their KV head, in blocks of keys 0 .. the tile's last visible one; a row whose causal
 * limit ends inside a block masks the rest and skips later blocks. acc lives in out
 * itself (divided by the sum at the end), max and sum lanes on the stack: nothing to
 * allocate.
 * Tiles go out latest tokens (longest rows) first, so the dynamic schedule ends even. */
static void prefill(float* out, const float* q, const float* k, const float* v, int64_t tokens,
                    int64_t kv_len, int64_t capacity, int64_t q_heads, int64_t kv_heads,
                    int64_t head_dim, float scale) {
  int64_t group = q_heads / kv_heads;
  int64_t slice = group < TILE_ROWS ? group : TILE_ROWS; /* heads of the group per tile */
  int64_t slices = (group + slice - 1) / slice;
  int64_t tile_tokens = TILE_ROWS / slice;
  int64_t token_tiles = (tokens + tile_tokens - 1) / tile_tokens;
  int64_t items = token_tiles * kv_heads * slices;
#pragma omp parallel for num_threads(lukv_threads(tokens * q_heads * kv_len * head_dim)) \
    schedule(dynamic, 1)
  for (int64_t item = 0; item < items; item++) {
    int64_t t0 = (token_tiles - 1 - item / (kv_heads * slices)) * tile_tokens;
    int64_t h = item / slices % kv_heads, g0 = item % slices * slice;
    int64_t heads = group - g0 < slice ? group - g0 : slice;
    int64_t tile_end = tokens - t0 < tile_tokens ? tokens : t0 + tile_tokens;
    int64_t rows = (tile_end - t0) * heads;
    float max[TILE_ROWS], sum[TILE_ROWS][LUKV_VW];
    int64_t limit[TILE_ROWS], at[TILE_ROWS];
    for (int64_t r = 0; r < rows; r++) {
      int64_t t = t0 + r / heads;
      at[r] = (t * q_heads + h * group + g0 + r % heads) * head_dim;
      limit[r] = kv_len - tokens + t + 1;
      max[r] = -INFINITY;
      memset(sum[r], 0, sizeof sum[r]);
      memset(out + at[r], 0, (size_t)head_dim * sizeof(float));
    }
    tile_keys(out, q, k + h * capacity * head_dim, v + h * capacity * head_dim, rows, at, limit,
              max, sum, head_dim, scale);
    for (int64_t r = 0; r < rows; r++) {
      float inv = 1.0f / lukv_sum_vec(lukv_load_vec(sum[r]));
      for (int64_t i = 0; i < head_dim; i++) out[at[r] + i] *= inv;
    }
  }
}

LUKV_API int lukv_attention_prefill(float* out, const float* q, const float* k, const float* v,
                                    int64_t tokens, int64_t kv_len, int64_t capacity,
                                    int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                    float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_prefill";
  LUKV_TRY(lukv_validate_attention(op, out, q, k, v, tokens, kv_len, capacity, q_heads, kv_heads,
                                   head_dim, scale));
  prefill(out, q, k, v, tokens, kv_len, capacity, q_heads, kv_heads, head_dim, scale);
  return LUKV_OK;
}

LUKV_API int lukv_attention_decode(float* out, const float* q, const float* k, const float* v,
                                   int64_t kv_len, int64_t capacity, int64_t q_heads,
                                   int64_t kv_heads, int64_t head_dim, float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_decode";
  LUKV_TRY(lukv_validate_attention(op, out, q, k, v, 1, kv_len, capacity, q_heads, kv_heads,
                                   head_dim, scale));
  return decode(op, out, q, k, v, NULL, NULL, kv_len, capacity, q_heads, kv_heads, head_dim,
                scale);
}

/* Chunks of all heads share the threads (decode above), so heads of unequal lengths
 * still keep every core busy. */
LUKV_API int lukv_attention_decode_ragged(float* out, const float* q, const float* k,
                                          const float* v, LUKV_HOST const int32_t* offsets,
                                          LUKV_HOST const int32_t* lengths, int64_t rows,
                                          int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                          float scale, void* stream) {
  (void)stream;
  const char* op = "lukv_attention_decode_ragged";
  LUKV_TRY(lukv_validate_attention_ragged(out, q, k, v, offsets, lengths, rows, q_heads, kv_heads,
                                          head_dim, scale));
  return decode(op, out, q, k, v, offsets, lengths, 0, 0, q_heads, kv_heads, head_dim, scale);
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
#pragma omp parallel num_threads(lukv_threads(tokens * q_heads * keys * head_dim))
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
#pragma omp parallel num_threads(lukv_threads(q_heads * kv_len * head_dim))
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
