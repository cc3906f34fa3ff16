// attention.cu: KV cache write and causal GQA attention (flash prefill, split decode).
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
constexpr int64_t DECODE_MIN_CHUNK = 256;
constexpr int64_t DECODE_MAX_CHUNK = 1024;
constexpr int64_t DECODE_MAX_SPLITS = 1024;
// Decode aims at this many blocks per SM, enough to keep loads in flight.
constexpr int DECODE_BLOCKS_PER_SM = 4;

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
// gets (max, sum_j p_j), for a later combine across blocks.
template <int SLICES>
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
#pragma unroll
    for (int s = 0; s < SLICES; s++) acc[s] *= correction;
#pragma unroll
    for (int u = 0; u < ATTN_KEYS; u++) {
      int64_t j = j0 + u;
      if (j < end) {
        float p = expf(score[u] - step_max);
        run_sum += p;
        const float* value = v + j * head_dim;
#pragma unroll
        for (int s = 0; s < SLICES; s++) {
          int d = lane + 32 * s;
          if (d < head_dim) acc[s] += p * value[d];
        }
      }
    }
    run_max = step_max;
  }
  if (lane == 0) {
    warp_max[warp] = run_max;
    warp_sum[warp] = run_sum;
  }
#pragma unroll
  for (int s = 0; s < SLICES; s++) {
    int d = lane + 32 * s;
    if (d < head_dim) warp_acc[warp][d] = acc[s];
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
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < ATTN_WARPS; w++) sum += warp_acc[w][d] * weight[w];
    dst[d] = ml ? sum : sum / total;
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

// out [q_heads, head_dim] <- the splits of head blockIdx.x from partial_acc [q_heads,
// splits, head_dim] and partial_ml [q_heads, splits, 2], each rescaled from its own max
// to the head's. Dynamic shared memory: splits floats.
__global__ void attention_decode_combine_kernel(float* out, const float* __restrict__ partial_acc,
                                                const float* __restrict__ partial_ml, int splits,
                                                int head_dim) {
  extern __shared__ float split_weight[];
  int h = blockIdx.x;
  const float* ml = partial_ml + (int64_t)h * splits * 2;
  const float* acc = partial_acc + (int64_t)h * splits * head_dim;
  float max = -INFINITY;
  for (int s = threadIdx.x; s < splits; s += blockDim.x) max = fmaxf(max, ml[2 * s]);
  max = lukv_block_max(max);
  float total = 0.0f;
  for (int s = threadIdx.x; s < splits; s += blockDim.x) {
    split_weight[s] = expf(ml[2 * s] - max);
    total += ml[2 * s + 1] * split_weight[s];
  }
  total = lukv_block_sum(total);
  __syncthreads();  // split_weight is complete
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < splits; s++) sum += acc[(int64_t)s * head_dim + d] * split_weight[s];
    out[(int64_t)h * head_dim + d] = sum / total;
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
  int device = 0, sms = 0;
  LUKV_TRY(lukv_cuda_status(op, cudaGetDevice(&device)));
  LUKV_TRY(lukv_cuda_status(
      op, cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device)));
  int64_t wanted_splits = (DECODE_BLOCKS_PER_SM * (int64_t)sms + q_heads - 1) / q_heads;
  int64_t chunk = (kv_len + wanted_splits - 1) / wanted_splits;
  chunk = chunk < DECODE_MIN_CHUNK ? DECODE_MIN_CHUNK : chunk;
  chunk = chunk > DECODE_MAX_CHUNK ? DECODE_MAX_CHUNK : chunk;
  int64_t fewest = (kv_len + DECODE_MAX_SPLITS - 1) / DECODE_MAX_SPLITS;
  chunk = chunk < fewest ? fewest : chunk;
  int splits = (int)((kv_len + chunk - 1) / chunk);

  cudaStream_t s = lukv_stream(stream);
  int64_t slots = q_heads * splits;
  float* scratch = nullptr;
  LUKV_TRY(lukv_cuda_status(
      op, cudaMallocAsync((void**)&scratch, (size_t)(slots * (head_dim + 2)) * sizeof(float), s)));
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
    attention_decode_combine_kernel<<<(unsigned)q_heads, ATTN_THREADS, splits * sizeof(float), s>>>(
        out, partial_acc, partial_ml, splits, (int)head_dim);
    status = lukv_launch_status(op);
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(scratch, s));
  return status ? status : freed;
}
