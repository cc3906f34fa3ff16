// cublas.cuh: cuBLAS sgemm, loaded at run time so that building and loading need no cuBLAS.
#ifndef LUKV_CUBLAS_CUH
#define LUKV_CUBLAS_CUH

#include <cuda_runtime.h>

// Loads cuBLAS and creates its handle on the first call (thread-safe); true when
// lukv_cublas_sgemm can be used.
bool lukv_cublas_ready(void);

// The load result in one line: "cuBLAS <path>", or "no cuBLAS (tried <path>: <error>;
// ...)" listing every candidate with its dlerror.
const char* lukv_cublas_summary(void);

// y [m, n] = x [m, k] . w [n, k]^T + beta * y, all f32 row-major, queued on stream; y's
// rows lie ldy >= n floats apart, so y may be a column block of a wider matrix. Only
// valid when lukv_cublas_ready() is true.
int lukv_cublas_sgemm(float* y, int ldy, const float* x, const float* w, int m, int n, int k,
                      float beta, cudaStream_t stream);

#endif  // LUKV_CUBLAS_CUH
