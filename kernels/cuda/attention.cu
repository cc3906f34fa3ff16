// attention.cu: KV cache write, causal GQA attention (flash prefill, split decode over the
// dense and the ragged layout), the summed attention probabilities eviction scorers read
// and LU-KV's oracle utility (attention times value-output norm, running max).
#include <limits.h>

#include <type_traits>

#include "cuda_common.cuh"

constexpr int ATTN_WARPS = 4;
constexpr int ATTN_THREADS = ATTN_WARPS * 32;
constexpr int ATTN_MAX_HEAD_DIM = 256;
// Keys a warp takes per step: their loads are independent, so issuing them together
// hides memory latency that one key at a time would expose.
constexpr int ATTN_KEYS = 4;
// Decode: a split has at least DECODE_MIN_CHUNK keys so that its work outweighs its
// share of the combine, at most DECODE_MAX_CHUNK so that long contexts spread over
// more blocks, and a head has at most DECODE_MAX_SPLITS splits (combine scratch).
constexpr int64_t DECODE_MIN_CHUNK = 128;
constexpr int64_t DECODE_MAX_CHUNK = 1024;
constexpr int64_t DECODE_MAX_SPLITS = 1024;
// Decode aims at this many blocks per SM: a warp walks its keys in dependent steps, so
// only many resident warps keep enough loads in flight. 12 blocks of ATTN_THREADS at 40
// registers a thread is what one SM holds at once. Measured on an H200 against the
// earlier 4 blocks and 256-key splits: dense decode of 16K tokens 1.2-2x and ragged
// decode of 20% of 64K tokens about 2x faster; 32 blocks did no better.
constexpr int DECODE_BLOCKS_PER_SM = 12;

// cache [heads, capacity, head_dim] rows pos0 .. pos0 + tokens - 1 <- src [tokens,
// heads, head_dim]; one thread per element, reading src in order.
__global__ void kv_write_kernel(float* __restrict__ cache, const float* __restrict__ src,
                                int64_t tokens, int64_t heads, int64_t head_dim, int64_t pos0,
                                int64_t capacity) {
  int64_t count = tokens * heads * head_dim;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t d = i % head_dim, token_head = i / head_dim;
    int64_t h = token_head % heads, t = token_head / heads;
    cache[(h * capacity + pos0 + t) * head_dim + d] = src[i];
  }
}

// One block (ATTN_THREADS threads) attends one query q [head_dim] to rows begin ..
// end - 1 (end > begin) of one KV head's k, v [capacity, head_dim], with scores
// scale * q.k. Lane l holds dims l, l + 32, ... (SLICES of them, head_dim <= 32 *
// SLICES); each warp runs an online softmax over its own keys, and the warps are merged
// through shared memory. With ml == nullptr, dst [head_dim] gets the normalised output;
// otherwise dst gets the unnormalised sum_j p_j v_j with p_j = exp(s_j - max) and ml [2]
// gets (max, sum_j p_j), for a later combine across blocks. With VALUES = false, v and dst
// are not touched and only ml is written: the softmax normaliser of q over the keys.
template <int SLICES, bool VALUES = true>
static __device__ void attend_keys(float* dst, float* ml, const float* __restrict__ q,
                                   const float* __restrict__ k, const float* __restrict__ v,
                                   int64_t begin, int64_t end, int head_dim, float scale) {
  __shared__ float warp_acc[ATTN_WARPS][ATTN_MAX_HEAD_DIM];
  __shared__ float warp_max[ATTN_WARPS], warp_sum[ATTN_WARPS];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float query[SLICES], acc[SLICES];
#pragma unroll
  for (int s = 0; s < SLICES; s++) {
    int d = lane + 32 * s;
    query[s] = d < head_dim ? q[d] : 0.0f;
    acc[s] = 0.0f;
  }
  // A warp with no keys keeps max = -inf and sum = 0, which the merge weighs as zero.
  float run_max = -INFINITY, run_sum = 0.0f;
  for (int64_t j0 = begin + warp * ATTN_KEYS; j0 < end; j0 += ATTN_WARPS * ATTN_KEYS) {
    float score[ATTN_KEYS];
#pragma unroll
    for (int u = 0; u < ATTN_KEYS; u++) {
      int64_t j = j0 + u;
      float dot = 0.0f;
      if (j < end) {
        const float* key = k + j * head_dim;
#pragma unroll
        for (int s = 0; s < SLICES; s++) {
          int d = lane + 32 * s;
          if (d < head_dim) dot += query[s] * key[d];
        }
      }
      dot = lukv_warp_sum(dot);
      score[u] = j < end ? dot * scale : -INFINITY;
    }
    // score[0] is a real key, so step_max is finite and the first correction is 0.
    float step_max = run_max;
#pragma unroll
    for (int u = 0; u < ATTN_KEYS; u++) step_max = fmaxf(step_max, score[u]);
    float correction = expf(run_max - step_max);
    run_sum *= correction;
    if constexpr (VALUES) {
#pragma unroll
      for (int s = 0; s < SLICES; s++) acc[s] *= correction;
    }
#pragma unroll
    for (int u = 0; u < ATTN_KEYS; u++) {
      int64_t j = j0 + u;
      if (j < end) {
        float p = expf(score[u] - step_max);
        run_sum += p;
        if constexpr (VALUES) {
          const float* value = v + j * head_dim;
#pragma unroll
          for (int s = 0; s < SLICES; s++) {
            int d = lane + 32 * s;
            if (d < head_dim) acc[s] += p * value[d];
          }
        }
      }
    }
    run_max = step_max;
  }
  if (lane == 0) {
    warp_max[warp] = run_max;
    warp_sum[warp] = run_sum;
  }
  if constexpr (VALUES) {
#pragma unroll
    for (int s = 0; s < SLICES; s++) {
      int d = lane + 32 * s;
      if (d < head_dim) warp_acc[warp][d] = acc[s];
    }
  }
  __syncthreads();
  // Key begin went to warp 0, so block_max is finite.
  float block_max = -INFINITY;
#pragma unroll
  for (int w = 0; w < ATTN_WARPS; w++) block_max = fmaxf(block_max, warp_max[w]);
  float weight[ATTN_WARPS], total = 0.0f;
#pragma unroll
  for (int w = 0; w < ATTN_WARPS; w++) {
    weight[w] = expf(warp_max[w] - block_max);
    total += warp_sum[w] * weight[w];
  }
  if constexpr (VALUES) {
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
      float sum = 0.0f;
#pragma unroll
      for (int w = 0; w < ATTN_WARPS; w++) sum += warp_acc[w][d] * weight[w];
      dst[d] = ml ? sum : sum / total;
    }
  }
  if (ml && threadIdx.x == 0) {
    ml[0] = block_max;
    ml[1] = total;
  }
}

// out [tokens, q_heads, head_dim] = causal attention of q [tokens, q_heads, head_dim]
// over k, v [kv_heads, capacity, head_dim]; token t sits at position kv_len - tokens + t.
// One block per (token, query head), numbered from the last token down: the longest
// rows start first, so the end of the grid is short work.
template <int SLICES>
__global__ __launch_bounds__(ATTN_THREADS) void attention_prefill_kernel(
    float* out, const float* q, const float* k, const float* v, int64_t tokens, int64_t kv_len,
    int64_t capacity, int q_heads, int group, int head_dim, float scale) {
  int64_t t = tokens - 1 - blockIdx.x / q_heads;
  int h = blockIdx.x % q_heads;
  int64_t kv_offset = (int64_t)(h / group) * capacity * head_dim;
  int64_t row = (t * q_heads + h) * head_dim;
  attend_keys<SLICES>(out + row, nullptr, q + row, k + kv_offset, v + kv_offset, 0,
                      kv_len - tokens + t + 1, head_dim, scale);
}

// partial_acc [q_heads, splits, head_dim], partial_ml [q_heads, splits, 2] <- block
// (split, h) attends q [q_heads, head_dim] row h to keys split * chunk .. of k, v
// [kv_heads, capacity, head_dim]; splits = gridDim.x.
template <int SLICES>
__global__ __launch_bounds__(ATTN_THREADS) void attention_decode_split_kernel(
    float* partial_acc, float* partial_ml, const float* q, const float* k, const float* v,
    int64_t kv_len, int64_t capacity, int group, int head_dim, float scale, int64_t chunk) {
  int split = blockIdx.x, h = blockIdx.y;
  int64_t begin = split * chunk;
  int64_t end = begin + chunk < kv_len ? begin + chunk : kv_len;
  int64_t kv_offset = (int64_t)(h / group) * capacity * head_dim;
  int64_t slot = (int64_t)h * gridDim.x + split;
  attend_keys<SLICES>(partial_acc + slot * head_dim, partial_ml + slot * 2,
                      q + (int64_t)h * head_dim, k + kv_offset, v + kv_offset, begin, end,
                      head_dim, scale);
}

// (max, total) of one query's softmax from the `splits` partial (max, sum of exp) pairs
// ml [splits, 2] of its key slices, each sum rescaled from its own max to the overall
// one. Every thread of the block must call it, and every thread gets the result.
static __device__ void merge_softmax_stats(float* max_out, float* total_out,
                                           const float* __restrict__ ml, int splits) {
  float max = -INFINITY;
  for (int s = threadIdx.x; s < splits; s += blockDim.x) max = fmaxf(max, ml[2 * s]);
  max = lukv_block_max(max);
  float total = 0.0f;
  for (int s = threadIdx.x; s < splits; s += blockDim.x) {
    total += ml[2 * s + 1] * expf(ml[2 * s] - max);
  }
  *max_out = max;
  *total_out = lukv_block_sum(total);
}

// out [head_dim] <- the `splits` partial results acc [splits, head_dim], ml [splits, 2] of
// one query head, each rescaled from its own max to the head's. The split weights are
// recomputed per output dim (a few exps per split, next to nothing) rather than staged
// in dynamic shared memory: compute-sanitizer caught the unrolled staged loop reading
// past such an array when a head had fewer splits than the unroll.
static __device__ void combine_splits(float* out, const float* __restrict__ acc,
                                      const float* __restrict__ ml, int splits, int head_dim) {
  float max = 0.0f, total = 0.0f;
  merge_softmax_stats(&max, &total, ml, splits);
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < splits; s++) sum += acc[(int64_t)s * head_dim + d] * expf(ml[2 * s] - max);
    out[d] = sum / total;
  }
}

// out [q_heads, head_dim] <- the splits of head blockIdx.x from partial_acc [q_heads,
// splits, head_dim] and partial_ml [q_heads, splits, 2].
__global__ void attention_decode_combine_kernel(float* out, const float* __restrict__ partial_acc,
                                                const float* __restrict__ partial_ml, int splits,
                                                int head_dim) {
  int64_t h = blockIdx.x;
  combine_splits(out + h * head_dim, partial_acc + h * splits * head_dim,
                 partial_ml + h * splits * 2, splits, head_dim);
}

// Ragged decode: the spans of up to RAGGED_BATCH_HEADS KV heads travel as one kernel
// parameter (1.5 KB, copied at launch): no device allocation, no host-to-device copy, no
// synchronisation, and the caller's host arrays are free again when the call returns.
// Head h's rows are cut into split_start[h + 1] - split_start[h] splits of `chunk` rows.
constexpr int RAGGED_BATCH_HEADS = 128;
struct RaggedBatch {
  int32_t offset[RAGGED_BATCH_HEADS];
  int32_t length[RAGGED_BATCH_HEADS];
  int32_t split_start[RAGGED_BATCH_HEADS + 1];
};

// A batch's partial results sit per query head with its splits contiguous: query head g
// of KV head h starts at slot group * split_start[h] + g * splits_h.
static __device__ __forceinline__ int64_t ragged_first_slot(int split_start, int splits, int g,
                                                            int group) {
  return (int64_t)group * split_start + (int64_t)g * splits;
}

// Block b attends query head g = b % group of the KV head owning split b / group to that
// split's rows of k, v [rows, head_dim]; q [heads * group, head_dim] is the batch's. The
// group's blocks of one split are adjacent in the grid, so they run together and share
// the split's K and V rows through L2 instead of reading memory once per query head.
template <int SLICES>
__global__ __launch_bounds__(ATTN_THREADS) void attention_decode_ragged_split_kernel(
    float* partial_acc, float* partial_ml, const float* q, const float* k, const float* v,
    const __grid_constant__ RaggedBatch batch, int heads, int group, int head_dim, float scale,
    int64_t chunk) {
  int g = blockIdx.x % group, split = blockIdx.x / group;
  int h = 0, hi = heads;  // the last head whose first split is <= split
  while (hi - h > 1) {
    int mid = (h + hi) >> 1;
    if (batch.split_start[mid] <= split) h = mid;
    else hi = mid;
  }
  int first = batch.split_start[h], local = split - first;
  int64_t begin = batch.offset[h] + (int64_t)local * chunk;
  int64_t last = (int64_t)batch.offset[h] + batch.length[h];
  int64_t end = begin + chunk < last ? begin + chunk : last;
  int64_t slot = ragged_first_slot(first, batch.split_start[h + 1] - first, g, group) + local;
  attend_keys<SLICES>(partial_acc + slot * head_dim, partial_ml + slot * 2,
                      q + ((int64_t)h * group + g) * head_dim, k, v, begin, end, head_dim, scale);
}

// out [heads * group, head_dim] (the batch's) <- the splits of query head blockIdx.x.
__global__ void attention_decode_ragged_combine_kernel(float* out,
                                                       const float* __restrict__ partial_acc,
                                                       const float* __restrict__ partial_ml,
                                                       const __grid_constant__ RaggedBatch batch,
                                                       int group, int head_dim) {
  int h = blockIdx.x / group, g = blockIdx.x % group;
  int splits = batch.split_start[h + 1] - batch.split_start[h];
  int64_t first = ragged_first_slot(batch.split_start[h], splits, g, group);
  combine_splits(out + (int64_t)blockIdx.x * head_dim, partial_acc + first * head_dim,
                 partial_ml + first * 2, splits, head_dim);
}

// Attention scores, pass 1: stats [tokens, q_heads, 2] <- (max, sum of exp) of the scores
// of query row blockIdx.x = t * q_heads + head of q [tokens, q_heads, head_dim] over the
// keys 0 .. q_pos0 + t it sees in k [kv_heads, capacity, head_dim].
template <int SLICES>
__global__ __launch_bounds__(ATTN_THREADS) void attention_scores_stats_kernel(
    float* stats, const float* q, const float* k, int64_t q_pos0, int64_t capacity, int q_heads,
    int group, int head_dim, float scale) {
  int64_t row = blockIdx.x, t = row / q_heads;
  int h = (int)(row % q_heads);
  const float* keys = k + (int64_t)(h / group) * capacity * head_dim;
  attend_keys<SLICES, false>(nullptr, stats + 2 * row, q + row * head_dim, keys, nullptr, 0,
                             q_pos0 + t + 1, head_dim, scale);
}

// Attention scores, pass 2: keys a warp scores together (their dot products with one
// query are independent, so loads and shuffles overlap), and keys per block.
constexpr int SCORE_KEYS_PER_WARP = 4;
constexpr int SCORE_KEYS_PER_BLOCK = ATTN_WARPS * SCORE_KEYS_PER_WARP;

// out [kv_heads, kv_len] += for KV head h = blockIdx.y and each key j of this block's
// tile, the sum over the queries (t, g) that see j of exp(scale * q.k_j - max) / sum,
// with (max, sum) from pass 1. A warp owns its keys' out entries outright: no atomics,
// and a fixed summation order. Lane l holds dims l, l + 32, ... of the warp's keys.
template <int SLICES>
__global__ __launch_bounds__(ATTN_THREADS) void attention_scores_accumulate_kernel(
    float* out, const float* q, const float* k, const float* __restrict__ stats, int64_t tokens,
    int64_t q_pos0, int64_t kv_len, int64_t capacity, int q_heads, int group, int head_dim,
    float scale) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.y;
  int64_t keys = q_pos0 + tokens;  // the keys some query of the block sees
  int64_t j0 = (int64_t)blockIdx.x * SCORE_KEYS_PER_BLOCK + warp * SCORE_KEYS_PER_WARP;
  if (j0 >= keys) return;  // the whole warp: nothing below synchronises the block
  const float* head_keys = k + (int64_t)h * capacity * head_dim;
  float key[SCORE_KEYS_PER_WARP][SLICES];
#pragma unroll
  for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) {
#pragma unroll
    for (int s = 0; s < SLICES; s++) {
      int d = lane + 32 * s;
      key[u][s] = j0 + u < keys && d < head_dim ? head_keys[(j0 + u) * head_dim + d] : 0.0f;
    }
  }
  float sum[SCORE_KEYS_PER_WARP] = {};
  // Query t sees key j when q_pos0 + t >= j; the warp's first key says where to start.
  for (int64_t t = j0 > q_pos0 ? j0 - q_pos0 : 0; t < tokens; t++) {
    for (int g = 0; g < group; g++) {
      int64_t row = t * q_heads + (int64_t)h * group + g;
      const float* query = q + row * head_dim;
      float dot[SCORE_KEYS_PER_WARP] = {};
#pragma unroll
      for (int s = 0; s < SLICES; s++) {
        int d = lane + 32 * s;
        float x = d < head_dim ? query[d] : 0.0f;
#pragma unroll
        for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) dot[u] += x * key[u][s];
      }
      float max = stats[2 * row], inv = 1.0f / stats[2 * row + 1];
#pragma unroll
      for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) {
        float score = lukv_warp_sum(dot[u]) * scale;
        if (j0 + u <= q_pos0 + t) sum[u] += expf(score - max) * inv;
      }
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) {
      if (j0 + u < keys) out[(int64_t)h * kv_len + j0 + u] += sum[u];
    }
  }
}

// Oracle, pass 1: partial_ml [q_heads, splits, 2] <- block (split, i) gives query head i
// of q [q_heads, head_dim] the (max, sum of exp) of its scores over keys split * chunk ..
// (at most chunk of them, below kv_len) of its KV head in k [kv_heads, capacity,
// head_dim]; splits = gridDim.x.
template <int SLICES>
__global__ __launch_bounds__(ATTN_THREADS) void attention_oracle_split_kernel(
    float* partial_ml, const float* q, const float* k, int64_t kv_len, int64_t capacity,
    int group, int head_dim, float scale, int64_t chunk) {
  int split = blockIdx.x, i = blockIdx.y;
  int64_t begin = split * chunk;
  int64_t end = begin + chunk < kv_len ? begin + chunk : kv_len;
  const float* keys = k + (int64_t)(i / group) * capacity * head_dim;
  attend_keys<SLICES, false>(nullptr, partial_ml + ((int64_t)i * gridDim.x + split) * 2,
                             q + (int64_t)i * head_dim, keys, nullptr, begin, end, head_dim,
                             scale);
}

// Oracle, pass 2: stats [q_heads, 2] <- (max, sum of exp) of query head blockIdx.x over
// all its keys, merged from its splits in partial_ml [q_heads, splits, 2].
__global__ void attention_oracle_merge_kernel(float* stats, const float* __restrict__ partial_ml,
                                              int splits) {
  float max = 0.0f, total = 0.0f;
  merge_softmax_stats(&max, &total, partial_ml + (int64_t)blockIdx.x * splits * 2, splits);
  if (threadIdx.x == 0) {
    stats[2 * blockIdx.x] = max;
    stats[2 * blockIdx.x + 1] = total;
  }
}

// Oracle, pass 3: for KV head h = blockIdx.y and each context token j of this block's tile,
// out [kv_heads, ctx_len] entry (h, j) = max(itself, max over the query heads i of h's
// group of p_i[j] * weights [q_heads, ctx_len] entry (i, j)), where p_i[j] =
// exp(scale * q_i.k_j - max_i) / sum_i with (max_i, sum_i) from stats [q_heads, 2]. A warp
// owns its keys' out entries outright (no atomics). Lane l holds dims l, l + 32, ... of
// the warp's keys.
template <int SLICES>
__global__ __launch_bounds__(ATTN_THREADS) void attention_oracle_max_kernel(
    float* out, const float* q, const float* k, const float* __restrict__ weights,
    const float* __restrict__ stats, int64_t ctx_len, int64_t capacity, int group, int head_dim,
    float scale) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.y;
  int64_t j0 = (int64_t)blockIdx.x * SCORE_KEYS_PER_BLOCK + warp * SCORE_KEYS_PER_WARP;
  if (j0 >= ctx_len) return;  // the whole warp: nothing below synchronises the block
  const float* head_keys = k + (int64_t)h * capacity * head_dim;
  float key[SCORE_KEYS_PER_WARP][SLICES];
#pragma unroll
  for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) {
#pragma unroll
    for (int s = 0; s < SLICES; s++) {
      int d = lane + 32 * s;
      key[u][s] = j0 + u < ctx_len && d < head_dim ? head_keys[(j0 + u) * head_dim + d] : 0.0f;
    }
  }
  float best[SCORE_KEYS_PER_WARP];
#pragma unroll
  for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) best[u] = -INFINITY;
  for (int g = 0; g < group; g++) {
    int64_t i = (int64_t)h * group + g;
    const float* query = q + i * head_dim;
    float dot[SCORE_KEYS_PER_WARP] = {};
#pragma unroll
    for (int s = 0; s < SLICES; s++) {
      int d = lane + 32 * s;
      float x = d < head_dim ? query[d] : 0.0f;
#pragma unroll
      for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) dot[u] += x * key[u][s];
    }
    float max = stats[2 * i], inv = 1.0f / stats[2 * i + 1];
#pragma unroll
    for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) {
      float score = lukv_warp_sum(dot[u]) * scale;
      if (j0 + u < ctx_len) {
        best[u] = fmaxf(best[u], expf(score - max) * inv * weights[i * ctx_len + j0 + u]);
      }
    }
  }
  if (lane == 0) {
    float* row = out + (int64_t)h * ctx_len;
#pragma unroll
    for (int u = 0; u < SCORE_KEYS_PER_WARP; u++) {
      if (j0 + u < ctx_len) row[j0 + u] = fmaxf(row[j0 + u], best[u]);
    }
  }
}

// Calls launch(std::integral_constant<int, slices>()) so that kernels get the number of
// head_dim slices per lane (1 .. 8) as a compile-time constant.
template <typename Launch>
static void with_slices(int slices, Launch launch) {
  switch (slices) {
    case 1: launch(std::integral_constant<int, 1>()); break;
    case 2: launch(std::integral_constant<int, 2>()); break;
    case 3: launch(std::integral_constant<int, 3>()); break;
    case 4: launch(std::integral_constant<int, 4>()); break;
    case 5: launch(std::integral_constant<int, 5>()); break;
    case 6: launch(std::integral_constant<int, 6>()); break;
    case 7: launch(std::integral_constant<int, 7>()); break;
    default: launch(std::integral_constant<int, 8>()); break;
  }
}

static int check_head_dim(const char* op, int64_t head_dim) {
  if (head_dim > ATTN_MAX_HEAD_DIM) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED, "%s: head_dim %lld is above the CUDA maximum of %d", op,
                     (long long)head_dim, ATTN_MAX_HEAD_DIM);
  }
  return LUKV_OK;
}

// The split length of a decode: `work` (query heads x keys, over all heads) cut into
// enough splits for DECODE_BLOCKS_PER_SM blocks on every SM, each split DECODE_MIN_CHUNK ..
// DECODE_MAX_CHUNK keys long, and the `longest` head in at most DECODE_MAX_SPLITS splits.
static int decode_chunk(const char* op, int64_t work, int64_t longest, int64_t* chunk) {
  int device = 0, sms = 0;
  LUKV_TRY(lukv_cuda_status(op, cudaGetDevice(&device)));
  LUKV_TRY(lukv_cuda_status(
      op, cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device)));
  int64_t wanted_blocks = DECODE_BLOCKS_PER_SM * (int64_t)sms;
  int64_t length = (work + wanted_blocks - 1) / wanted_blocks;
  length = length < DECODE_MIN_CHUNK ? DECODE_MIN_CHUNK : length;
  length = length > DECODE_MAX_CHUNK ? DECODE_MAX_CHUNK : length;
  int64_t fewest = (longest + DECODE_MAX_SPLITS - 1) / DECODE_MAX_SPLITS;
  *chunk = length < fewest ? fewest : length;
  return LUKV_OK;
}

extern "C" LUKV_API int lukv_kv_write(float* cache, const float* src, int64_t tokens,
                                      int64_t heads, int64_t head_dim, int64_t pos0,
                                      int64_t capacity, void* stream) {
  LUKV_TRY(lukv_validate_kv_write(cache, src, tokens, heads, head_dim, pos0, capacity));
  const int threads = 256;
  kv_write_kernel<<<lukv_grid_1d(tokens * heads * head_dim, threads), threads, 0,
                    lukv_stream(stream)>>>(cache, src, tokens, heads, head_dim, pos0, capacity);
  return lukv_launch_status("lukv_kv_write");
}

extern "C" LUKV_API int lukv_attention_prefill(float* out, const float* q, const float* k,
                                               const float* v, int64_t tokens, int64_t kv_len,
                                               int64_t capacity, int64_t q_heads,
                                               int64_t kv_heads, int64_t head_dim, float scale,
                                               void* stream) {
  const char* op = "lukv_attention_prefill";
  LUKV_TRY(lukv_validate_attention(op, out, q, k, v, tokens, kv_len, capacity, q_heads, kv_heads,
                                   head_dim, scale));
  LUKV_TRY(check_head_dim(op, head_dim));
  if (tokens * q_heads > INT_MAX) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED, "%s: tokens * q_heads = %lld exceeds the launch grid",
                     op, (long long)(tokens * q_heads));
  }
  cudaStream_t s = lukv_stream(stream);
  unsigned blocks = (unsigned)(tokens * q_heads);
  int group = (int)(q_heads / kv_heads);
  with_slices((int)((head_dim + 31) / 32), [&](auto slices) {
    attention_prefill_kernel<decltype(slices)::value><<<blocks, ATTN_THREADS, 0, s>>>(
        out, q, k, v, tokens, kv_len, capacity, (int)q_heads, group, (int)head_dim, scale);
  });
  return lukv_launch_status(op);
}

// Flash-decoding: the sequence is cut into splits so that even one query fills the
// device; each (split, head) block leaves a partial result in stream-ordered scratch and
// a second kernel merges the splits of each head.
extern "C" LUKV_API int lukv_attention_decode(float* out, const float* q, const float* k,
                                              const float* v, int64_t kv_len, int64_t capacity,
                                              int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                              float scale, void* stream) {
  const char* op = "lukv_attention_decode";
  LUKV_TRY(lukv_validate_attention(op, out, q, k, v, 1, kv_len, capacity, q_heads, kv_heads,
                                   head_dim, scale));
  LUKV_TRY(check_head_dim(op, head_dim));
  if (q_heads > 65535) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED, "%s: q_heads = %lld exceeds the launch grid", op,
                     (long long)q_heads);
  }
  int64_t chunk = 0;
  LUKV_TRY(decode_chunk(op, q_heads * kv_len, kv_len, &chunk));
  int splits = (int)((kv_len + chunk - 1) / chunk);

  cudaStream_t s = lukv_stream(stream);
  int64_t slots = q_heads * splits;
  float* scratch = nullptr;
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&scratch,
                              (size_t)(slots * (head_dim + 2)) * sizeof(float), s));
  float* partial_acc = scratch;
  float* partial_ml = scratch + slots * head_dim;
  int group = (int)(q_heads / kv_heads);
  with_slices((int)((head_dim + 31) / 32), [&](auto slices) {
    attention_decode_split_kernel<decltype(slices)::value>
        <<<dim3((unsigned)splits, (unsigned)q_heads), ATTN_THREADS, 0, s>>>(
            partial_acc, partial_ml, q, k, v, kv_len, capacity, group, (int)head_dim, scale, chunk);
  });
  int status = lukv_launch_status(op);
  if (status == LUKV_OK) {
    attention_decode_combine_kernel<<<(unsigned)q_heads, ATTN_THREADS, 0, s>>>(
        out, partial_acc, partial_ml, splits, (int)head_dim);
    status = lukv_launch_status(op);
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(scratch, s));
  return status ? status : freed;
}

// Flash-decoding over the ragged layout, as lukv_attention_decode does over the dense one:
// every head's rows are cut into splits of one common length, chosen from the total rows
// by the dense decode's rule, and a combine kernel merges each query head's splits.
// Heads go in batches of RAGGED_BATCH_HEADS (a kernel parameter each); the partial
// results live in stream-ordered scratch sized for the largest batch.
extern "C" LUKV_API int lukv_attention_decode_ragged(float* out, const float* q, const float* k,
                                                     const float* v,
                                                     LUKV_HOST const int32_t* offsets,
                                                     LUKV_HOST const int32_t* lengths,
                                                     int64_t rows, int64_t q_heads,
                                                     int64_t kv_heads, int64_t head_dim,
                                                     float scale, void* stream) {
  const char* op = "lukv_attention_decode_ragged";
  LUKV_TRY(lukv_validate_attention_ragged(out, q, k, v, offsets, lengths, rows, q_heads, kv_heads,
                                          head_dim, scale));
  LUKV_TRY(check_head_dim(op, head_dim));
  int64_t group = q_heads / kv_heads;
  if (group * RAGGED_BATCH_HEADS * DECODE_MAX_SPLITS > INT_MAX) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED,
                     "%s: %lld query heads per KV head exceed the launch grid", op,
                     (long long)group);
  }
  int64_t total = 0, longest = 0;
  for (int64_t h = 0; h < kv_heads; h++) {
    total += lengths[h];
    longest = lengths[h] > longest ? lengths[h] : longest;
  }
  int64_t chunk = 0;
  LUKV_TRY(decode_chunk(op, group * total, longest, &chunk));
  int64_t most_slots = 0;
  for (int64_t first = 0; first < kv_heads; first += RAGGED_BATCH_HEADS) {
    int64_t splits = 0;
    for (int64_t h = first; h < kv_heads && h < first + RAGGED_BATCH_HEADS; h++) {
      splits += (lengths[h] + chunk - 1) / chunk;
    }
    most_slots = group * splits > most_slots ? group * splits : most_slots;
  }

  cudaStream_t s = lukv_stream(stream);
  float* scratch = nullptr;
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&scratch,
                              (size_t)(most_slots * (head_dim + 2)) * sizeof(float), s));
  float* partial_acc = scratch;
  float* partial_ml = scratch + most_slots * head_dim;
  int status = LUKV_OK;
  for (int64_t first = 0; first < kv_heads && status == LUKV_OK; first += RAGGED_BATCH_HEADS) {
    int heads = (int)(kv_heads - first < RAGGED_BATCH_HEADS ? kv_heads - first
                                                            : RAGGED_BATCH_HEADS);
    RaggedBatch batch = {};
    for (int h = 0; h < heads; h++) {
      batch.offset[h] = offsets[first + h];
      batch.length[h] = lengths[first + h];
      int splits = (int)((batch.length[h] + chunk - 1) / chunk);
      batch.split_start[h + 1] = batch.split_start[h] + splits;
    }
    int64_t q_first = first * group * head_dim;
    unsigned blocks = (unsigned)(batch.split_start[heads] * group);
    with_slices((int)((head_dim + 31) / 32), [&](auto slices) {
      attention_decode_ragged_split_kernel<decltype(slices)::value><<<blocks, ATTN_THREADS, 0, s>>>(
          partial_acc, partial_ml, q + q_first, k, v, batch, heads, (int)group, (int)head_dim,
          scale, chunk);
    });
    status = lukv_launch_status(op);
    if (status == LUKV_OK) {
      attention_decode_ragged_combine_kernel<<<(unsigned)(heads * group), ATTN_THREADS, 0, s>>>(
          out + q_first, partial_acc, partial_ml, batch, (int)group, (int)head_dim);
      status = lukv_launch_status(op);
    }
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(scratch, s));
  return status ? status : freed;
}

// Two passes, so that no T x T matrix and no atomics are needed: pass 1 gives every query
// its softmax normaliser (a block per query), pass 2 gives every key its summed
// probability (a warp per SCORE_KEYS_PER_WARP keys of one KV head, looping over the
// queries that see them). The dot products are computed twice; in exchange each out
// entry has one writer and a fixed summation order, so the result is deterministic.
extern "C" LUKV_API int lukv_attention_scores(float* out, const float* q, const float* k,
                                              int64_t tokens, int64_t q_pos0, int64_t kv_len,
                                              int64_t capacity, int64_t q_heads, int64_t kv_heads,
                                              int64_t head_dim, float scale, void* stream) {
  const char* op = "lukv_attention_scores";
  LUKV_TRY(lukv_validate_attention_scores(out, q, k, tokens, q_pos0, kv_len, capacity, q_heads,
                                          kv_heads, head_dim, scale));
  LUKV_TRY(check_head_dim(op, head_dim));
  int64_t tiles = (q_pos0 + tokens + SCORE_KEYS_PER_BLOCK - 1) / SCORE_KEYS_PER_BLOCK;
  if (tokens * q_heads > INT_MAX || kv_heads > 65535 || tiles > INT_MAX) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED,
                     "%s: %lld tokens x %lld query heads over %lld KV heads exceed the launch grid",
                     op, (long long)tokens, (long long)q_heads, (long long)kv_heads);
  }
  cudaStream_t s = lukv_stream(stream);
  float* stats = nullptr;
  LUKV_TRY(
      lukv_scratch_alloc(op, (void**)&stats, (size_t)(tokens * q_heads * 2) * sizeof(float), s));
  int group = (int)(q_heads / kv_heads);
  int status = LUKV_OK;
  with_slices((int)((head_dim + 31) / 32), [&](auto slices) {
    constexpr int SLICES = decltype(slices)::value;
    attention_scores_stats_kernel<SLICES><<<(unsigned)(tokens * q_heads), ATTN_THREADS, 0, s>>>(
        stats, q, k, q_pos0, capacity, (int)q_heads, group, (int)head_dim, scale);
    status = lukv_launch_status(op);
    if (status == LUKV_OK) {
      attention_scores_accumulate_kernel<SLICES>
          <<<dim3((unsigned)tiles, (unsigned)kv_heads), ATTN_THREADS, 0, s>>>(
              out, q, k, stats, tokens, q_pos0, kv_len, capacity, (int)q_heads, group,
              (int)head_dim, scale);
      status = lukv_launch_status(op);
    }
  });
  int freed = lukv_cuda_status(op, cudaFreeAsync(stats, s));
  return status ? status : freed;
}

// Three passes, so that no attention row is stored and no atomics are needed. Split
// blocks give each query head partial softmax normalisers over slices of its keys (a
// block per query head alone would leave most SMs idle: one decode step has only q_heads
// queries, and kv_len can be long), a merge kernel folds them into one (max, sum) per
// query head, and a block per (context tile, KV head) recomputes its tokens' dot products
// with the group's queries and folds p * weight into out's running max. Each out entry
// has one writer and the normalisers merge in a fixed order: the result is deterministic.
extern "C" LUKV_API int lukv_attention_oracle(float* out, const float* q, const float* k,
                                              const float* weights, int64_t kv_len,
                                              int64_t ctx_len, int64_t capacity, int64_t q_heads,
                                              int64_t kv_heads, int64_t head_dim, float scale,
                                              void* stream) {
  const char* op = "lukv_attention_oracle";
  LUKV_TRY(lukv_validate_attention_oracle(out, q, k, weights, kv_len, ctx_len, capacity, q_heads,
                                          kv_heads, head_dim, scale));
  LUKV_TRY(check_head_dim(op, head_dim));
  int64_t tiles = (ctx_len + SCORE_KEYS_PER_BLOCK - 1) / SCORE_KEYS_PER_BLOCK;
  if (q_heads > 65535 || kv_heads > 65535 || tiles > INT_MAX) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED,
                     "%s: %lld query heads, %lld KV heads and %lld context tokens exceed the "
                     "launch grid",
                     op, (long long)q_heads, (long long)kv_heads, (long long)ctx_len);
  }
  int64_t chunk = 0;
  LUKV_TRY(decode_chunk(op, q_heads * kv_len, kv_len, &chunk));
  int splits = (int)((kv_len + chunk - 1) / chunk);

  cudaStream_t s = lukv_stream(stream);
  float* scratch = nullptr;
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&scratch,
                              (size_t)(q_heads * (splits + 1) * 2) * sizeof(float), s));
  float* partial_ml = scratch;
  float* stats = scratch + q_heads * splits * 2;
  int group = (int)(q_heads / kv_heads);
  int status = LUKV_OK;
  with_slices((int)((head_dim + 31) / 32), [&](auto slices) {
    constexpr int SLICES = decltype(slices)::value;
    attention_oracle_split_kernel<SLICES>
        <<<dim3((unsigned)splits, (unsigned)q_heads), ATTN_THREADS, 0, s>>>(
            partial_ml, q, k, kv_len, capacity, group, (int)head_dim, scale, chunk);
    status = lukv_launch_status(op);
    if (status == LUKV_OK) {
      attention_oracle_merge_kernel<<<(unsigned)q_heads, ATTN_THREADS, 0, s>>>(stats, partial_ml,
                                                                              splits);
      status = lukv_launch_status(op);
    }
    if (status == LUKV_OK) {
      attention_oracle_max_kernel<SLICES>
          <<<dim3((unsigned)tiles, (unsigned)kv_heads), ATTN_THREADS, 0, s>>>(
              out, q, k, weights, stats, ctx_len, capacity, group, (int)head_dim, scale);
      status = lukv_launch_status(op);
    }
  });
  int freed = lukv_cuda_status(op, cudaFreeAsync(scratch, s));
  return status ? status : freed;
}
