/* lukv.h: the C ABI that every lukv compute library exports (single source of truth).
 *
 * Two shared libraries implement it with identical symbols: liblukv_cpu (C, OpenMP)
 * and liblukv_cuda (CUDA). The TypeScript symbol table in src/backend/symbols.ts
 * mirrors this file line by line, and tests/backend/header_test.ts fails on any
 * mismatch of name, arity or type width.
 *
 * Conventions
 * - Every function returns an int status (LUKV_OK = 0) and writes results through
 *   out-parameters; lukv_abi_version and lukv_last_error are the only exceptions.
 *   On failure, lukv_last_error() returns the calling thread's message.
 * - The library never exits, aborts or prints. It checks null pointers, sizes,
 *   dtypes and that every device array lies inside one live lukv allocation large
 *   enough for its shape, and returns an error instead of touching bad memory.
 * - Unmarked pointers are device memory obtained from lukv_alloc (or an interior
 *   pointer into such an allocation). Parameters marked LUKV_HOST are ordinary host
 *   memory owned by the caller.
 * - Outputs come first, then inputs, then sizes, then the stream (llm.c order). The
 *   stream is a cudaStream_t on CUDA (NULL = default stream); the CPU library runs
 *   synchronously and ignores it.
 * - Shapes are written [a, b, c] in row-major order; sizes are int64_t element counts.
 * - Matrices and activations are f32; weights may be f16/bf16 where stated.
 */
#ifndef LUKV_H
#define LUKV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define LUKV_API __declspec(dllexport)
#else
#define LUKV_API __attribute__((visibility("default")))
#endif

/* Marks a parameter that points to host memory (a Deno "buffer"). */
#define LUKV_HOST

/* Bumped on every change of a signature or of the meaning of an argument. */
#define LUKV_ABI_VERSION 6

/* Status codes. */
#define LUKV_OK 0
#define LUKV_ERR_INVALID_ARGUMENT 1 /* null pointer, zero or negative size, bad value */
#define LUKV_ERR_SHAPE 2            /* a shape does not fit its buffer or another argument */
#define LUKV_ERR_DTYPE 3            /* unknown dtype code, or a dtype the op does not take */
#define LUKV_ERR_OUT_OF_MEMORY 4    /* the allocator refused */
#define LUKV_ERR_NOT_ALLOCATED 5    /* pointer is not inside a live lukv allocation (freed?) */
#define LUKV_ERR_UNSUPPORTED 6      /* valid request this library cannot serve */
#define LUKV_ERR_DEVICE 7           /* the device or its runtime failed (CUDA error) */
#define LUKV_ERR_IO 8               /* a file cannot be opened, read or mapped */

/* Element types. */
#define LUKV_F32 0
#define LUKV_F16 1
#define LUKV_BF16 2
#define LUKV_I32 3

/* ---- Library --------------------------------------------------------------------- */

/* Returns LUKV_ABI_VERSION as compiled into the library. */
LUKV_API int lukv_abi_version(void);

/* Returns the calling thread's last error message ("" when none). The string stays
 * valid until the next failing call on the same thread. */
LUKV_API const char* lukv_last_error(void);

/* out_count [1]: number of usable devices (CPU: 1; CUDA: visible GPUs, 0 is an
 * error that says why, e.g. no driver). */
LUKV_API int lukv_device_count(LUKV_HOST int32_t* out_count);

/* out [capacity]: NUL-terminated device name, e.g. "cpu (x86_64, 2 threads)". */
LUKV_API int lukv_device_name(LUKV_HOST char* out, int64_t capacity);

/* Waits until all work queued on the stream has finished. */
LUKV_API int lukv_synchronize(void* stream);

/* ---- Memory ---------------------------------------------------------------------- */

/* out_bytes [1]: bytes currently allocated through lukv_alloc on this device. */
LUKV_API int lukv_live_bytes(LUKV_HOST int64_t* out_bytes);

/* out [4] = { bytes live through lukv_alloc, the most that were live at once since the
 * library was loaded or the peak was last reset, the device's free bytes, its total
 * bytes }. On CUDA the last two come from the driver (cudaMemGetInfo: every allocation on
 * the device counts, stream-ordered scratch, cuBLAS workspaces and other processes
 * included); the CPU library reports the machine's available and physical memory (-1
 * where the system does not say). reset_peak != 0 restarts the peak at the live bytes
 * once out is written, so a caller can measure the high-water mark of one phase. */
LUKV_API int lukv_memory_info(LUKV_HOST int64_t* out, int32_t reset_peak);

/* out_ptr [1]: a new allocation of `bytes` (> 0) bytes, 64-byte aligned, uninitialised. */
LUKV_API int lukv_alloc(int64_t bytes, LUKV_HOST void** out_ptr);

/* out_ptr [1]: bytes [offset, offset + bytes) of the file at `path` (NUL-terminated), mapped
 * copy-on-write: reads come from the page cache without a copy, and a write changes only
 * this process's page. The pages are populated before return. The CPU library only (the
 * CUDA one answers LUKV_ERR_UNSUPPORTED). A missing file, or a range past its end, is
 * LUKV_ERR_IO. Free it with lukv_free. Truncating the file while it is mapped is undefined
 * (the kernel signals a read past the new end), as with every mmap. */
LUKV_API int lukv_map_file(LUKV_HOST const char* path, int64_t offset, int64_t bytes,
                           LUKV_HOST void** out_ptr);

/* Frees an allocation made by lukv_alloc or lukv_map_file. Freeing anything else (an
 * interior pointer, an already freed pointer) is LUKV_ERR_NOT_ALLOCATED. */
LUKV_API int lukv_free(void* ptr);

/* dst [bytes] device <- src [bytes] host. Returns once src may be reused. */
LUKV_API int lukv_copy_to_device(void* dst, LUKV_HOST const void* src, int64_t bytes, void* stream);

/* dst [bytes] host <- src [bytes] device. Returns once the data is in dst. */
LUKV_API int lukv_copy_to_host(LUKV_HOST void* dst, const void* src, int64_t bytes, void* stream);

/* dst [bytes] device <- src [bytes] device. The ranges must not overlap. */
LUKV_API int lukv_copy_device(void* dst, const void* src, int64_t bytes, void* stream);

/* dst [count] of `dtype` <- value (rounded to the dtype; i32 truncates toward zero). */
LUKV_API int lukv_fill(void* dst, int32_t dtype, int64_t count, double value, void* stream);

/* dst [count] of dst_dtype <- src [count] of src_dtype, for f32/f16/bf16 (round to
 * nearest even). */
LUKV_API int lukv_convert(void* dst, int32_t dst_dtype, const void* src, int32_t src_dtype,
                          int64_t count, void* stream);

/* dst [count] of `dtype` (f32, f16 or bf16) <- pseudo-random values uniform in
 * [-scale, scale), bit-for-bit the same on every library for the same seed. Element i is
 * a counter-based hash of (seed, i), the i-th output of SplitMix64 seeded with `seed`:
 *   z = seed + (i + 1) * 0x9E3779B97F4A7C15 (mod 2^64);
 *   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *   z = z ^ (z >> 31);
 * its top 24 bits u = z >> 40 give the f32 (u - 2^23) * (scale * 2^-23) (one rounding),
 * which f16 and bf16 round to nearest even (so they may reach +scale). i counts from dst:
 * a pointer into a larger buffer starts again at i = 0. scale is finite and >= 0. */
LUKV_API int lukv_fill_random(void* dst, int32_t dtype, int64_t count, uint64_t seed, float scale,
                              void* stream);

/* ---- Ops of a Llama-family forward ------------------------------------------------ */

/* y [m, n] = x [m, k] . w [n, k]^T (+ bias [n]); bias may be NULL.
 * w is f32, f16 or bf16 on every library (16-bit weights are widened in registers,
 * accumulation in f32). y must not overlap x. */
LUKV_API int lukv_matmul(float* y, const float* x, const void* w, int32_t w_dtype,
                         const float* bias, int64_t m, int64_t n, int64_t k, void* stream);

/* y [rows, dim] = x / sqrt(mean(x^2) + eps) * weight [dim], per row. y may equal x. */
LUKV_API int lukv_rmsnorm(float* y, const float* x, const float* weight, int64_t rows,
                          int64_t dim, float eps, void* stream);

/* In place on x [rows, heads, head_dim], rotate-half layout: for i < head_dim / 2,
 * (x_i, x_{i+half}) <- (x_i c - x_{i+half} s, x_{i+half} c + x_i s) with
 * c = cos [p, i], s = sin [p, i] from tables [table_len, head_dim / 2], where row r
 * sits at position p = pos0 + r < table_len. head_dim must be even. */
LUKV_API int lukv_rope(float* x, const float* cos, const float* sin, int64_t rows, int64_t heads,
                       int64_t head_dim, int64_t pos0, int64_t table_len, void* stream);

/* out [count] = silu(gate [count]) * up [count], silu(g) = g / (1 + exp(-g)). */
LUKV_API int lukv_silu_mul(float* out, const float* gate, const float* up, int64_t count,
                           void* stream);

/* out [count] = a [count] + b [count] (residual add). out may equal a or b. */
LUKV_API int lukv_add(float* out, const float* a, const float* b, int64_t count, void* stream);

/* out [count, dim] = table [vocab, dim] rows ids [count] (host), converted to f32.
 * table is f32, f16 or bf16. Every id must be in [0, vocab). */
LUKV_API int lukv_embedding(float* out, const void* table, int32_t table_dtype,
                            LUKV_HOST const int32_t* ids, int64_t count, int64_t vocab,
                            int64_t dim, void* stream);

/* y [rows, cols] = softmax of each row of x [rows, cols]. y may equal x. */
LUKV_API int lukv_softmax(float* y, const float* x, int64_t rows, int64_t cols, void* stream);

/* Dense KV cache write: cache [heads, capacity, head_dim] rows pos0 .. pos0 + tokens - 1
 * <- src [tokens, heads, head_dim] (the layout a K or V projection produces). */
LUKV_API int lukv_kv_write(float* cache, const float* src, int64_t tokens, int64_t heads,
                           int64_t head_dim, int64_t pos0, int64_t capacity, void* stream);

/* Causal attention of a block of new queries over a dense cache, with GQA.
 * q [tokens, q_heads, head_dim]; k, v [kv_heads, capacity, head_dim] of which the
 * first kv_len rows are valid and already hold the new tokens; out [tokens, q_heads,
 * head_dim]. Query t sits at position kv_len - tokens + t and sees keys 0 .. that
 * position. Query head h reads KV head h / (q_heads / kv_heads). Softmax of
 * scale * q.k in f32. */
LUKV_API int lukv_attention_prefill(float* out, const float* q, const float* k, const float* v,
                                    int64_t tokens, int64_t kv_len, int64_t capacity,
                                    int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                    float scale, void* stream);

/* Attention of one new query over the first kv_len rows of a dense cache, with GQA.
 * q [q_heads, head_dim]; k, v [kv_heads, capacity, head_dim]; out [q_heads, head_dim].
 * Equal to lukv_attention_prefill with tokens = 1, but split over the sequence so a
 * long context uses the whole device. */
LUKV_API int lukv_attention_decode(float* out, const float* q, const float* k, const float* v,
                                   int64_t kv_len, int64_t capacity, int64_t q_heads,
                                   int64_t kv_heads, int64_t head_dim, float scale, void* stream);

/* out [rows] (host) = index of the largest value of each row of x [rows, cols]; ties
 * go to the lowest index. A NaN in x is LUKV_ERR_INVALID_ARGUMENT. */
LUKV_API int lukv_argmax(LUKV_HOST int32_t* out, const float* x, int64_t rows, int64_t cols,
                         void* stream);

/* ---- Ragged KV cache and eviction scores ------------------------------------------
 * After compression each KV head keeps its own number of rows. A layer's K (or V) is
 * then one flat buffer [rows, head_dim] in which head h owns the span of rows
 * offset[h] .. offset[h] + capacity[h] - 1, the first length[h] of them valid. Spans
 * are laid out in head order and never overlap: offset[h] + capacity[h] <=
 * offset[h + 1]. The per-head arrays are host int32 arrays (LUKV_HOST), validated in
 * full before any row is touched. */

/* Compaction of a dense layer cache into a ragged layer buffer.
 * src [heads, capacity, head_dim]; dst [dst_rows, head_dim]; index_offsets [heads + 1]
 * starts at 0 and never decreases; indices [index_offsets[heads]]; dst_offsets [heads].
 * For head h, the kept source rows indices[index_offsets[h] .. index_offsets[h + 1] - 1]
 * (strictly ascending, each in [0, capacity)) go, in that order, to dst rows
 * dst_offsets[h], dst_offsets[h] + 1, ... A head may keep no row. Destination spans
 * must not overlap: dst_offsets[h] + count_h <= dst_offsets[h + 1] for h < heads - 1,
 * and <= dst_rows for the last head. src and dst are separate allocations. */
LUKV_API int lukv_kv_gather(float* dst, const float* src, LUKV_HOST const int32_t* indices,
                            LUKV_HOST const int32_t* index_offsets,
                            LUKV_HOST const int32_t* dst_offsets, int64_t heads, int64_t capacity,
                            int64_t head_dim, int64_t dst_rows, void* stream);

/* Appends one row per head to a ragged layer buffer: dst [dst_rows, head_dim] row
 * offsets[h] + lengths[h] <- src [heads, head_dim] row h. offsets, lengths, capacities
 * [heads] describe the spans (head order, no overlap, inside dst_rows). A full head
 * (lengths[h] >= capacities[h]) is refused: the caller grows or evicts first, and bumps
 * lengths after the call. src and dst must not overlap. */
LUKV_API int lukv_kv_append(float* dst, const float* src, LUKV_HOST const int32_t* offsets,
                            LUKV_HOST const int32_t* lengths, LUKV_HOST const int32_t* capacities,
                            int64_t heads, int64_t head_dim, int64_t dst_rows, void* stream);

/* Decode attention of one query per query head over a ragged layer, with GQA.
 * q [q_heads, head_dim]; k, v [rows, head_dim]; out [q_heads, head_dim]; offsets,
 * lengths [kv_heads]. KV head h's keys and values are rows offsets[h] ..
 * offsets[h] + lengths[h] - 1 (lengths[h] >= 1, inside rows); query head i reads KV head
 * i / (q_heads / kv_heads). Softmax of scale * q.k in f32. Equal to
 * lukv_attention_decode over a dense cache holding only each head's kept rows. */
LUKV_API int lukv_attention_decode_ragged(float* out, const float* q, const float* k,
                                          const float* v, LUKV_HOST const int32_t* offsets,
                                          LUKV_HOST const int32_t* lengths, int64_t rows,
                                          int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                          float scale, void* stream);

/* Attention probabilities of a block of queries, summed per key (SnapKV, H2O scores).
 * q [tokens, q_heads, head_dim]; k [kv_heads, capacity, head_dim] of which the first
 * kv_len rows are valid; out [kv_heads, kv_len] is ACCUMULATED into (zero it first).
 * Query t sits at position q_pos0 + t (q_pos0 + tokens <= kv_len) and sees keys 0 ..
 * q_pos0 + t; its probabilities softmax(scale * q.k) over exactly those keys are added
 * to out[h, j] for its KV head h, summed over the block's queries and the GQA group of
 * h. Keys no query of the block sees are left as they are. out must not overlap q or k. */
LUKV_API int lukv_attention_scores(float* out, const float* q, const float* k, int64_t tokens,
                                   int64_t q_pos0, int64_t kv_len, int64_t capacity,
                                   int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                   float scale, void* stream);

/* LU-KV oracle utility of one decode step (DESIGN.md 7.1), folded into a running max.
 * q [q_heads, head_dim] is the step's query; k [kv_heads, capacity, head_dim] of which
 * the first kv_len rows are valid (context, question and the tokens decoded so far, this
 * step's own key included); weights [q_heads, ctx_len] the value-output norms of each
 * (query head, context token); out [kv_heads, ctx_len], ctx_len <= kv_len. Query head i
 * gets p_i = softmax(scale * q_i.k) over all kv_len keys; then for each context token
 * j < ctx_len, out[h, j] = max(out[h, j], max over the GQA group of KV head h of
 * p_i[j] * weights[i, j]). out is a RUNNING MAX: the caller zeroes it once and calls
 * once per decoded step. Keys ctx_len .. kv_len - 1 count in the normaliser but are not
 * recorded. out must not overlap q, k or weights. */
LUKV_API int lukv_attention_oracle(float* out, const float* q, const float* k,
                                   const float* weights, int64_t kv_len, int64_t ctx_len,
                                   int64_t capacity, int64_t q_heads, int64_t kv_heads,
                                   int64_t head_dim, float scale, void* stream);

/* ---- Scoring statistics -------------------------------------------------------------
 * Statistics that KV-cache token scorers read at the end of prefill, computed where the
 * keys and values live. The ragged ops use lukv_attention_decode_ragged's layout: k and v
 * are [rows, head_dim] and KV head h owns rows offsets[h] .. offsets[h] + lengths[h] - 1
 * (lengths[h] >= 1; spans in head order, disjoint, inside rows); a dense cache
 * [kv_heads, capacity, head_dim] is the case offsets[h] = h * capacity. out [rows] gets one
 * score per owned row; rows no head owns are left untouched. */

/* Moments of pre-RoPE queries, ACCUMULATED over calls (zero sum and outer once, then call
 * once per block of rows). q [rows, heads, head_dim]; shift [heads, head_dim]; sum
 * [heads, head_dim]; outer [heads, head_dim, head_dim]. With x = q[r, h, :] - shift[h, :]
 * for every row r and head h: sum[h, a] += x_a and outer[h, a, b] += x_a * x_b. The
 * shift (e.g. the first block's mean) keeps the covariance E[xx^T] - E[x]E[x]^T well
 * conditioned in f32. Each call sums its rows in double before adding into the f32
 * outputs, in a fixed order (deterministic). sum and outer must not overlap each other,
 * q or shift. */
LUKV_API int lukv_query_moments(float* sum, float* outer, const float* q, const float* shift,
                                int64_t rows, int64_t heads, int64_t head_dim, void* stream);

/* Expected Attention scores (Devoto et al. 2025; kvpress ExpectedAttentionPress) over a
 * ragged layer. k, v [rows, head_dim]; offsets, lengths [kv_heads] (host); mean
 * [q_heads, head_dim] and cov [q_heads, head_dim, head_dim] are the Gaussian statistics
 * of future queries, already rotated by RoPE; out [rows]. For query head i of KV head
 * h = i / (q_heads / kv_heads) and each row j of h:
 *   logit_ij = k_j . mean_i / sqrt(d) + k_j^T cov_i k_j / (2 d),
 * p_i = softmax over h's rows of logit_i (f32, max-subtracted), and
 *   out[j] = (mean over h's query heads i of p_ij + epsilon) * ||v_j||_2.
 * epsilon is finite and >= 0. out must not overlap k, v, mean or cov. */
LUKV_API int lukv_expected_attention_scores(float* out, const float* k, const float* v,
                                            LUKV_HOST const int32_t* offsets,
                                            LUKV_HOST const int32_t* lengths, int64_t rows,
                                            const float* mean, const float* cov, int64_t q_heads,
                                            int64_t kv_heads, int64_t head_dim, float epsilon,
                                            void* stream);

/* Key-only scores over a ragged layer. k [rows, head_dim]; offsets, lengths [kv_heads]
 * (host); out [rows]. mode LUKV_KEY_SCORE_KNORM: out[j] = -||k_j||. mode
 * LUKV_KEY_SCORE_KEYDIFF: out[j] = -cos(k_j / ||k_j||, m_h), m_h the mean over h's rows of
 * the normalised keys (a zero-norm key counts as norm 1; a zero m_h gives 0). Any other
 * mode is LUKV_ERR_INVALID_ARGUMENT. out must not overlap k. */
#define LUKV_KEY_SCORE_KNORM 0
#define LUKV_KEY_SCORE_KEYDIFF 1
LUKV_API int lukv_key_scores(float* out, const float* k, LUKV_HOST const int32_t* offsets,
                             LUKV_HOST const int32_t* lengths, int64_t rows, int64_t kv_heads,
                             int64_t head_dim, int32_t mode, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* LUKV_H */
