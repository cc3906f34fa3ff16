/** The ops of a Llama-family forward on tensors: shapes checked here, math in native code. */

import type { Device } from "./device.ts";
import { type DType, DTYPES } from "./dtype.ts";
import { LukvError, STATUS } from "./errors.ts";
import type { Tensor } from "./tensor.ts";

/** An expected extent: a number, or null for "any". */
type Extent = number | null;

/**
 * Checks every tensor lives on one open device, has an allowed dtype and the expected
 * shape, and returns that device. Shapes must be checked here: the native side sees
 * only sizes and can prove a buffer is large enough, not that [2, 6] was meant as [3, 4].
 */
function expect(
  op: string,
  specs: [name: string, tensor: Tensor, dtypes: readonly DType[], shape: readonly Extent[]][],
): Device {
  const device = specs[0][1].device;
  for (const [name, tensor, dtypes, shape] of specs) {
    tensor.pointer; // throws when closed
    if (tensor.device !== device) {
      throw new LukvError(
        op,
        STATUS.INVALID_ARGUMENT,
        `${name} is on another device (${tensor.device.kind})`,
      );
    }
    if (!dtypes.includes(tensor.dtype)) {
      throw new LukvError(op, STATUS.DTYPE, `${name} must be ${dtypes.join(" or ")}, got ${tensor.dtype}`);
    }
    const fits = tensor.shape.length === shape.length &&
      shape.every((extent, i) => extent === null || extent === tensor.shape[i]);
    if (!fits) {
      const wanted = shape.map((extent) => extent ?? "*").join(", ");
      throw new LukvError(op, STATUS.SHAPE, `${name} must have shape [${wanted}], got [${tensor.shape}]`);
    }
  }
  return device;
}

const F32: readonly DType[] = ["f32"];
const FLOATS: readonly DType[] = ["f32", "f16", "bf16"];
const i64 = BigInt;

/**
 * y [m, n] = x [m, k] . w [n, k]^T + bias [n] (bias optional). w may be f16/bf16 on CUDA.
 *
 * @example
 * ```ts
 * matmul(y, x, w); // x [T, 2048], w [8192, 2048] -> y [T, 8192]
 * ```
 */
export function matmul(y: Tensor, x: Tensor, w: Tensor, bias?: Tensor): void {
  const op = "lukv_matmul";
  const [m, k] = x.shape, n = w.shape[0];
  const dev = expect(op, [["x", x, F32, [null, null]], ["w", w, FLOATS, [null, k]], ["y", y, F32, [m, n]]]);
  if (bias) expect(op, [["y", y, F32, [m, n]], ["bias", bias, F32, [n]]]);
  const status = dev.symbols.lukv_matmul(
    y.pointer,
    x.pointer,
    w.pointer,
    DTYPES[w.dtype].code,
    bias?.pointer ?? null,
    i64(m),
    i64(n),
    i64(k),
    null,
  );
  dev.check(op, status);
}

/**
 * y [rows, dim] = RMSNorm of x [rows, dim] scaled by weight [dim]. y may be x.
 *
 * @example
 * ```ts
 * rmsnorm(h, h, normWeight, 1e-5);
 * ```
 */
export function rmsnorm(y: Tensor, x: Tensor, weight: Tensor, eps: number): void {
  const op = "lukv_rmsnorm";
  const [rows, dim] = x.shape;
  const dev = expect(op, [["x", x, F32, [null, null]], ["y", y, F32, [rows, dim]], ["weight", weight, F32, [
    dim,
  ]]]);
  dev.check(
    op,
    dev.symbols.lukv_rmsnorm(y.pointer, x.pointer, weight.pointer, i64(rows), i64(dim), eps, null),
  );
}

/**
 * Rotary embedding in place on x [rows, heads, headDim] (rotate-half layout); row r
 * takes position pos0 + r from cos, sin [tableLen, headDim / 2].
 *
 * @example
 * ```ts
 * rope(q, cos, sin, 0); // prefill from position 0
 * ```
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor, pos0: number): void {
  const op = "lukv_rope";
  const [rows, heads, headDim] = x.shape;
  const dev = expect(op, [
    ["x", x, F32, [null, null, null]],
    ["cos", cos, F32, [null, headDim / 2]],
    ["sin", sin, F32, cos.shape],
  ]);
  checkIndex(op, "pos0", pos0);
  const status = dev.symbols.lukv_rope(
    x.pointer,
    cos.pointer,
    sin.pointer,
    i64(rows),
    i64(heads),
    i64(headDim),
    i64(pos0),
    i64(cos.shape[0]),
    null,
  );
  dev.check(op, status);
}

/**
 * out = silu(gate) * up, elementwise over equal shapes (the SwiGLU MLP).
 *
 * @example
 * ```ts
 * siluMul(act, gate, up); // [T, intermediate]
 * ```
 */
export function siluMul(out: Tensor, gate: Tensor, up: Tensor): void {
  const op = "lukv_silu_mul";
  const dev = expect(op, [["gate", gate, F32, gate.shape], ["up", up, F32, gate.shape], [
    "out",
    out,
    F32,
    gate.shape,
  ]]);
  dev.check(op, dev.symbols.lukv_silu_mul(out.pointer, gate.pointer, up.pointer, i64(gate.size), null));
}

/**
 * out = a + b, elementwise over equal shapes (the residual add); out may be a or b.
 *
 * @example
 * ```ts
 * add(hidden, hidden, attnOut);
 * ```
 */
export function add(out: Tensor, a: Tensor, b: Tensor): void {
  const op = "lukv_add";
  const dev = expect(op, [["a", a, F32, a.shape], ["b", b, F32, a.shape], ["out", out, F32, a.shape]]);
  dev.check(op, dev.symbols.lukv_add(out.pointer, a.pointer, b.pointer, i64(a.size), null));
}

/**
 * out [ids.length, dim] = rows of table [vocab, dim] (f32, f16 or bf16), as f32.
 *
 * @example
 * ```ts
 * embedding(hidden, embedTokens, new Int32Array([1, 15043]));
 * ```
 */
export function embedding(out: Tensor, table: Tensor, ids: Int32Array): void {
  const op = "lukv_embedding";
  const [vocab, dim] = table.shape;
  const dev = expect(op, [["table", table, FLOATS, [null, null]], ["out", out, F32, [ids.length, dim]]]);
  const status = dev.symbols.lukv_embedding(
    out.pointer,
    table.pointer,
    DTYPES[table.dtype].code,
    ids,
    i64(ids.length),
    i64(vocab),
    i64(dim),
    null,
  );
  dev.check(op, status);
}

/**
 * y = softmax over the last axis of x [rows, cols]; y may be x.
 *
 * @example
 * ```ts
 * softmax(probs, logits);
 * ```
 */
export function softmax(y: Tensor, x: Tensor): void {
  const op = "lukv_softmax";
  const [rows, cols] = x.shape;
  const dev = expect(op, [["x", x, F32, [null, null]], ["y", y, F32, [rows, cols]]]);
  dev.check(op, dev.symbols.lukv_softmax(y.pointer, x.pointer, i64(rows), i64(cols), null));
}

/**
 * Writes src [tokens, heads, headDim] into rows pos0.. of cache [heads, capacity, headDim].
 *
 * @example
 * ```ts
 * kvWrite(kCache, k, cachedTokens);
 * ```
 */
export function kvWrite(cache: Tensor, src: Tensor, pos0: number): void {
  const op = "lukv_kv_write";
  const [tokens, heads, headDim] = src.shape;
  const dev = expect(op, [["src", src, F32, [null, null, null]], ["cache", cache, F32, [
    heads,
    null,
    headDim,
  ]]]);
  checkIndex(op, "pos0", pos0);
  const status = dev.symbols.lukv_kv_write(
    cache.pointer,
    src.pointer,
    i64(tokens),
    i64(heads),
    i64(headDim),
    i64(pos0),
    i64(cache.shape[1]),
    null,
  );
  dev.check(op, status);
}

/**
 * Causal GQA attention of q [tokens, qHeads, headDim] over the first kvLen rows of
 * k, v [kvHeads, capacity, headDim], which already include the new tokens; out has q's
 * shape. scale defaults to 1 / sqrt(headDim).
 *
 * @example
 * ```ts
 * attentionPrefill(out, q, kCache, vCache, promptLength);
 * ```
 */
export function attentionPrefill(
  out: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  kvLen: number,
  scale?: number,
): void {
  const op = "lukv_attention_prefill";
  const [tokens, qHeads, headDim] = q.shape;
  const [kvHeads, capacity] = k.shape;
  const dev = expect(op, [
    ["q", q, F32, [null, null, null]],
    ["k", k, F32, [null, null, headDim]],
    ["v", v, F32, k.shape],
    ["out", out, F32, q.shape],
  ]);
  checkIndex(op, "kvLen", kvLen);
  const status = dev.symbols.lukv_attention_prefill(
    out.pointer,
    q.pointer,
    k.pointer,
    v.pointer,
    i64(tokens),
    i64(kvLen),
    i64(capacity),
    i64(qHeads),
    i64(kvHeads),
    i64(headDim),
    scale ?? 1 / Math.sqrt(headDim),
    null,
  );
  dev.check(op, status);
}

/**
 * Attention of one query q [qHeads, headDim] over the first kvLen rows of
 * k, v [kvHeads, capacity, headDim]; out [qHeads, headDim].
 *
 * @example
 * ```ts
 * attentionDecode(out, q, kCache, vCache, cachedTokens);
 * ```
 */
export function attentionDecode(
  out: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  kvLen: number,
  scale?: number,
): void {
  const op = "lukv_attention_decode";
  const [qHeads, headDim] = q.shape;
  const [kvHeads, capacity] = k.shape;
  const dev = expect(op, [
    ["q", q, F32, [null, null]],
    ["k", k, F32, [null, null, headDim]],
    ["v", v, F32, k.shape],
    ["out", out, F32, q.shape],
  ]);
  checkIndex(op, "kvLen", kvLen);
  const status = dev.symbols.lukv_attention_decode(
    out.pointer,
    q.pointer,
    k.pointer,
    v.pointer,
    i64(kvLen),
    i64(capacity),
    i64(qHeads),
    i64(kvHeads),
    i64(headDim),
    scale ?? 1 / Math.sqrt(headDim),
    null,
  );
  dev.check(op, status);
}

/**
 * Index of the largest value of each row of x [rows, cols] (lowest index on ties).
 *
 * @example
 * ```ts
 * const [next] = argmax(lastLogits); // lastLogits [1, vocab]
 * ```
 */
export function argmax(x: Tensor): Int32Array {
  const op = "lukv_argmax";
  const [rows, cols] = x.shape;
  const dev = expect(op, [["x", x, F32, [null, null]]]);
  const out = new Int32Array(rows);
  dev.check(op, dev.symbols.lukv_argmax(out, x.pointer, i64(rows), i64(cols), null));
  return out;
}

/**
 * dst = src converted between f32, f16 and bf16 (same shape).
 *
 * @example
 * ```ts
 * convert(weightF32, weightBf16);
 * ```
 */
export function convert(dst: Tensor, src: Tensor): void {
  const op = "lukv_convert";
  const dev = expect(op, [["src", src, FLOATS, src.shape], ["dst", dst, FLOATS, src.shape]]);
  const status = dev.symbols.lukv_convert(
    dst.pointer,
    DTYPES[dst.dtype].code,
    src.pointer,
    DTYPES[src.dtype].code,
    i64(src.size),
    null,
  );
  dev.check(op, status);
}

/**
 * Fills t (f32, f16 or bf16) with pseudo-random values uniform in [-scale, scale), made
 * on the device from a counter-based hash of (seed, element index): the same bits on
 * every device for the same seed, shape and dtype (see `lukv_fill_random` in ffi/lukv.h;
 * f16/bf16 round to nearest even, so they may reach +scale). Element indices count from
 * t's first element, so a view made with `rows()` starts its stream again at 0.
 *
 * @example
 * ```ts
 * using w = dev.empty("bf16", [4096, 4096]);
 * fillRandom(w, 7, 1 / Math.sqrt(4096)); // fan-in scaled, like a fresh Linear layer
 * ```
 */
export function fillRandom(t: Tensor, seed: number | bigint, scale: number): void {
  const op = "lukv_fill_random";
  const dev = expect(op, [["t", t, FLOATS, t.shape]]);
  const seed64 = typeof seed === "bigint" ? seed : Number.isSafeInteger(seed) ? BigInt(seed) : -1n;
  if (seed64 < 0n || seed64 >= 1n << 64n) {
    throw new LukvError(op, STATUS.INVALID_ARGUMENT, `seed must be an integer in [0, 2^64), got ${seed}`);
  }
  if (!Number.isFinite(scale) || scale < 0) {
    throw new LukvError(op, STATUS.INVALID_ARGUMENT, `scale must be finite and >= 0, got ${scale}`);
  }
  const status = dev.symbols.lukv_fill_random(
    t.pointer,
    DTYPES[t.dtype].code,
    i64(t.size),
    seed64,
    scale,
    null,
  );
  dev.check(op, status);
}

/**
 * Compacts a dense layer cache into a ragged one: for head h, the kept rows
 * `indices[indexOffsets[h] .. indexOffsets[h + 1] - 1]` of src [heads, capacity,
 * headDim] (strictly ascending, each below capacity) go, in that order, to rows
 * `dstOffsets[h], dstOffsets[h] + 1, ...` of dst [dstRows, headDim]. indexOffsets
 * [heads + 1] starts at 0; dstOffsets [heads] lays the heads out in order without
 * overlap. src and dst must be separate tensors. Every index is checked natively.
 *
 * @example
 * ```ts
 * // 2 heads of a [2, 6, 64] cache keep rows {0, 4, 5} and {2}; head 1 gets 3 spare rows.
 * using dst = dev.empty("f32", [7, 64]);
 * kvGather(dst, kCache, new Int32Array([0, 4, 5, 2]), new Int32Array([0, 3, 4]), new Int32Array([0, 3]));
 * ```
 */
export function kvGather(
  dst: Tensor,
  src: Tensor,
  indices: Int32Array,
  indexOffsets: Int32Array,
  dstOffsets: Int32Array,
): void {
  const op = "lukv_kv_gather";
  const [heads, capacity, headDim] = src.shape;
  const dev = expect(op, [["src", src, F32, [null, null, null]], ["dst", dst, F32, [null, headDim]]]);
  checkLength(op, "indexOffsets", indexOffsets, heads + 1, "heads + 1");
  checkLength(op, "dstOffsets", dstOffsets, heads, "heads");
  checkLength(op, "indices", indices, indexOffsets[heads], "indexOffsets[heads]");
  const status = dev.symbols.lukv_kv_gather(
    dst.pointer,
    src.pointer,
    indices,
    indexOffsets,
    dstOffsets,
    i64(heads),
    i64(capacity),
    i64(headDim),
    i64(dst.shape[0]),
    null,
  );
  dev.check(op, status);
}

/**
 * Appends one row per KV head to a ragged layer: src [heads, headDim] row h goes to row
 * `offsets[h] + lengths[h]` of dst [rows, headDim]. offsets, lengths, capacities [heads]
 * describe the head spans; a full head (`lengths[h] >= capacities[h]`) is an error.
 * The caller bumps `lengths` afterwards.
 *
 * @example
 * ```ts
 * kvAppend(kLayer, kNew, offsets, lengths, capacities); // kNew [kvHeads, headDim]
 * for (let h = 0; h < lengths.length; h++) lengths[h]++;
 * ```
 */
export function kvAppend(
  dst: Tensor,
  src: Tensor,
  offsets: Int32Array,
  lengths: Int32Array,
  capacities: Int32Array,
): void {
  const op = "lukv_kv_append";
  const [heads, headDim] = src.shape;
  const dev = expect(op, [["src", src, F32, [null, null]], ["dst", dst, F32, [null, headDim]]]);
  checkLength(op, "offsets", offsets, heads, "heads");
  checkLength(op, "lengths", lengths, heads, "heads");
  checkLength(op, "capacities", capacities, heads, "heads");
  const status = dev.symbols.lukv_kv_append(
    dst.pointer,
    src.pointer,
    offsets,
    lengths,
    capacities,
    i64(heads),
    i64(headDim),
    i64(dst.shape[0]),
    null,
  );
  dev.check(op, status);
}

/**
 * Decode attention of one query q [qHeads, headDim] over a ragged layer: KV head h's
 * keys and values are rows `offsets[h] .. offsets[h] + lengths[h] - 1` of
 * k, v [rows, headDim] (lengths >= 1); kvHeads is `offsets.length` and qHeads a
 * multiple of it (GQA). out [qHeads, headDim]. scale defaults to 1 / sqrt(headDim).
 *
 * @example
 * ```ts
 * attentionDecodeRagged(out, q, kLayer, vLayer, offsets, lengths);
 * ```
 */
export function attentionDecodeRagged(
  out: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  offsets: Int32Array,
  lengths: Int32Array,
  scale?: number,
): void {
  const op = "lukv_attention_decode_ragged";
  const [qHeads, headDim] = q.shape;
  const dev = expect(op, [
    ["q", q, F32, [null, null]],
    ["k", k, F32, [null, headDim]],
    ["v", v, F32, k.shape],
    ["out", out, F32, q.shape],
  ]);
  const kvHeads = offsets.length;
  if (kvHeads === 0) {
    throw new LukvError(op, STATUS.SHAPE, "offsets must hold one entry per KV head, got none");
  }
  checkLength(op, "lengths", lengths, kvHeads, "offsets.length");
  const status = dev.symbols.lukv_attention_decode_ragged(
    out.pointer,
    q.pointer,
    k.pointer,
    v.pointer,
    offsets,
    lengths,
    i64(k.shape[0]),
    i64(qHeads),
    i64(kvHeads),
    i64(headDim),
    scale ?? 1 / Math.sqrt(headDim),
    null,
  );
  dev.check(op, status);
}

/**
 * Adds to out [kvHeads, kvLen] the causal softmax attention probabilities of the query
 * block q [tokens, qHeads, headDim] over the keys k [kvHeads, capacity, headDim],
 * summed over the block's queries and each KV head's GQA group. Query t sits at
 * position `qPos0 + t` and sees keys 0 .. qPos0 + t (qPos0 + tokens <= kvLen). out
 * accumulates, so a long prompt can be scored chunk by chunk (H2O) and SnapKV passes
 * just its window. scale defaults to 1 / sqrt(headDim).
 *
 * @example
 * ```ts
 * using scores = dev.zeros("f32", [kvHeads, promptLength]);
 * // SnapKV: the last 32 prompt queries, q [32, qHeads, headDim]
 * attentionScores(scores, qWindow, kCache, promptLength - 32, promptLength);
 * ```
 */
export function attentionScores(
  out: Tensor,
  q: Tensor,
  k: Tensor,
  qPos0: number,
  kvLen: number,
  scale?: number,
): void {
  const op = "lukv_attention_scores";
  const [tokens, qHeads, headDim] = q.shape;
  const [kvHeads, capacity] = k.shape;
  const dev = expect(op, [
    ["q", q, F32, [null, null, null]],
    ["k", k, F32, [null, null, headDim]],
    ["out", out, F32, [kvHeads, kvLen]],
  ]);
  checkIndex(op, "qPos0", qPos0);
  checkIndex(op, "kvLen", kvLen);
  const status = dev.symbols.lukv_attention_scores(
    out.pointer,
    q.pointer,
    k.pointer,
    i64(tokens),
    i64(qPos0),
    i64(kvLen),
    i64(capacity),
    i64(qHeads),
    i64(kvHeads),
    i64(headDim),
    scale ?? 1 / Math.sqrt(headDim),
    null,
  );
  dev.check(op, status);
}

/**
 * LU-KV's oracle utility of one decode step, folded into a running max (DESIGN.md 7.1).
 * q [qHeads, headDim] is the step's query after RoPE; k [kvHeads, capacity, headDim]
 * the dense cache, whose first kvLen rows (context, question and the tokens decoded so
 * far, this step's own key included) are valid; weights [qHeads, ctxLen] the value-output
 * norms n[q, j] of each (query head, context token). For every query head, p =
 * softmax(scale * q.k) over all kvLen keys; then out [kvHeads, ctxLen] (ctxLen <= kvLen,
 * taken from out's shape) gets out[h, j] = max(out[h, j], max over h's GQA group of
 * p[j] * weights[q, j]). Zero out once and call once per decoded step; only one step's
 * attention is ever held. scale defaults to 1 / sqrt(headDim).
 *
 * @example
 * ```ts
 * using oracle = dev.zeros("f32", [kvHeads, contextLength]);
 * // each decoded step, after the step's key is written at row cachedTokens - 1:
 * attentionOracle(oracle, qStep, kCache, normWeights, cachedTokens);
 * ```
 */
export function attentionOracle(
  out: Tensor,
  q: Tensor,
  k: Tensor,
  weights: Tensor,
  kvLen: number,
  scale?: number,
): void {
  const op = "lukv_attention_oracle";
  const [qHeads, headDim] = q.shape;
  const [kvHeads, capacity] = k.shape;
  const ctxLen = out.shape[1];
  const dev = expect(op, [
    ["q", q, F32, [null, null]],
    ["k", k, F32, [null, null, headDim]],
    ["out", out, F32, [kvHeads, null]], // checked before ctxLen is used
    ["weights", weights, F32, [qHeads, ctxLen]],
  ]);
  checkIndex(op, "kvLen", kvLen);
  const status = dev.symbols.lukv_attention_oracle(
    out.pointer,
    q.pointer,
    k.pointer,
    weights.pointer,
    i64(kvLen),
    i64(ctxLen),
    i64(capacity),
    i64(qHeads),
    i64(kvHeads),
    i64(headDim),
    scale ?? 1 / Math.sqrt(headDim),
    null,
  );
  dev.check(op, status);
}

/**
 * Adds the moments of a block of pre-RoPE queries to running sums (Expected Attention's
 * query statistics). shift [heads, headDim] is subtracted first: with x = q[r, h] -
 * shift[h], sum [heads, headDim] += x and outer [heads, headDim, headDim] += x x^T, summed
 * over the block's rows. q is [rows, heads * headDim] (a projection's output) or [rows,
 * heads, headDim]; heads and headDim come from shift. Zero sum and outer once, then call
 * once per prefill block; each call sums its rows in double. A shift near the mean (the
 * first block's, say) keeps `outer / n - (sum / n)(sum / n)^T` accurate in f32.
 *
 * @example
 * ```ts
 * using sum = dev.zeros("f32", [heads, headDim]);
 * using outer = dev.zeros("f32", [heads, headDim, headDim]);
 * using shift = dev.zeros("f32", [heads, headDim]);
 * for (const block of promptBlocks) queryMoments(sum, outer, block, shift); // block [rows, heads * headDim]
 * ```
 */
export function queryMoments(sum: Tensor, outer: Tensor, q: Tensor, shift: Tensor): void {
  const op = "lukv_query_moments";
  const [heads, headDim] = shift.shape;
  const rows = q.shape[0];
  const qShape = q.shape.length === 2 ? [null, heads * headDim] : [null, heads, headDim];
  const dev = expect(op, [
    ["shift", shift, F32, [null, null]], // checked before heads and headDim are used
    ["q", q, F32, qShape],
    ["sum", sum, F32, [heads, headDim]],
    ["outer", outer, F32, [heads, headDim, headDim]],
  ]);
  const status = dev.symbols.lukv_query_moments(
    sum.pointer,
    outer.pointer,
    q.pointer,
    shift.pointer,
    i64(rows),
    i64(heads),
    i64(headDim),
    null,
  );
  dev.check(op, status);
}

/**
 * Expected Attention scores (Devoto et al. 2025; kvpress `ExpectedAttentionPress`) of a
 * ragged layer. KV head h owns rows `offsets[h] .. offsets[h] + lengths[h] - 1` of
 * k, v [rows, headDim] (lengths >= 1, spans in head order without overlap; a dense cache
 * [kvHeads, capacity, headDim] reshaped to [kvHeads * capacity, headDim] has offsets[h] =
 * h * capacity). mean [qHeads, headDim] and cov [qHeads, headDim, headDim] are the future
 * queries' Gaussian statistics, already rotated by RoPE; qHeads is a multiple of kvHeads =
 * `offsets.length`. For query head i of KV head h, p_i = softmax over h's rows of
 * `k_j . mean_i / sqrt(d) + k_j^T cov_i k_j / (2d)`; then out [rows] row j of h gets
 * `(mean of p_ij over h's query heads + epsilon) * ||v_j||`. Rows no head owns are left
 * as they are.
 *
 * @example
 * ```ts
 * // a dense layer cache kCache, vCache [kvHeads, capacity, headDim] holding T prompt tokens
 * const offsets = Int32Array.from({ length: kvHeads }, (_, h) => h * capacity);
 * const lengths = new Int32Array(kvHeads).fill(T);
 * using scores = dev.zeros("f32", [kvHeads * capacity]);
 * const flat = [kvHeads * capacity, headDim];
 * expectedAttentionScores(scores, kCache.reshape(flat), vCache.reshape(flat), offsets, lengths, mean, cov, 0.02);
 * ```
 */
export function expectedAttentionScores(
  out: Tensor,
  k: Tensor,
  v: Tensor,
  offsets: Int32Array,
  lengths: Int32Array,
  mean: Tensor,
  cov: Tensor,
  epsilon: number,
): void {
  const op = "lukv_expected_attention_scores";
  const [rows, headDim] = k.shape;
  const qHeads = mean.shape[0];
  const dev = expect(op, [
    ["k", k, F32, [null, null]],
    ["v", v, F32, k.shape],
    ["out", out, F32, [rows]],
    ["mean", mean, F32, [null, headDim]],
    ["cov", cov, F32, [qHeads, headDim, headDim]],
  ]);
  const kvHeads = checkSpans(op, offsets, lengths);
  const status = dev.symbols.lukv_expected_attention_scores(
    out.pointer,
    k.pointer,
    v.pointer,
    offsets,
    lengths,
    i64(rows),
    mean.pointer,
    cov.pointer,
    i64(qHeads),
    i64(kvHeads),
    i64(headDim),
    epsilon,
    null,
  );
  dev.check(op, status);
}

/** The key-only scores of {@linkcode keyScores}, by name, with their `lukv_key_scores` mode codes. */
export const KEY_SCORE_MODES = { knorm: 0, keydiff: 1 } as const;

/** A key-only score: `"knorm"` (minus the key norm) or `"keydiff"` (minus the cosine to the mean key direction). */
export type KeyScoreMode = keyof typeof KEY_SCORE_MODES;

/**
 * Key-only scores of a ragged layer: KV head h owns rows `offsets[h] .. offsets[h] +
 * lengths[h] - 1` of k [rows, headDim] (as in {@linkcode expectedAttentionScores}); out
 * [rows] row j of h gets `-||k_j||` ("knorm") or `-cos(k_j / ||k_j||, m_h)` with m_h the
 * mean of h's normalised keys ("keydiff"; a zero key counts as norm 1). Rows no head owns
 * are left as they are.
 *
 * @example
 * ```ts
 * using scores = dev.empty("f32", [kLayer.shape[0]]);
 * keyScores(scores, kLayer, offsets, lengths, "keydiff"); // kLayer [rows, headDim]
 * ```
 */
export function keyScores(
  out: Tensor,
  k: Tensor,
  offsets: Int32Array,
  lengths: Int32Array,
  mode: KeyScoreMode,
): void {
  const op = "lukv_key_scores";
  const [rows, headDim] = k.shape;
  const dev = expect(op, [["k", k, F32, [null, null]], ["out", out, F32, [rows]]]);
  if (!Object.hasOwn(KEY_SCORE_MODES, mode)) {
    throw new LukvError(
      op,
      STATUS.INVALID_ARGUMENT,
      `mode must be ${Object.keys(KEY_SCORE_MODES).join(" or ")}, got ${mode}`,
    );
  }
  const kvHeads = checkSpans(op, offsets, lengths);
  const status = dev.symbols.lukv_key_scores(
    out.pointer,
    k.pointer,
    offsets,
    lengths,
    i64(rows),
    i64(kvHeads),
    i64(headDim),
    KEY_SCORE_MODES[mode],
    null,
  );
  dev.check(op, status);
}

/** offsets and lengths [kvHeads] of a ragged layer: one entry per KV head each; returns kvHeads. */
function checkSpans(op: string, offsets: Int32Array, lengths: Int32Array): number {
  checkLength(op, "offsets", offsets, offsets.length, "one per KV head");
  if (offsets.length === 0) {
    throw new LukvError(op, STATUS.SHAPE, "offsets must hold one entry per KV head, got none");
  }
  checkLength(op, "lengths", lengths, offsets.length, "offsets.length");
  return offsets.length;
}

/** A host index array must have exactly the length the native side will read. */
function checkLength(op: string, name: string, array: Int32Array, length: number, what: string): void {
  if (!(array instanceof Int32Array)) {
    throw new LukvError(op, STATUS.INVALID_ARGUMENT, `${name} must be an Int32Array`);
  }
  if (array.length !== length) {
    throw new LukvError(
      op,
      STATUS.SHAPE,
      `${name} must hold ${what} = ${length} entries, got ${array.length}`,
    );
  }
}

function checkIndex(op: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new LukvError(op, STATUS.INVALID_ARGUMENT, `${name} must be a non-negative integer, got ${value}`);
  }
}
