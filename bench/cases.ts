/** The benchmark cases of bench/ops.bench.ts, with the work each does, so reports can turn times into GFLOP/s and GB/s. */

/** A matmul y [m, n] = x [m, k] . w [n, k]^T at a shape a 1B-class Llama runs. */
export interface MatmulCase {
  label: string;
  m: number;
  n: number;
  k: number;
}

/** Shapes of a Llama-3.2-1B-like layer (hidden 2048, MLP 8192): decode (m = 1) and a prefill chunk. */
export const MATMUL_CASES: readonly MatmulCase[] = [
  { label: "decode q/o proj", m: 1, n: 2048, k: 2048 },
  { label: "decode mlp up", m: 1, n: 8192, k: 2048 },
  { label: "decode mlp down", m: 1, n: 2048, k: 8192 },
  { label: "prefill 64 q/o proj", m: 64, n: 2048, k: 2048 },
];

/** Decode attention of one token: 32 query heads over 8 KV heads of dimension 64. */
export interface AttentionCase {
  kvLen: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
}

/** Contexts from 1K to 32K tokens. */
export const ATTENTION_CASES: readonly AttentionCase[] = [1024, 4096, 16384, 32768].map((kvLen) => ({
  kvLen,
  qHeads: 32,
  kvHeads: 8,
  headDim: 64,
}));

/** Floating-point operations of a matmul. */
export function matmulFlops({ m, n, k }: MatmulCase): number {
  return 2 * m * n * k;
}

/** Bytes a decode attention must read: the whole K and V caches, in f32. */
export function attentionBytes({ kvLen, kvHeads, headDim }: AttentionCase): number {
  return 2 * 4 * kvLen * kvHeads * headDim;
}

/** The bench name of each case; report.ts parses these back. */
export function matmulName(c: MatmulCase, impl: string): string {
  return `matmul ${c.m}x${c.n}x${c.k} ${impl}`;
}

/** The bench name of an attention case. */
export function attentionName(c: AttentionCase, impl: string): string {
  return `decode attention ${c.kvLen} ${impl}`;
}

/**
 * Decode attention over a compressed cache (bench/cache.bench.ts): every KV head keeps
 * `keptFraction` of `context` tokens in the ragged layout, against dense attention over
 * all of them.
 */
export interface CacheCase {
  context: number;
  headDim: number;
  qHeads: number;
  kvHeads: number;
  keptFraction: number;
}

/** Contexts 4K, 16K and 64K at head_dim 64 and 128; 32 query heads over 8 KV heads (GQA 4), 20% kept. */
export const CACHE_CASES: readonly CacheCase[] = [4096, 16384, 65536].flatMap((context) =>
  [64, 128].map((headDim) => ({ context, headDim, qHeads: 32, kvHeads: 8, keptFraction: 0.2 }))
);

/** Rows each KV head keeps. */
export function keptRows({ context, keptFraction }: CacheCase): number {
  return Math.round(keptFraction * context);
}

/** Bytes dense decode attention reads: all of K and V, in f32. */
export function denseReadBytes({ context, kvHeads, headDim }: CacheCase): number {
  return 2 * 4 * context * kvHeads * headDim;
}

/** Bytes ragged decode attention reads: the kept rows of K and V, in f32. */
export function raggedReadBytes(c: CacheCase): number {
  return 2 * 4 * keptRows(c) * c.kvHeads * c.headDim;
}

/** The bench group of a cache case; report.ts parses names back with {@linkcode cacheName}. */
export function cacheGroup(c: CacheCase): string {
  return `decode attention ${c.context} tokens, d ${c.headDim}`;
}

/** The bench name of a cache case. */
export function cacheName(c: CacheCase, impl: string): string {
  return `cache ${c.context} d${c.headDim} ${impl}`;
}

/** Rows a ragged head holds beyond its kept ones: room for decode appends, as a real cache has. */
export const RAGGED_RESERVE = 64;

/** The ragged cache layout of {@linkcode spreadKeptLayout}: kv_gather's and attention's arguments. */
export interface RaggedLayout {
  /** Kept source rows per head, concatenated: `[kvHeads * kept]`. */
  indices: Int32Array;
  /** Start of each head's indices: `[kvHeads + 1]`. */
  indexOffsets: Int32Array;
  /** First storage row of each head: `[kvHeads]`. */
  offsets: Int32Array;
  /** Rows each head holds: `[kvHeads]`. */
  lengths: Int32Array;
  /** Storage rows in all, reserve included. */
  rows: number;
}

/**
 * Every head keeps an evenly spread `kept` of its `context` rows (a different phase per
 * head), stored head after head with {@linkcode RAGGED_RESERVE} free rows each.
 *
 * @example
 * ```ts
 * const { indices, indexOffsets, offsets, lengths, rows } = spreadKeptLayout(8, 32768, 6554);
 * ```
 */
export function spreadKeptLayout(kvHeads: number, context: number, kept: number): RaggedLayout {
  return {
    indices: Int32Array.from(
      { length: kvHeads * kept },
      (_, i) => Math.floor(((i % kept) * context + Math.floor(i / kept) * 7) / kept),
    ),
    indexOffsets: Int32Array.from({ length: kvHeads + 1 }, (_, h) => h * kept),
    offsets: Int32Array.from({ length: kvHeads }, (_, h) => h * (kept + RAGGED_RESERVE)),
    lengths: new Int32Array(kvHeads).fill(kept),
    rows: kvHeads * (kept + RAGGED_RESERVE),
  };
}
