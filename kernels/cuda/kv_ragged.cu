// kv_ragged.cu: the ragged per-head KV layout: compaction of a dense layer cache by
// per-head index lists (gather) and the one-row-per-head decode append.

#include "cuda_common.cuh"

constexpr int GATHER_THREADS = 256;
// Append: the destination rows of up to APPEND_BATCH_HEADS heads travel as one kernel
// parameter (2 KB, copied at launch), so an append needs no device allocation or copy.
constexpr int APPEND_BATCH_HEADS = 256;

// dst [dst_rows, head_dim] <- src [heads, capacity, head_dim]: kept row i (of `kept`)
// belongs to the head h with index_offsets[h] <= i < index_offsets[h + 1], comes from
// source row indices[i] of h and goes to row dst_offsets[h] + i - index_offsets[h]. One
// warp copies one row at a time (coalesced 128-byte accesses along head_dim).
__global__ void kv_gather_kernel(float* __restrict__ dst, const float* __restrict__ src,
                                 const int32_t* __restrict__ indices,
                                 const int32_t* __restrict__ index_offsets,
                                 const int32_t* __restrict__ dst_offsets, int64_t heads,
                                 int64_t kept, int64_t capacity, int64_t head_dim) {
  int lane = threadIdx.x & 31;
  int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
  for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5; i < kept; i += warps) {
    int64_t h = 0, hi = heads;  // the last head starting at or before i (empty heads skipped)
    while (hi - h > 1) {
      int64_t mid = (h + hi) >> 1;
      if (index_offsets[mid] <= i) h = mid;
      else hi = mid;
    }
    const float* from = src + (h * capacity + indices[i]) * head_dim;
    float* to = dst + ((int64_t)dst_offsets[h] + i - index_offsets[h]) * head_dim;
    for (int64_t d = lane; d < head_dim; d += 32) to[d] = from[d];
  }
}

// The index lists live in host memory, so they travel through one stream-ordered scratch
// buffer [indices | index_offsets | dst_offsets]. cudaMemcpyAsync from pageable memory
// (a Deno buffer) stages the data before it returns, so the caller may reuse the arrays
// at once and the op stays asynchronous (as lukv_embedding does with its ids).
extern "C" LUKV_API int lukv_kv_gather(float* dst, const float* src,
                                       LUKV_HOST const int32_t* indices,
                                       LUKV_HOST const int32_t* index_offsets,
                                       LUKV_HOST const int32_t* dst_offsets, int64_t heads,
                                       int64_t capacity, int64_t head_dim, int64_t dst_rows,
                                       void* stream) {
  const char* op = "lukv_kv_gather";
  LUKV_TRY(lukv_validate_kv_gather(dst, src, indices, index_offsets, dst_offsets, heads, capacity,
                                   head_dim, dst_rows));
  int64_t kept = index_offsets[heads];
  if (kept == 0) return LUKV_OK;
  cudaStream_t s = lukv_stream(stream);
  int32_t* table = nullptr;
  size_t bytes = (size_t)(kept + 2 * heads + 1) * sizeof(int32_t);
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&table, bytes, s));
  int32_t* device_indices = table;
  int32_t* device_index_offsets = table + kept;
  int32_t* device_dst_offsets = table + kept + heads + 1;
  const cudaMemcpyKind up = cudaMemcpyHostToDevice;
  int status = lukv_cuda_status(
      op, cudaMemcpyAsync(device_indices, indices, (size_t)kept * sizeof(int32_t), up, s));
  if (status == LUKV_OK) {
    status = lukv_cuda_status(op, cudaMemcpyAsync(device_index_offsets, index_offsets,
                                                  (size_t)(heads + 1) * sizeof(int32_t), up, s));
  }
  if (status == LUKV_OK) {
    status = lukv_cuda_status(op, cudaMemcpyAsync(device_dst_offsets, dst_offsets,
                                                  (size_t)heads * sizeof(int32_t), up, s));
  }
  if (status == LUKV_OK) {
    kv_gather_kernel<<<lukv_grid_1d(kept * 32, GATHER_THREADS), GATHER_THREADS, 0, s>>>(
        dst, src, device_indices, device_index_offsets, device_dst_offsets, heads, kept, capacity,
        head_dim);
    status = lukv_launch_status(op);
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(table, s));
  return status ? status : freed;
}

struct AppendBatch {
  int64_t dst_row[APPEND_BATCH_HEADS];
};

// dst [dst_rows, head_dim] row batch.dst_row[h] <- src [heads, head_dim] row h, one block
// per head.
__global__ __launch_bounds__(LUKV_ROW_THREADS_MAX) void kv_append_kernel(
    float* __restrict__ dst, const float* __restrict__ src,
    const __grid_constant__ AppendBatch batch, int64_t head_dim) {
  int h = blockIdx.x;
  float* to = dst + batch.dst_row[h] * head_dim;
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) to[d] = src[h * head_dim + d];
}

extern "C" LUKV_API int lukv_kv_append(float* dst, const float* src,
                                       LUKV_HOST const int32_t* offsets,
                                       LUKV_HOST const int32_t* lengths,
                                       LUKV_HOST const int32_t* capacities, int64_t heads,
                                       int64_t head_dim, int64_t dst_rows, void* stream) {
  const char* op = "lukv_kv_append";
  LUKV_TRY(lukv_validate_kv_append(dst, src, offsets, lengths, capacities, heads, head_dim,
                                   dst_rows));
  cudaStream_t s = lukv_stream(stream);
  int threads = lukv_row_threads(head_dim);
  for (int64_t first = 0; first < heads; first += APPEND_BATCH_HEADS) {
    int count = (int)(heads - first < APPEND_BATCH_HEADS ? heads - first : APPEND_BATCH_HEADS);
    AppendBatch batch = {};
    for (int h = 0; h < count; h++) {
      batch.dst_row[h] = (int64_t)offsets[first + h] + lengths[first + h];
    }
    kv_append_kernel<<<(unsigned)count, threads, 0, s>>>(dst, src + first * head_dim, batch,
                                                          head_dim);
    LUKV_TRY(lukv_launch_status(op));
  }
  return LUKV_OK;
}
