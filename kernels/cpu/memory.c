/* memory.c: host-memory allocation and memory use, copies, fills (constant and random) and
 * dtype conversion for the CPU library (its "device" memory is ordinary aligned host memory). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu_common.h"

LUKV_API int lukv_memory_info(LUKV_HOST int64_t* out, int32_t reset_peak) {
  LUKV_TRY(lukv_check_host("lukv_memory_info", "out", out));
  lukv_registry_usage(&out[0], &out[1], reset_peak);
  long page = sysconf(_SC_PAGESIZE);
#ifdef _SC_AVPHYS_PAGES
  long available = sysconf(_SC_AVPHYS_PAGES);
#else
  long available = -1;
#endif
  long physical = sysconf(_SC_PHYS_PAGES);
  out[2] = page > 0 && available >= 0 ? (int64_t)available * page : -1;
  out[3] = page > 0 && physical >= 0 ? (int64_t)physical * page : -1;
  return LUKV_OK;
}

LUKV_API int lukv_alloc(int64_t bytes, LUKV_HOST void** out_ptr) {
  const char* op = "lukv_alloc";
  LUKV_TRY(lukv_check_positive(op, "bytes", bytes));
  LUKV_TRY(lukv_check_host(op, "out_ptr", out_ptr));
  /* aligned_alloc wants a multiple of the alignment. */
  int64_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes) return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: %lld bytes is too large", op, (long long)bytes);
  void* ptr = aligned_alloc(64, (size_t)rounded);
  if (!ptr) {
    return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld bytes", op, (long long)bytes);
  }
  int status = lukv_registry_insert(ptr, bytes);
  if (status) {
    free(ptr);
    return status;
  }
  *out_ptr = ptr;
  return LUKV_OK;
}

/* The mapping starts at the page holding `offset`. It is made read-only and populated
 * first (populating a writable private mapping would copy every page), then opened for
 * writing, so a stray write costs one page copy instead of a crash. */
LUKV_API int lukv_map_file(LUKV_HOST const char* path, int64_t offset, int64_t bytes,
                           LUKV_HOST void** out_ptr) {
  const char* op = "lukv_map_file";
  LUKV_TRY(lukv_check_host(op, "path", path));
  LUKV_TRY(lukv_check_host(op, "out_ptr", out_ptr));
  LUKV_TRY(lukv_check_positive(op, "bytes", bytes));
  if (offset < 0) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: offset must be >= 0, got %lld", op,
                     (long long)offset);
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lukv_fail(LUKV_ERR_IO, "%s: cannot open %s: %s", op, path, strerror(errno));
  /* The mapping keeps the file open; the descriptor is closed on every path below. */
  struct stat info;
  if (fstat(fd, &info) != 0) {
    int error = errno;
    close(fd);
    return lukv_fail(LUKV_ERR_IO, "%s: cannot stat %s: %s", op, path, strerror(error));
  }
  if (offset > (int64_t)info.st_size - bytes) {
    close(fd);
    return lukv_fail(LUKV_ERR_IO, "%s: bytes [%lld, %lld) lie past the end of %s (%lld bytes)", op,
                     (long long)offset, (long long)offset + bytes, path, (long long)info.st_size);
  }
  int64_t page = sysconf(_SC_PAGESIZE);
  int64_t shift = offset % page;
  int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
  flags |= MAP_POPULATE;
#endif
  void* start = mmap(NULL, (size_t)(bytes + shift), PROT_READ, flags, fd, (off_t)(offset - shift));
  close(fd);
  if (start == MAP_FAILED) {
    return lukv_fail(LUKV_ERR_IO, "%s: cannot map %lld bytes of %s: %s", op, (long long)bytes, path,
                     strerror(errno));
  }
  if (mprotect(start, (size_t)(bytes + shift), PROT_READ | PROT_WRITE) != 0) {
    munmap(start, (size_t)(bytes + shift));
    return lukv_fail(LUKV_ERR_IO, "%s: cannot make the mapping of %s copy-on-write: %s", op, path,
                     strerror(errno));
  }
  char* ptr = (char*)start + shift;
  int status = lukv_registry_insert_mapped(ptr, bytes, shift);
  if (status) {
    munmap(start, (size_t)(bytes + shift));
    return status;
  }
  *out_ptr = ptr;
  return LUKV_OK;
}

LUKV_API int lukv_free(void* ptr) {
  int64_t bytes, shift;
  LUKV_TRY(lukv_registry_remove("lukv_free", ptr, &bytes, &shift));
  if (shift < 0) free(ptr);
  else munmap((char*)ptr - shift, (size_t)(bytes + shift));
  return LUKV_OK;
}

LUKV_API int lukv_copy_to_device(void* dst, LUKV_HOST const void* src, int64_t bytes, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_copy("lukv_copy_to_device", dst, 1, src, 0, bytes));
  memcpy(dst, src, (size_t)bytes);
  return LUKV_OK;
}

LUKV_API int lukv_copy_to_host(LUKV_HOST void* dst, const void* src, int64_t bytes, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_copy("lukv_copy_to_host", dst, 0, src, 1, bytes));
  memcpy(dst, src, (size_t)bytes);
  return LUKV_OK;
}

LUKV_API int lukv_copy_device(void* dst, const void* src, int64_t bytes, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_copy("lukv_copy_device", dst, 1, src, 1, bytes));
  memcpy(dst, src, (size_t)bytes);
  return LUKV_OK;
}

LUKV_API int lukv_fill(void* dst, int32_t dtype, int64_t count, double value, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_fill(dst, dtype, count, value));
  switch (dtype) {
    case LUKV_F32: {
      float* out = (float*)dst;
      for (int64_t i = 0; i < count; i++) out[i] = (float)value;
      break;
    }
    case LUKV_F16:
    case LUKV_BF16: {
      uint16_t bits = dtype == LUKV_F16 ? lukv_f32_to_f16((float)value) : lukv_f32_to_bf16((float)value);
      uint16_t* out = (uint16_t*)dst;
      for (int64_t i = 0; i < count; i++) out[i] = bits;
      break;
    }
    default: {
      int32_t* out = (int32_t*)dst;
      for (int64_t i = 0; i < count; i++) out[i] = (int32_t)value;
    }
  }
  return LUKV_OK;
}

LUKV_API int lukv_fill_random(void* dst, int32_t dtype, int64_t count, uint64_t seed, float scale,
                              void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_fill_random(dst, dtype, count, scale));
#pragma omp parallel for num_threads(lukv_threads(count)) schedule(static)
  for (int64_t i = 0; i < count; i++) {
    float value = lukv_random_uniform(seed, (uint64_t)i, scale);
    switch (dtype) {
      case LUKV_F16: ((uint16_t*)dst)[i] = lukv_f32_to_f16(value); break;
      case LUKV_BF16: ((uint16_t*)dst)[i] = lukv_f32_to_bf16(value); break;
      default: ((float*)dst)[i] = value;
    }
  }
  return LUKV_OK;
}

static float load_as_f32(const void* src, int32_t dtype, int64_t i) {
  switch (dtype) {
    case LUKV_F16: return lukv_f16_to_f32(((const uint16_t*)src)[i]);
    case LUKV_BF16: return lukv_bf16_to_f32(((const uint16_t*)src)[i]);
    default: return ((const float*)src)[i];
  }
}

LUKV_API int lukv_convert(void* dst, int32_t dst_dtype, const void* src, int32_t src_dtype,
                          int64_t count, void* stream) {
  (void)stream;
  LUKV_TRY(lukv_validate_convert(dst, dst_dtype, src, src_dtype, count));
#pragma omp parallel for num_threads(lukv_threads(count)) schedule(static)
  for (int64_t i = 0; i < count; i++) {
    float value = load_as_f32(src, src_dtype, i);
    switch (dst_dtype) {
      case LUKV_F16: ((uint16_t*)dst)[i] = lukv_f32_to_f16(value); break;
      case LUKV_BF16: ((uint16_t*)dst)[i] = lukv_f32_to_bf16(value); break;
      default: ((float*)dst)[i] = value;
    }
  }
  return LUKV_OK;
}
