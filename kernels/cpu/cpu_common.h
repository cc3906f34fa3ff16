/* cpu_common.h: helpers shared by the CPU kernels (thread-count heuristics, the row softmax). */
#ifndef LUKV_CPU_COMMON_H
#define LUKV_CPU_COMMON_H

#include "lukv_internal.h"

/* Below this many floating-point operations a parallel region costs more than it
 * saves, so loops run on the calling thread. */
#define LUKV_PARALLEL_MIN_WORK 32768

/* out [n] = softmax(in [n]) in f32 with an f64 sum; out may equal in (softmax.c). */
void lukv_softmax_row(float* out, const float* in, int64_t n);

#endif /* LUKV_CPU_COMMON_H */
