/* device.c: what the CPU library reports about its device. */
#include <stdio.h>

#include "cpu_common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

LUKV_API int lukv_device_count(LUKV_HOST int32_t* out_count) {
  LUKV_TRY(lukv_check_host("lukv_device_count", "out_count", out_count));
  *out_count = 1;
  return LUKV_OK;
}

LUKV_API int lukv_device_name(LUKV_HOST char* out, int64_t capacity) {
  const char* op = "lukv_device_name";
  LUKV_TRY(lukv_check_host(op, "out", out));
  LUKV_TRY(lukv_check_positive(op, "capacity", capacity));
#ifdef _OPENMP
  int threads = omp_get_max_threads();
#else
  int threads = 1;
#endif
#if defined(__x86_64__)
  const char* arch = "x86_64";
#elif defined(__aarch64__)
  const char* arch = "aarch64";
#else
  const char* arch = "unknown arch";
#endif
  snprintf(out, (size_t)capacity, "cpu (%s, %d thread%s)", arch, threads, threads == 1 ? "" : "s");
  return LUKV_OK;
}

/* The CPU library runs every op to completion before returning. */
LUKV_API int lukv_synchronize(void* stream) {
  (void)stream;
  return LUKV_OK;
}
