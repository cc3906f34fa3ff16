/* cpu_common.h: helpers shared by the CPU kernels (thread-count heuristics). */
#ifndef LUKV_CPU_COMMON_H
#define LUKV_CPU_COMMON_H

#include "lukv_internal.h"

/* Below this many floating-point operations a parallel region costs more than it
 * saves, so loops run on the calling thread. */
#define LUKV_PARALLEL_MIN_WORK 32768

#endif /* LUKV_CPU_COMMON_H */
