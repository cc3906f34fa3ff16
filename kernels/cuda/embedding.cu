// embedding.cu: token embedding gather, widening f16/bf16 tables to f32 rows.
#include "cuda_common.cuh"

// out [count, dim] = table [vocab, dim] rows ids [count] (device copy), one block per
// token row at a time.
template <typename T>
__global__ __launch_bounds__(LUKV_ROW_THREADS_MAX) void embedding_kernel(
    float* __restrict__ out, const T* __restrict__ table, const int32_t* __restrict__ ids,
    int64_t count, int64_t dim) {
  for (int64_t t = blockIdx.x; t < count; t += gridDim.x) {
    const T* row = table + (int64_t)ids[t] * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[t * dim + i] = lukv_to_f32(row[i]);
  }
}

// The ids live in host memory, so they travel through a stream-ordered scratch buffer.
// cudaMemcpyAsync from pageable memory (a Deno buffer) stages the ids before it returns,
// so the caller may reuse them at once and the op stays asynchronous.
extern "C" LUKV_API int lukv_embedding(float* out, const void* table, int32_t table_dtype,
                                       LUKV_HOST const int32_t* ids, int64_t count, int64_t vocab,
                                       int64_t dim, void* stream) {
  const char* op = "lukv_embedding";
  LUKV_TRY(lukv_validate_embedding(out, table, table_dtype, ids, count, vocab, dim));
  cudaStream_t s = lukv_stream(stream);
  size_t bytes = (size_t)count * sizeof(int32_t);
  int32_t* device_ids = nullptr;
  LUKV_TRY(lukv_scratch_alloc(op, (void**)&device_ids, bytes, s));
  int status =
      lukv_cuda_status(op, cudaMemcpyAsync(device_ids, ids, bytes, cudaMemcpyHostToDevice, s));
  if (status == LUKV_OK) {
    unsigned blocks = lukv_grid_rows(count);
    int threads = lukv_row_threads(dim);
    switch (table_dtype) {
      case LUKV_F16:
        embedding_kernel<<<blocks, threads, 0, s>>>(out, (const __half*)table, device_ids, count,
                                                    dim);
        break;
      case LUKV_BF16:
        embedding_kernel<<<blocks, threads, 0, s>>>(out, (const __nv_bfloat16*)table, device_ids,
                                                    count, dim);
        break;
      default:
        embedding_kernel<<<blocks, threads, 0, s>>>(out, (const float*)table, device_ids, count,
                                                    dim);
    }
    status = lukv_launch_status(op);
  }
  int freed = lukv_cuda_status(op, cudaFreeAsync(device_ids, s));
  return status ? status : freed;
}
