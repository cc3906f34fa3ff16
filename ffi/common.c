/* common.c: error messages, the allocation registry and argument checks shared by
 * every lukv library. Plain C so that nvcc hands it to the host compiler unchanged. */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lukv_internal.h"

/* ---- Errors ------------------------------------------------------------------------ */

static _Thread_local char last_error[1024];

LUKV_API int lukv_abi_version(void) { return LUKV_ABI_VERSION; }

LUKV_API const char* lukv_last_error(void) { return last_error; }

int lukv_fail(int code, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, args);
  va_end(args);
  return code;
}

/* ---- Allocation registry -----------------------------------------------------------
 * A sorted array of (base, bytes): a model holds hundreds to a few thousand live
 * allocations, so binary search plus memmove on insert is simpler than a tree and
 * fast enough (it runs once per op argument, next to kernels that take microseconds). */

typedef struct {
  uintptr_t base;
  int64_t bytes;
  int64_t shift; /* a file mapping's offset into its first page; -1 for ordinary memory */
} Allocation;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static Allocation* entries;
static int64_t entry_count;
static int64_t entry_capacity;
static int64_t live_bytes;
static int64_t peak_bytes;

/* Index of the first entry whose base is > address. Caller holds the lock. */
static int64_t upper_bound(uintptr_t address) {
  int64_t lo = 0, hi = entry_count;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (entries[mid].base <= address) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int lukv_registry_insert(void* base, int64_t bytes) {
  return lukv_registry_insert_mapped(base, bytes, -1);
}

int lukv_registry_insert_mapped(void* base, int64_t bytes, int64_t shift) {
  pthread_mutex_lock(&registry_lock);
  if (entry_count == entry_capacity) {
    int64_t capacity = entry_capacity ? entry_capacity * 2 : 256;
    Allocation* grown = (Allocation*)realloc(entries, (size_t)capacity * sizeof(Allocation));
    if (!grown) {
      pthread_mutex_unlock(&registry_lock);
      return lukv_fail(LUKV_ERR_OUT_OF_MEMORY, "lukv_alloc: cannot grow the allocation registry");
    }
    entries = grown;
    entry_capacity = capacity;
  }
  int64_t at = upper_bound((uintptr_t)base);
  memmove(entries + at + 1, entries + at, (size_t)(entry_count - at) * sizeof(Allocation));
  entries[at].base = (uintptr_t)base;
  entries[at].bytes = bytes;
  entries[at].shift = shift;
  entry_count++;
  live_bytes += bytes;
  if (live_bytes > peak_bytes) peak_bytes = live_bytes;
  pthread_mutex_unlock(&registry_lock);
  return LUKV_OK;
}

int lukv_registry_remove(const char* op, void* base, int64_t* bytes, int64_t* shift) {
  if (!base) return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: pointer is NULL", op);
  pthread_mutex_lock(&registry_lock);
  int64_t at = upper_bound((uintptr_t)base) - 1;
  if (at < 0 || entries[at].base != (uintptr_t)base) {
    pthread_mutex_unlock(&registry_lock);
    return lukv_fail(LUKV_ERR_NOT_ALLOCATED,
                     "%s: %p is not the start of a live lukv allocation (already freed?)", op,
                     base);
  }
  *bytes = entries[at].bytes;
  if (shift) *shift = entries[at].shift;
  live_bytes -= entries[at].bytes;
  memmove(entries + at, entries + at + 1, (size_t)(entry_count - at - 1) * sizeof(Allocation));
  entry_count--;
  pthread_mutex_unlock(&registry_lock);
  return LUKV_OK;
}

int64_t lukv_registry_live_bytes(void) {
  pthread_mutex_lock(&registry_lock);
  int64_t bytes = live_bytes;
  pthread_mutex_unlock(&registry_lock);
  return bytes;
}

void lukv_registry_usage(int64_t* live, int64_t* peak, int reset) {
  pthread_mutex_lock(&registry_lock);
  *live = live_bytes;
  *peak = peak_bytes;
  if (reset) peak_bytes = live_bytes;
  pthread_mutex_unlock(&registry_lock);
}

LUKV_API int lukv_live_bytes(LUKV_HOST int64_t* out_bytes) {
  LUKV_TRY(lukv_check_host("lukv_live_bytes", "out_bytes", out_bytes));
  *out_bytes = lukv_registry_live_bytes();
  return LUKV_OK;
}

/* ---- Checks ------------------------------------------------------------------------ */

int64_t lukv_mul2(int64_t a, int64_t b) {
  int64_t product;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &product)) return INT64_MAX;
  return product;
}

int64_t lukv_mul3(int64_t a, int64_t b, int64_t c) { return lukv_mul2(lukv_mul2(a, b), c); }

int lukv_check_positive(const char* op, const char* name, int64_t value) {
  if (value <= 0) {
    return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: %s must be > 0, got %lld", op, name,
                     (long long)value);
  }
  return LUKV_OK;
}

int lukv_check_host(const char* op, const char* name, const void* ptr) {
  if (!ptr) return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
  return LUKV_OK;
}

int lukv_check_span(const char* op, const char* name, const void* ptr, int64_t count,
                    int64_t elem_size) {
  if (!ptr) return lukv_fail(LUKV_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
  int64_t bytes = lukv_mul2(count, elem_size);
  uintptr_t address = (uintptr_t)ptr;
  pthread_mutex_lock(&registry_lock);
  int64_t at = upper_bound(address) - 1;
  int inside = at >= 0 && address - entries[at].base < (uintptr_t)entries[at].bytes;
  int64_t room = inside ? entries[at].bytes - (int64_t)(address - entries[at].base) : 0;
  pthread_mutex_unlock(&registry_lock);
  if (!inside) {
    return lukv_fail(LUKV_ERR_NOT_ALLOCATED,
                     "%s: %s (%p) is not inside a live lukv allocation (freed or foreign memory)",
                     op, name, ptr);
  }
  if (bytes > room) {
    return lukv_fail(LUKV_ERR_SHAPE,
                     "%s: %s needs %lld elements (%lld bytes) but its buffer holds %lld bytes "
                     "from that address",
                     op, name, (long long)count, (long long)bytes, (long long)room);
  }
  return LUKV_OK;
}

int64_t lukv_dtype_size(int32_t dtype) {
  switch (dtype) {
    case LUKV_F32: return 4;
    case LUKV_F16: return 2;
    case LUKV_BF16: return 2;
    case LUKV_I32: return 4;
    default: return 0;
  }
}

const char* lukv_dtype_name(int32_t dtype) {
  switch (dtype) {
    case LUKV_F32: return "f32";
    case LUKV_F16: return "f16";
    case LUKV_BF16: return "bf16";
    case LUKV_I32: return "i32";
    default: return "unknown";
  }
}

int lukv_check_dtype(const char* op, const char* name, int32_t dtype, unsigned allowed) {
  if (lukv_dtype_size(dtype) == 0) {
    return lukv_fail(LUKV_ERR_DTYPE, "%s: %s has unknown dtype code %d", op, name, dtype);
  }
  if (!(allowed & (1u << dtype))) {
    return lukv_fail(LUKV_ERR_DTYPE, "%s: %s of dtype %s is not supported by this library", op,
                     name, lukv_dtype_name(dtype));
  }
  return LUKV_OK;
}
