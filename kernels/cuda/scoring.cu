// scoring.cu: statistics that KV-cache token scorers read at the end of prefill: moments of
// pre-RoPE queries (Expected Attention's query Gaussian), Expected Attention scores, and the
// key-only scores Knorm and KeyDiff, over the ragged per-head layout. Twins of
// kernels/cpu/scoring.c; every sum runs in a fixed order, so results are deterministic.
#include <limits.h>

#include "cuda_common.cuh"

// Expected Attention keeps a tile of keys and a chunk of covariance rows in shared memory,
// and a KeyDiff lane holds head_dim / 32 dims in registers: both stop at this head_dim.
constexpr int SCORING_MAX_HEAD_DIM = 256;

// ---- Query moments ---------------------------------------------------------------------

// A block computes a MOMENT_TILE x MOMENT_TILE tile of one head's outer sum, staging
// MOMENT_ROWS shifted rows of its two dim ranges in shared memory per step.
constexpr int MOMENT_TILE = 16;
constexpr int MOMENT_ROWS = 32;

// Block (tile, h) with tile = tile_a * tiles + tile_b: thread (ty, tx) adds to outer
// [heads, d, d] entry (h, a, b), a = tile_a * 16 + ty and b = tile_b * 16 + tx, the sum
// over all rows of x_a * x_b in double, x = q [rows, heads, d] row r head h minus shift
// [heads, d] row h; the blocks of tile_b = 0 also add sum_r x_a to sum [heads, d] (column
// tx = 0). Rows add in order, as on the CPU, and (a, b) and (b, a) get the same products.
__global__ __launch_bounds__(MOMENT_TILE* MOMENT_TILE) void query_moments_kernel(
    float* sum, float* outer, const float* __restrict__ q, const float* __restrict__ shift,
    int64_t rows, int heads, int d, int tiles) {
  __shared__ double xa[MOMENT_ROWS][MOMENT_TILE], xb[MOMENT_ROWS][MOMENT_TILE];
  int h = blockIdx.y, tile_a = blockIdx.x / tiles, tile_b = blockIdx.x % tiles;
  int tx = threadIdx.x % MOMENT_TILE, ty = threadIdx.x / MOMENT_TILE;
  int a = tile_a * MOMENT_TILE + ty, b = tile_b * MOMENT_TILE + tx;
  const float* head_shift = shift + (int64_t)h * d;
  double acc = 0.0, acc_sum = 0.0;
  for (int64_t r0 = 0; r0 < rows; r0 += MOMENT_ROWS) {
    int count = rows - r0 < MOMENT_ROWS ? (int)(rows - r0) : MOMENT_ROWS;
    __syncthreads();  // the previous step's rows are consumed
    for (int i = threadIdx.x; i < MOMENT_ROWS * MOMENT_TILE; i += blockDim.x) {
      int r = i / MOMENT_TILE, c = i % MOMENT_TILE;
      int da = tile_a * MOMENT_TILE + c, db = tile_b * MOMENT_TILE + c;
      const float* row = q + ((r0 + r) * heads + h) * (int64_t)d;
      xa[r][c] = r < count && da < d ? (double)row[da] - head_shift[da] : 0.0;
      xb[r][c] = r < count && db < d ? (double)row[db] - head_shift[db] : 0.0;
    }
    __syncthreads();
    for (int r = 0; r < count; r++) acc += xa[r][ty] * xb[r][tx];
    if (tile_b == 0 && tx == 0) {
      for (int r = 0; r < count; r++) acc_sum += xa[r][ty];
    }
  }
  if (a < d && b < d) {
    float* entry = outer + ((int64_t)h * d + a) * d + b;
    *entry = (float)((double)*entry + acc);
  }
  if (tile_b == 0 && tx == 0 && a < d) {
    float* entry = sum + (int64_t)h * d + a;
    *entry = (float)((double)*entry + acc_sum);
  }
}

extern "C" LUKV_API int lukv_query_moments(float* sum, float* outer, const float* q,
                                           const float* shift, int64_t rows, int64_t heads,
                                           int64_t head_dim, void* stream) {
  const char* op = "lukv_query_moments";
  LUKV_TRY(lukv_validate_query_moments(sum, outer, q, shift, rows, heads, head_dim));
  int64_t tiles = (head_dim + MOMENT_TILE - 1) / MOMENT_TILE;
  if (heads > 65535 || tiles * tiles > INT_MAX) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED,
                     "%s: %lld heads of head_dim %lld exceed the launch grid", op,
                     (long long)heads, (long long)head_dim);
  }
  query_moments_kernel<<<dim3((unsigned)(tiles * tiles), (unsigned)heads),
                         MOMENT_TILE * MOMENT_TILE, 0, lukv_stream(stream)>>>(
      sum, outer, q, shift, rows, (int)heads, (int)head_dim, (int)tiles);
  return lukv_launch_status(op);
}

// ---- Ragged heads ----------------------------------------------------------------------

// The spans of up to SCORING_BATCH_HEADS KV heads travel as one kernel parameter (1 KB,
// copied at launch): no device copy of the host arrays and no synchronisation.
constexpr int SCORING_BATCH_HEADS = 128;
struct ScoredHeads {
  int32_t offset[SCORING_BATCH_HEADS];
  int32_t length[SCORING_BATCH_HEADS];
};

constexpr int SCORING_WARPS = 8;
constexpr int SCORING_THREADS = SCORING_WARPS * 32;

// Fills `batch` with heads first .. first + count - 1 and returns the longest length.
static int64_t scored_batch(ScoredHeads* batch, const int32_t* offsets, const int32_t* lengths,
                            int64_t first, int count) {
  int64_t longest = 0;
  for (int h = 0; h < count; h++) {
    batch->offset[h] = offsets[first + h];
    batch->length[h] = lengths[first + h];
    longest = lengths[first + h] > longest ? lengths[first + h] : longest;
  }
  return longest;
}

static int check_scoring_head_dim(const char* op, int64_t head_dim) {
  if (head_dim > SCORING_MAX_HEAD_DIM) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED, "%s: head_dim %lld is above the CUDA maximum of %d", op,
                     (long long)head_dim, SCORING_MAX_HEAD_DIM);
  }
  return LUKV_OK;
}

// ---- Expected Attention ----------------------------------------------------------------

// Keys per logits block (four per warp) and covariance rows staged per step (one per lane).
constexpr int EXPECTED_KEYS = 32;
constexpr int EXPECTED_KEYS_PER_WARP = EXPECTED_KEYS / SCORING_WARPS;
constexpr int EXPECTED_COV_ROWS = 32;

// Shared memory of a logits block: the key tile and a covariance chunk, rows padded by one
// float so that the 32 lanes reading 32 different rows at one column hit 32 banks.
static size_t expected_shared_bytes(int64_t head_dim) {
  return (size_t)(EXPECTED_KEYS + EXPECTED_COV_ROWS) * (size_t)(head_dim + 1) * sizeof(float);
}

// Pass 1. Block (tile, i) with i = h * group + g a query head of the batch: logits
// [batch query heads, longest] row i, entries j0 .. j0 + 31 (j0 = tile * 32, below h's
// length) <- k_j . mean_i / sqrt(d) + k_j^T cov_i k_j / (2 d) for h's rows j of k [rows, d];
// mean, cov start at the batch's first query head. Covariance rows go through shared
// memory 32 at a time; lane l owns row a = a0 + l: t_u = cov_i[a, :] . k_u for its warp's
// keys u, then adds k_u[a] * (t_u / (2d) + mean_i[a] / sqrt(d)); a warp sum gives the logit.
__global__ __launch_bounds__(SCORING_THREADS) void expected_logits_kernel(
    float* logits, const float* __restrict__ k, const float* __restrict__ mean,
    const float* __restrict__ cov, const __grid_constant__ ScoredHeads batch, int group, int d,
    int64_t longest) {
  extern __shared__ float expected_shared[];
  int i = blockIdx.y, h = i / group;
  int64_t n = batch.length[h], j0 = (int64_t)blockIdx.x * EXPECTED_KEYS;
  if (j0 >= n) return;  // the whole block: h is shorter than the batch's longest head
  int stride = d + 1, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float* keys = expected_shared;
  float* rows = expected_shared + EXPECTED_KEYS * stride;
  const float* first_key = k + ((int64_t)batch.offset[h] + j0) * d;
  for (int e = threadIdx.x; e < EXPECTED_KEYS * d; e += blockDim.x) {
    int u = e / d, b = e % d;
    keys[u * stride + b] = j0 + u < n ? first_key[(int64_t)u * d + b] : 0.0f;
  }
  const float* head_mean = mean + (int64_t)i * d;
  const float* head_cov = cov + (int64_t)i * d * d;
  float linear_scale = rsqrtf((float)d), quadratic_scale = 0.5f / (float)d;
  float acc[EXPECTED_KEYS_PER_WARP] = {};
  for (int a0 = 0; a0 < d; a0 += EXPECTED_COV_ROWS) {
    __syncthreads();  // the previous chunk is consumed (and, the first time, nothing yet)
    for (int e = threadIdx.x; e < EXPECTED_COV_ROWS * d; e += blockDim.x) {
      int r = e / d, b = e % d;
      rows[r * stride + b] = a0 + r < d ? head_cov[(int64_t)(a0 + r) * d + b] : 0.0f;
    }
    __syncthreads();
    int a = a0 + lane;
    float t[EXPECTED_KEYS_PER_WARP] = {};
    const float* row = rows + lane * stride;
    for (int b = 0; b < d; b++) {
      float c = row[b];
#pragma unroll
      for (int x = 0; x < EXPECTED_KEYS_PER_WARP; x++) {
        t[x] += c * keys[(warp + SCORING_WARPS * x) * stride + b];
      }
    }
    if (a < d) {
      float m = head_mean[a] * linear_scale;
#pragma unroll
      for (int x = 0; x < EXPECTED_KEYS_PER_WARP; x++) {
        acc[x] += keys[(warp + SCORING_WARPS * x) * stride + a] * (t[x] * quadratic_scale + m);
      }
    }
  }
#pragma unroll
  for (int x = 0; x < EXPECTED_KEYS_PER_WARP; x++) {
    float logit = lukv_warp_sum(acc[x]);
    int64_t j = j0 + warp + SCORING_WARPS * x;
    if (lane == 0 && j < n) logits[(int64_t)i * longest + j] = logit;
  }
}

// Pass 2. stats [batch query heads, 2] <- (max, sum of exp(logit - max)) of query head
// i = blockIdx.x over its KV head's rows in logits [batch query heads, longest].
__global__ void expected_softmax_kernel(float* stats, const float* __restrict__ logits,
                                        const __grid_constant__ ScoredHeads batch, int group,
                                        int64_t longest) {
  int64_t n = batch.length[blockIdx.x / group];
  const float* row = logits + (int64_t)blockIdx.x * longest;
  float max = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) max = fmaxf(max, row[j]);
  max = lukv_block_max(max);
  float total = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) total += expf(row[j] - max);
  total = lukv_block_sum(total);
  if (threadIdx.x == 0) {
    stats[2 * blockIdx.x] = max;
    stats[2 * blockIdx.x + 1] = total;
  }
}

// Pass 3. A warp per row j of KV head h = blockIdx.y: out [rows] row offset_h + j <-
// (mean over h's group of the probabilities exp(logit - max) / sum + epsilon) * ||v_j||.
__global__ __launch_bounds__(SCORING_THREADS) void expected_combine_kernel(
    float* out, const float* __restrict__ v, const float* __restrict__ logits,
    const float* __restrict__ stats, const __grid_constant__ ScoredHeads batch, int group, int d,
    int64_t longest, float epsilon) {
  int lane = threadIdx.x & 31, h = blockIdx.y;
  int64_t j = (int64_t)blockIdx.x * SCORING_WARPS + (threadIdx.x >> 5);
  if (j >= batch.length[h]) return;  // the whole warp: nothing below synchronises the block
  int64_t r = (int64_t)batch.offset[h] + j;
  const float* value = v + r * d;
  float squares = 0.0f;
  for (int a = lane; a < d; a += 32) squares += value[a] * value[a];
  squares = lukv_warp_sum(squares);
  float p = 0.0f;
  for (int g = lane; g < group; g += 32) {
    int64_t i = (int64_t)h * group + g;
    p += expf(logits[i * longest + j] - stats[2 * i]) / stats[2 * i + 1];
  }
  p = lukv_warp_sum(p);
  if (lane == 0) out[r] = (p / (float)group + epsilon) * sqrtf(squares);
}

// Three passes per batch of KV heads over a logits scratch [batch query heads, longest]:
// logits (one block per query head and tile of 32 keys), each query head's softmax
// normaliser, and the combination per row. No atomics: each value has one writer.
extern "C" LUKV_API int lukv_expected_attention_scores(float* out, const float* k, const float* v,
                                                      LUKV_HOST const int32_t* offsets,
                                                      LUKV_HOST const int32_t* lengths,
                                                      int64_t rows, const float* mean,
                                                      const float* cov, int64_t q_heads,
                                                      int64_t kv_heads, int64_t head_dim,
                                                      float epsilon, void* stream) {
  const char* op = "lukv_expected_attention_scores";
  LUKV_TRY(lukv_validate_expected_attention_scores(out, k, v, offsets, lengths, rows, mean, cov,
                                                   q_heads, kv_heads, head_dim, epsilon));
  LUKV_TRY(check_scoring_head_dim(op, head_dim));
  int64_t group = q_heads / kv_heads;
  int64_t batch_heads = kv_heads < SCORING_BATCH_HEADS ? kv_heads : SCORING_BATCH_HEADS;
  if (batch_heads * group > 65535) {
    return lukv_fail(LUKV_ERR_UNSUPPORTED,
                     "%s: %lld query heads per KV head exceed the launch grid", op,
                     (long long)group);
  }
  int64_t longest = 0;
  for (int64_t h = 0; h < kv_heads; h++) longest = lengths[h] > longest ? lengths[h] : longest;
  size_t shared = expected_shared_bytes(head_dim);
  if (shared > 48 * 1024) {
    LUKV_TRY(lukv_cuda_status(op, cudaFuncSetAttribute(expected_logits_kernel,
                                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                       (int)shared)));
  }
  cudaStream_t s = lukv_stream(stream);
  float* scratch = nullptr;
  int64_t slots = batch_heads * group;
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&scratch, (size_t)(slots * (longest + 2)) * sizeof(float),
                              s));
  float* logits = scratch;
  float* stats = scratch + slots * longest;
  int status = LUKV_OK;
  for (int64_t first = 0; first < kv_heads && status == LUKV_OK; first += SCORING_BATCH_HEADS) {
    int heads = (int)(kv_heads - first < SCORING_BATCH_HEADS ? kv_heads - first
                                                             : SCORING_BATCH_HEADS);
    ScoredHeads batch = {};
    int64_t batch_longest = scored_batch(&batch, offsets, lengths, first, heads);
    unsigned query_heads = (unsigned)(heads * group);
    int64_t first_q = first * group * head_dim;
    expected_logits_kernel<<<dim3((unsigned)((batch_longest + EXPECTED_KEYS - 1) / EXPECTED_KEYS),
                                  query_heads),
                             SCORING_THREADS, shared, s>>>(logits, k, mean + first_q,
                                                           cov + first_q * head_dim, batch,
                                                           (int)group, (int)head_dim, longest);
    status = lukv_launch_status(op);
    if (status == LUKV_OK) {
      expected_softmax_kernel<<<query_heads, SCORING_THREADS, 0, s>>>(stats, logits, batch,
                                                                      (int)group, longest);
      status = lukv_launch_status(op);
    }
    if (status == LUKV_OK) {
      expected_combine_kernel<<<dim3((unsigned)((batch_longest + SCORING_WARPS - 1) /
                                                SCORING_WARPS),
                                     (unsigned)heads),
                                SCORING_THREADS, 0, s>>>(out, v, logits, stats, batch, (int)group,
                                                         (int)head_dim, longest, epsilon);
      status = lukv_launch_status(op);
    }
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(scratch, s));
  return status ? status : freed;
}

// ---- Knorm and KeyDiff -----------------------------------------------------------------

// A lane holds dims lane, lane + 32, ... of a key: head_dim <= 32 * KEY_SLICES.
constexpr int KEY_SLICES = SCORING_MAX_HEAD_DIM / 32;

// Knorm: a warp per row j of KV head h = blockIdx.y: out [rows] row offset_h + j <- -||k_j||.
__global__ __launch_bounds__(SCORING_THREADS) void knorm_kernel(
    float* out, const float* __restrict__ k, const __grid_constant__ ScoredHeads batch, int d) {
  int lane = threadIdx.x & 31, h = blockIdx.y;
  int64_t j = (int64_t)blockIdx.x * SCORING_WARPS + (threadIdx.x >> 5);
  if (j >= batch.length[h]) return;
  int64_t r = (int64_t)batch.offset[h] + j;
  const float* key = k + r * d;
  float squares = 0.0f;
  for (int a = lane; a < d; a += 32) squares += key[a] * key[a];
  squares = lukv_warp_sum(squares);
  if (lane == 0) out[r] = -sqrtf(squares);
}

// KeyDiff spreads each head's mean over blocks of this many rows.
constexpr int KEYDIFF_CHUNK = 512;

// KeyDiff, pass 1: block (c, h) writes partial [batch heads, chunks, d] entry (h, c) <- the
// sum over rows c * KEYDIFF_CHUNK .. (at most KEYDIFF_CHUNK, below h's length) of k_j /
// ||k_j|| (a zero key counts as norm 1), in double: warp w sums rows w, w + 8, ... and
// the warps' sums then add in warp order.
__global__ __launch_bounds__(SCORING_THREADS) void keydiff_partial_kernel(
    double* partial, const float* __restrict__ k, const __grid_constant__ ScoredHeads batch,
    int d, int chunks) {
  __shared__ double warp_sum[SCORING_WARPS][SCORING_MAX_HEAD_DIM];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.y;
  int64_t begin = (int64_t)blockIdx.x * KEYDIFF_CHUNK, n = batch.length[h];
  if (begin >= n) return;  // the whole block: h is shorter than the batch's longest head
  int64_t end = begin + KEYDIFF_CHUNK < n ? begin + KEYDIFF_CHUNK : n;
  const float* keys = k + (int64_t)batch.offset[h] * d;
  double acc[KEY_SLICES] = {};
  for (int64_t j = begin + warp; j < end; j += SCORING_WARPS) {
    float key[KEY_SLICES];
    float squares = 0.0f;
#pragma unroll
    for (int s = 0; s < KEY_SLICES; s++) {
      int a = lane + 32 * s;
      key[s] = a < d ? keys[j * d + a] : 0.0f;
      squares += key[s] * key[s];
    }
    squares = lukv_warp_sum(squares);
    // A division, not a multiply by 1 / norm, which would fuse into the add: keys that
    // cancel exactly (k and -k) must leave a zero mean, as on the CPU.
    double norm = squares > 0.0f ? sqrt((double)squares) : 1.0;
#pragma unroll
    for (int s = 0; s < KEY_SLICES; s++) acc[s] += key[s] / norm;
  }
#pragma unroll
  for (int s = 0; s < KEY_SLICES; s++) {
    int a = lane + 32 * s;
    if (a < d) warp_sum[warp][a] = acc[s];
  }
  __syncthreads();
  double* out = partial + ((int64_t)h * chunks + blockIdx.x) * d;
  for (int a = threadIdx.x; a < d; a += blockDim.x) {
    double sum = 0.0;
    for (int w = 0; w < SCORING_WARPS; w++) sum += warp_sum[w][a];
    out[a] = sum;
  }
}

// KeyDiff, pass 2: direction [batch heads, d] row h = blockIdx.x <- m / ||m|| (m itself
// when zero), m the sum of h's partial sums from pass 1, added in chunk order.
__global__ void keydiff_direction_kernel(float* direction, const double* __restrict__ partial,
                                         const __grid_constant__ ScoredHeads batch, int d,
                                         int chunks) {
  __shared__ double mean[SCORING_MAX_HEAD_DIM];
  __shared__ double mean_norm;
  int h = blockIdx.x;
  int used = (int)((batch.length[h] + KEYDIFF_CHUNK - 1) / KEYDIFF_CHUNK);
  const double* sums = partial + (int64_t)h * chunks * d;
  for (int a = threadIdx.x; a < d; a += blockDim.x) {
    double m = 0.0;
    for (int c = 0; c < used; c++) m += sums[(int64_t)c * d + a];
    mean[a] = m;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double squares = 0.0;
    for (int a = 0; a < d; a++) squares += mean[a] * mean[a];
    mean_norm = squares > 0.0 ? sqrt(squares) : 1.0;
  }
  __syncthreads();
  for (int a = threadIdx.x; a < d; a += blockDim.x) {
    direction[(int64_t)h * d + a] = (float)(mean[a] / mean_norm);
  }
}

// KeyDiff, pass 2: a warp per row j of KV head h = blockIdx.y: out [rows] row offset_h + j
// <- -(k_j . direction_h) / ||k_j|| (norm 1 for a zero key).
__global__ __launch_bounds__(SCORING_THREADS) void keydiff_scores_kernel(
    float* out, const float* __restrict__ k, const float* __restrict__ direction,
    const __grid_constant__ ScoredHeads batch, int d) {
  int lane = threadIdx.x & 31, h = blockIdx.y;
  int64_t j = (int64_t)blockIdx.x * SCORING_WARPS + (threadIdx.x >> 5);
  if (j >= batch.length[h]) return;
  int64_t r = (int64_t)batch.offset[h] + j;
  const float* key = k + r * d;
  const float* dir = direction + (int64_t)h * d;
  float squares = 0.0f, dot = 0.0f;
  for (int a = lane; a < d; a += 32) {
    squares += key[a] * key[a];
    dot += key[a] * dir[a];
  }
  squares = lukv_warp_sum(squares);
  dot = lukv_warp_sum(dot);
  if (lane == 0) out[r] = -dot / (squares > 0.0f ? sqrtf(squares) : 1.0f);
}

extern "C" LUKV_API int lukv_key_scores(float* out, const float* k,
                                        LUKV_HOST const int32_t* offsets,
                                        LUKV_HOST const int32_t* lengths, int64_t rows,
                                        int64_t kv_heads, int64_t head_dim, int32_t mode,
                                        void* stream) {
  const char* op = "lukv_key_scores";
  LUKV_TRY(lukv_validate_key_scores(out, k, offsets, lengths, rows, kv_heads, head_dim, mode));
  LUKV_TRY(check_scoring_head_dim(op, head_dim));
  cudaStream_t s = lukv_stream(stream);
  int64_t batch_heads = kv_heads < SCORING_BATCH_HEADS ? kv_heads : SCORING_BATCH_HEADS;
  int64_t longest = 0;
  for (int64_t h = 0; h < kv_heads; h++) longest = lengths[h] > longest ? lengths[h] : longest;
  int64_t chunks = (longest + KEYDIFF_CHUNK - 1) / KEYDIFF_CHUNK;
  // KeyDiff scratch: the partial sums (double) [batch heads, chunks, d], then the directions.
  void* scratch = nullptr;
  double* partial = nullptr;
  float* direction = nullptr;
  if (mode == LUKV_KEY_SCORE_KEYDIFF) {
    size_t partial_bytes = (size_t)(batch_heads * chunks * head_dim) * sizeof(double);
    LUKV_TRY(lukv_scratch_alloc(
        op, &scratch, partial_bytes + (size_t)(batch_heads * head_dim) * sizeof(float), s));
    partial = (double*)scratch;
    direction = (float*)((char*)scratch + partial_bytes);
  }
  int status = LUKV_OK;
  for (int64_t first = 0; first < kv_heads && status == LUKV_OK; first += SCORING_BATCH_HEADS) {
    int heads = (int)(kv_heads - first < SCORING_BATCH_HEADS ? kv_heads - first
                                                             : SCORING_BATCH_HEADS);
    ScoredHeads batch = {};
    int64_t batch_longest = scored_batch(&batch, offsets, lengths, first, heads);
    dim3 grid((unsigned)((batch_longest + SCORING_WARPS - 1) / SCORING_WARPS), (unsigned)heads);
    if (mode == LUKV_KEY_SCORE_KNORM) {
      knorm_kernel<<<grid, SCORING_THREADS, 0, s>>>(out, k, batch, (int)head_dim);
      status = lukv_launch_status(op);
      continue;
    }
    dim3 chunk_grid((unsigned)((batch_longest + KEYDIFF_CHUNK - 1) / KEYDIFF_CHUNK),
                    (unsigned)heads);
    keydiff_partial_kernel<<<chunk_grid, SCORING_THREADS, 0, s>>>(partial, k, batch,
                                                                  (int)head_dim, (int)chunks);
    status = lukv_launch_status(op);
    if (status == LUKV_OK) {
      keydiff_direction_kernel<<<(unsigned)heads, SCORING_THREADS, 0, s>>>(
          direction, partial, batch, (int)head_dim, (int)chunks);
      status = lukv_launch_status(op);
    }
    if (status == LUKV_OK) {
      keydiff_scores_kernel<<<grid, SCORING_THREADS, 0, s>>>(out, k, direction, batch,
                                                             (int)head_dim);
      status = lukv_launch_status(op);
    }
  }
  int freed = scratch ? lukv_cuda_status(op, cudaFreeAsync(scratch, s)) : LUKV_OK;
  return status ? status : freed;
}
