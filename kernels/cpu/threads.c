/* threads.c: how many threads an op gets: one per LUKV_PARALLEL_MIN_WORK of its work, at
 * most OpenMP's limit, and no more than the CPUs other processes leave free. A thread
 * that shares its core with a busy process runs at a fraction of its speed, and every
 * parallel region waits for its slowest thread, so on a 2-core machine with one core
 * taken two threads decode no faster than one (bench/busy_decode.ts). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cpu_common.h"

/* How often the free CPUs are measured again: long enough for /proc/stat's 10 ms ticks
 * to add up (about 2.5% error per CPU), short enough to follow a job that starts. */
#define CHECK_NS 250000000LL

static _Atomic int64_t next_check_ns;
static _Atomic int free_cpus; /* 0 until measured: no limit */
/* Guards the last readings; a caller that finds it taken keeps the current estimate. */
static pthread_mutex_t measuring = PTHREAD_MUTEX_INITIALIZER;
static long long last_busy_ticks, last_total_ticks;
static double last_own_seconds;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* CPU time of this process (every thread), in seconds. */
static double own_seconds(void) {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

/* The machine's busy and total CPU ticks (all CPUs) from /proc/stat, and how many threads
 * are runnable right now (its procs_running line, this one included; -1 where missing);
 * 0 where the file is missing. Steal time counts as busy: the hypervisor gave that CPU to
 * someone else. */
static int read_ticks(long long* busy, long long* total, int* running) {
  FILE* file = fopen("/proc/stat", "r");
  if (!file) return 0;
  long long user, nice, system, idle, iowait, irq, softirq, steal;
  int fields = fscanf(file, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &user, &nice, &system,
                      &idle, &iowait, &irq, &softirq, &steal);
  char line[256];
  *running = -1;
  while (fields == 8 && fgets(line, sizeof line, file)) {
    if (sscanf(line, "procs_running %d", running) == 1) break;
  }
  fclose(file);
  if (fields != 8) return 0;
  *busy = user + nice + system + irq + softirq + steal;
  *total = *busy + idle + iowait;
  return 1;
}

static void set_free(int cpus, int free) { free_cpus = free < 1 ? 1 : free > cpus ? cpus : free; }

/* CPUs not used by other processes over the last interval: the machine's busy time
 * minus this process's own, in CPUs' worth, taken from the CPU count. A third of a CPU
 * counts as a whole one: while our threads spin, a competitor gets only part of its core,
 * and rounding its share down would keep us spinning against it. The first call has no
 * interval yet and counts the threads runnable now besides the caller, so a short run
 * (a few hundred milliseconds) is not left uncapped. */
static void measure(int cpus) {
  long long busy, total;
  int running;
  double own = own_seconds();
  if (!read_ticks(&busy, &total, &running)) return;
  long long d_busy = busy - last_busy_ticks, d_total = total - last_total_ticks;
  double d_own = own - last_own_seconds;
  int first = last_total_ticks == 0;
  last_busy_ticks = busy, last_total_ticks = total, last_own_seconds = own;
  if (first) {
    if (running > 0) set_free(cpus, cpus - (running - 1));
    return;
  }
  if (d_total <= 0) return;
  double ticks_per_second = (double)sysconf(_SC_CLK_TCK);
  double wall = (double)d_total / ticks_per_second / cpus;
  double others = ((double)d_busy / ticks_per_second - d_own) / wall;
  set_free(cpus, cpus - (int)(others + 0.67));
}

/* LUKV_LOAD_AWARE_THREADS=0 turns the free-CPU cap off (a dedicated machine, or one whose
 * /proc/stat counts CPUs this process cannot use). Read once; a race reads it twice. */
static int load_aware(void) {
  static _Atomic int cached = -1;
  if (cached < 0) {
    const char* value = getenv("LUKV_LOAD_AWARE_THREADS");
    cached = !(value && strcmp(value, "0") == 0);
  }
  return cached;
}

int lukv_threads(int64_t work) {
#ifdef _OPENMP
  int64_t wanted = work / LUKV_PARALLEL_MIN_WORK;
  int limit = omp_get_max_threads();
  if (wanted < 2 || limit < 2) return 1;
  if (!load_aware()) return wanted < limit ? (int)wanted : limit;
  int64_t now = now_ns();
  if (now >= next_check_ns && pthread_mutex_trylock(&measuring) == 0) {
    next_check_ns = now + CHECK_NS;
    measure(omp_get_num_procs());
    pthread_mutex_unlock(&measuring);
  }
  int free = free_cpus;
  if (free > 0 && free < limit) limit = free;
  return wanted < limit ? (int)wanted : limit;
#else
  (void)work;
  return 1;
#endif
}
