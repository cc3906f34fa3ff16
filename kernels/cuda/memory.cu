// memory.cu: device allocation and memory use, copies, fills (constant and random) and dtype
// conversion.
#include "cuda_common.cuh"

extern "C" LUKV_API int lukv_alloc(int64_t bytes, LUKV_HOST void** out_ptr) {
  const char* op = "lukv_alloc";
  LUKV_TRY(lukv_check_positive(op, "bytes", bytes));
  LUKV_TRY(lukv_check_host(op, "out_ptr", out_ptr));
  void* ptr = nullptr;
  // cudaMalloc aligns to at least 256 bytes, more than the 64 the header promises.
  cudaError_t err = cudaMalloc(&ptr, (size_t)bytes);
  if (err != cudaSuccess) {
    // lukv_cuda_status maps the code; the message then says how much was asked for.
    int code = lukv_cuda_status(op, err);
    return lukv_fail(code, "%s: cannot allocate %lld bytes (%s)", op, (long long)bytes,
                     cudaGetErrorString(err));
  }
  int status = lukv_registry_insert(ptr, bytes);
  if (status) {
    cudaFree(ptr);
    return status;
  }
  *out_ptr = ptr;
  return LUKV_OK;
}

// cudaFree waits for the device to be idle, so work still queued on the memory ends first.
extern "C" LUKV_API int lukv_free(void* ptr) {
  int64_t bytes;
  LUKV_TRY(lukv_registry_remove("lukv_free", ptr, &bytes, nullptr));
  return lukv_cuda_status("lukv_free", cudaFree(ptr));
}

// Tensors live in device memory here, which a file cannot be mapped into: CUDA loaders read
// the file and upload it instead (src/model/weights.ts).
extern "C" LUKV_API int lukv_map_file(LUKV_HOST const char* path, int64_t offset, int64_t bytes,
                                      LUKV_HOST void** out_ptr) {
  (void)path, (void)offset, (void)bytes, (void)out_ptr;
  return lukv_fail(LUKV_ERR_UNSUPPORTED,
                   "lukv_map_file: the CUDA library cannot map files into device memory");
}

// The driver's free and total memory sit beside the registry's counts: the registry sees
// only lukv_alloc, the driver also the scratch pool, cuBLAS and the context itself.
extern "C" LUKV_API int lukv_memory_info(LUKV_HOST int64_t* out, int32_t reset_peak) {
  const char* op = "lukv_memory_info";
  LUKV_TRY(lukv_check_host(op, "out", out));
  size_t free_bytes = 0, total_bytes = 0;
  LUKV_TRY(lukv_cuda_status(op, cudaMemGetInfo(&free_bytes, &total_bytes)));
  lukv_registry_usage(&out[0], &out[1], reset_peak);
  out[2] = (int64_t)free_bytes;
  out[3] = (int64_t)total_bytes;
  return LUKV_OK;
}

// Queues a host<->device copy and waits for it, so the host buffer may be reused (or
// read) as soon as the call returns, pinned or not.
static int copy_and_wait(const char* op, void* dst, const void* src, int64_t bytes,
                         cudaMemcpyKind kind, void* stream) {
  cudaStream_t s = lukv_stream(stream);
  LUKV_TRY(lukv_cuda_status(op, cudaMemcpyAsync(dst, src, (size_t)bytes, kind, s)));
  return lukv_cuda_status(op, cudaStreamSynchronize(s));
}

extern "C" LUKV_API int lukv_copy_to_device(void* dst, LUKV_HOST const void* src, int64_t bytes,
                                            void* stream) {
  const char* op = "lukv_copy_to_device";
  LUKV_TRY(lukv_validate_copy(op, dst, 1, src, 0, bytes));
  return copy_and_wait(op, dst, src, bytes, cudaMemcpyHostToDevice, stream);
}

extern "C" LUKV_API int lukv_copy_to_host(LUKV_HOST void* dst, const void* src, int64_t bytes,
                                          void* stream) {
  const char* op = "lukv_copy_to_host";
  LUKV_TRY(lukv_validate_copy(op, dst, 0, src, 1, bytes));
  return copy_and_wait(op, dst, src, bytes, cudaMemcpyDeviceToHost, stream);
}

extern "C" LUKV_API int lukv_copy_device(void* dst, const void* src, int64_t bytes, void* stream) {
  const char* op = "lukv_copy_device";
  LUKV_TRY(lukv_validate_copy(op, dst, 1, src, 1, bytes));
  return lukv_cuda_status(
      op, cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToDevice, lukv_stream(stream)));
}

// dst [count] <- bits: the value already rounded to the element type on the host.
template <typename T>
__global__ void fill_kernel(T* dst, T bits, int64_t count) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    dst[i] = bits;
  }
}

extern "C" LUKV_API int lukv_fill(void* dst, int32_t dtype, int64_t count, double value,
                                  void* stream) {
  const char* op = "lukv_fill";
  LUKV_TRY(lukv_validate_fill(dst, dtype, count, value));
  cudaStream_t s = lukv_stream(stream);
  const int threads = 256;
  unsigned blocks = lukv_grid_1d(count, threads);
  // Rounded through f32 like the CPU library, so both write the same bits.
  float rounded = (float)value;
  switch (dtype) {
    case LUKV_F32:
      fill_kernel<<<blocks, threads, 0, s>>>((float*)dst, rounded, count);
      break;
    case LUKV_F16:
      fill_kernel<<<blocks, threads, 0, s>>>((uint16_t*)dst, lukv_f32_to_f16(rounded), count);
      break;
    case LUKV_BF16:
      fill_kernel<<<blocks, threads, 0, s>>>((uint16_t*)dst, lukv_f32_to_bf16(rounded), count);
      break;
    default:
      fill_kernel<<<blocks, threads, 0, s>>>((int32_t*)dst, (int32_t)value, count);
  }
  return lukv_launch_status(op);
}

// dst [count] of DTYPE <- lukv_random_uniform(seed, i, scale), rounded with the
// conversions the CPU library uses, so both write the same bits.
template <int DTYPE>
__global__ void fill_random_kernel(void* dst, int64_t count, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    float value = lukv_random_uniform(seed, (uint64_t)i, scale);
    if constexpr (DTYPE == LUKV_F16) {
      ((uint16_t*)dst)[i] = lukv_f32_to_f16(value);
    } else if constexpr (DTYPE == LUKV_BF16) {
      ((uint16_t*)dst)[i] = lukv_f32_to_bf16(value);
    } else {
      ((float*)dst)[i] = value;
    }
  }
}

extern "C" LUKV_API int lukv_fill_random(void* dst, int32_t dtype, int64_t count, uint64_t seed,
                                         float scale, void* stream) {
  LUKV_TRY(lukv_validate_fill_random(dst, dtype, count, scale));
  cudaStream_t s = lukv_stream(stream);
  const int threads = 256;
  unsigned blocks = lukv_grid_1d(count, threads);
  switch (dtype) {
    case LUKV_F16:
      fill_random_kernel<LUKV_F16><<<blocks, threads, 0, s>>>(dst, count, seed, scale);
      break;
    case LUKV_BF16:
      fill_random_kernel<LUKV_BF16><<<blocks, threads, 0, s>>>(dst, count, seed, scale);
      break;
    default:
      fill_random_kernel<LUKV_F32><<<blocks, threads, 0, s>>>(dst, count, seed, scale);
  }
  return lukv_launch_status("lukv_fill_random");
}

// Reads element i of a f32/f16/bf16 array as f32 with the shared conversions, so CUDA
// and CPU produce the same bits (NaN payloads included).
static __device__ __forceinline__ float load_as_f32(const void* src, int32_t dtype, int64_t i) {
  switch (dtype) {
    case LUKV_F16: return lukv_f16_to_f32(((const uint16_t*)src)[i]);
    case LUKV_BF16: return lukv_bf16_to_f32(((const uint16_t*)src)[i]);
    default: return ((const float*)src)[i];
  }
}

// dst [count] of dst_dtype <- src [count] of src_dtype, through f32 (exact for the
// widening step, so the only rounding is the final one).
__global__ void convert_kernel(void* dst, int32_t dst_dtype, const void* src, int32_t src_dtype,
                               int64_t count) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    float value = load_as_f32(src, src_dtype, i);
    switch (dst_dtype) {
      case LUKV_F16: ((uint16_t*)dst)[i] = lukv_f32_to_f16(value); break;
      case LUKV_BF16: ((uint16_t*)dst)[i] = lukv_f32_to_bf16(value); break;
      default: ((float*)dst)[i] = value;
    }
  }
}

extern "C" LUKV_API int lukv_convert(void* dst, int32_t dst_dtype, const void* src,
                                     int32_t src_dtype, int64_t count, void* stream) {
  LUKV_TRY(lukv_validate_convert(dst, dst_dtype, src, src_dtype, count));
  const int threads = 256;
  convert_kernel<<<lukv_grid_1d(count, threads), threads, 0, lukv_stream(stream)>>>(
      dst, dst_dtype, src, src_dtype, count);
  return lukv_launch_status("lukv_convert");
}
