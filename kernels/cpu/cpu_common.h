/* cpu_common.h: helpers shared by the CPU kernels (thread-count heuristics, the row softmax). */
#ifndef LUKV_CPU_COMMON_H
#define LUKV_CPU_COMMON_H

#include "lukv_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Work (multiply-adds, or floats moved) worth one more thread: about 100 microseconds
 * on one core. Below it a parallel region costs more than it saves: waking a sleeping
 * thread (lukv's OpenMP threads wait passively, see src/backend/library.ts) takes tens
 * of microseconds, and far longer when another process holds that thread's core. A
 * decode step of a small model is hundreds of such small ops. */
#define LUKV_PARALLEL_MIN_WORK ((int64_t)1 << 20)

/* Threads for an op of `work` units: one per LUKV_PARALLEL_MIN_WORK, at most OpenMP's
 * limit (the CPUs this process may use, or OMP_NUM_THREADS) and the CPUs other processes
 * leave free (threads.c). For num_threads(). */
int lukv_threads(int64_t work);

/* out [n] = softmax(in [n]) in f32 with an f64 sum; out may equal in (softmax.c). */
void lukv_softmax_row(float* out, const float* in, int64_t n);

#endif /* LUKV_CPU_COMMON_H */
