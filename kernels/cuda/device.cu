// device.cu: device discovery, the device name and stream synchronisation.
#include <stdio.h>

#include "cublas.cuh"
#include "cuda_common.cuh"

extern "C" LUKV_API int lukv_device_count(LUKV_HOST int32_t* out_count) {
  const char* op = "lukv_device_count";
  LUKV_TRY(lukv_check_host(op, "out_count", out_count));
  *out_count = 0;
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  // No driver, an old one, or no device: the user's question is whether a GPU is here.
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    return lukv_fail(LUKV_ERR_DEVICE, "%s: no CUDA device found (the CUDA runtime says: %s)", op,
                     cudaGetErrorString(status));
  }
  LUKV_TRY(lukv_cuda_status(op, status));
  if (count == 0) return lukv_fail(LUKV_ERR_DEVICE, "%s: no CUDA device found", op);
  *out_count = count;
  return LUKV_OK;
}

// Names the current device, and says whether f32 matmuls go to cuBLAS (with the paths
// tried when it could not be loaded): the name is the one place a user sees that. A
// short buffer gets a truncated, still NUL-terminated name, as on the CPU library.
extern "C" LUKV_API int lukv_device_name(LUKV_HOST char* out, int64_t capacity) {
  const char* op = "lukv_device_name";
  LUKV_TRY(lukv_check_host(op, "out", out));
  LUKV_TRY(lukv_check_positive(op, "capacity", capacity));
  int device = 0;
  LUKV_TRY(lukv_cuda_status(op, cudaGetDevice(&device)));
  cudaDeviceProp prop;
  LUKV_TRY(lukv_cuda_status(op, cudaGetDeviceProperties(&prop, device)));
  lukv_cublas_ready();
  snprintf(out, (size_t)capacity, "cuda:%d %s (sm_%d%d, %llu GiB, %s)", device, prop.name,
           prop.major, prop.minor, (unsigned long long)(prop.totalGlobalMem >> 30),
           lukv_cublas_summary());
  return LUKV_OK;
}

extern "C" LUKV_API int lukv_synchronize(void* stream) {
  return lukv_cuda_status("lukv_synchronize", cudaStreamSynchronize(lukv_stream(stream)));
}
