// cublas.cu: loads cuBLAS with dlopen (candidate names, LUKV_CUBLAS override) and wraps its sgemm.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cublas.cuh"
#include "cuda_common.cuh"

// The few cuBLAS declarations needed, written out so that no cuBLAS header is needed
// either. Handles are opaque; enums are ints; status 0 is CUBLAS_STATUS_SUCCESS.
typedef void* CublasHandle;
typedef int CublasStatus;
enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
typedef CublasStatus (*CublasCreate)(CublasHandle* handle);
typedef CublasStatus (*CublasSetStream)(CublasHandle handle, cudaStream_t stream);
typedef CublasStatus (*CublasSgemm)(CublasHandle handle, int transa, int transb, int m, int n,
                                    int k, const float* alpha, const float* a, int lda,
                                    const float* b, int ldb, const float* beta, float* c,
                                    int ldc);

static struct {
  bool ready;
  CublasHandle handle;
  CublasSetStream set_stream;
  CublasSgemm sgemm;
  int failures;
  char summary[1024];
} cublas;

static pthread_once_t cublas_once = PTHREAD_ONCE_INIT;
// A handle's stream is state shared by every caller: setting it and queuing the GEMM
// must not interleave with another thread doing the same.
static pthread_mutex_t cublas_lock = PTHREAD_MUTEX_INITIALIZER;

// Appends one failed candidate to the summary, dropping whatever does not fit.
static void note_failure(const char* path, const char* why) {
  size_t used = strlen(cublas.summary);
  snprintf(cublas.summary + used, sizeof cublas.summary - used, "%s%s: %s",
           cublas.failures++ ? "; " : "", path, why);
}

// Opens the first candidate that has the three entry points and creates a handle. The
// library and the handle are never released: they live as long as the process, and
// tearing them down at exit could run after the CUDA driver has shut down.
static void load_cublas(void) {
  const char* candidates[] = {getenv("LUKV_CUBLAS"), "libcublas.so.13", "libcublas.so.12",
                              "libcublas.so.11", "libcublas.so"};
  strcpy(cublas.summary, "no cuBLAS (tried ");
  for (const char* path : candidates) {
    if (!path || !*path) continue;
    void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      const char* error = dlerror();
      note_failure(path, error ? error : "cannot open");
      continue;
    }
    CublasCreate create = (CublasCreate)dlsym(library, "cublasCreate_v2");
    CublasSetStream set_stream = (CublasSetStream)dlsym(library, "cublasSetStream_v2");
    CublasSgemm sgemm = (CublasSgemm)dlsym(library, "cublasSgemm_v2");
    if (!create || !set_stream || !sgemm) {
      note_failure(path, "lacks cublasCreate_v2, cublasSetStream_v2 or cublasSgemm_v2");
      dlclose(library);
      continue;
    }
    CublasHandle handle = nullptr;
    if (create(&handle) != 0) {
      note_failure(path, "cublasCreate_v2 failed");
      dlclose(library);
      continue;
    }
    cublas.handle = handle;
    cublas.set_stream = set_stream;
    cublas.sgemm = sgemm;
    cublas.ready = true;
    snprintf(cublas.summary, sizeof cublas.summary, "cuBLAS %s", path);
    return;
  }
  size_t used = strlen(cublas.summary);
  snprintf(cublas.summary + used, sizeof cublas.summary - used, ")");
}

bool lukv_cublas_ready(void) {
  pthread_once(&cublas_once, load_cublas);
  return cublas.ready;
}

const char* lukv_cublas_summary(void) {
  pthread_once(&cublas_once, load_cublas);
  return cublas.summary;
}

// cuBLAS is column-major. Row-major y [m, n] with row stride ldy is column-major y^T
// (n x m, ld ldy); x [m, k] is x^T (k x m, ld k) and w [n, k] is w^T (k x n, ld k). So
// y^T = (w^T)^T x^T: an (n x k) . (k x m) product with the first operand transposed. The
// default math mode keeps full f32 (no TF32).
int lukv_cublas_sgemm(float* y, int ldy, const float* x, const float* w, int m, int n, int k,
                      float beta, cudaStream_t stream) {
  const float alpha = 1.0f;
  pthread_mutex_lock(&cublas_lock);
  CublasStatus status = cublas.set_stream(cublas.handle, stream);
  if (status == 0) {
    status = cublas.sgemm(cublas.handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, k, x, k,
                          &beta, y, ldy);
  }
  pthread_mutex_unlock(&cublas_lock);
  if (status != 0) {
    return lukv_fail(LUKV_ERR_DEVICE, "lukv_matmul: cublasSgemm_v2 failed with status %d",
                     status);
  }
  return LUKV_OK;
}
