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

function checkIndex(op: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new LukvError(op, STATUS.INVALID_ARGUMENT, `${name} must be a non-negative integer, got ${value}`);
  }
}
