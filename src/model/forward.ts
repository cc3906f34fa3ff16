/** The Llama-family forward pass on the backend ops: layer by layer, tokens in row chunks, keys cached after RoPE. */

import type { Device } from "../backend/device.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import type { KvCache, LayerKv } from "../cache/kv_cache.ts";
import type { ModelConfig } from "./config.ts";
import type { ForwardObserver } from "./observer.ts";
import { ropeTables } from "./rope.ts";
import type { LayerWeights, ModelWeights } from "./weights.ts";

/** Rows pushed through a layer at once: bounds the MLP's scratch memory on long prompts. */
const CHUNK_ROWS = 256;

/**
 * The smallest RoPE table `LlamaForward` builds, in positions: small enough to cost
 * nothing (4096 x 64 x 2 floats for head_dim 128, 2 MiB), large enough that short runs
 * never rebuild it.
 *
 * @example
 * ```ts
 * forward.ropeTableLength === Math.min(ROPE_MIN_ROWS, config.maxPositionEmbeddings); // after a short run
 * ```
 */
export const ROPE_MIN_ROWS = 4096;

/** The device RoPE tables, each `[positions, headDim / 2]`. */
interface RopeTensors {
  cos: Tensor<"f32">;
  sin: Tensor<"f32">;
}

/** Scratch tensors for up to `rows` rows of one layer. */
class Workspace implements Disposable {
  readonly normed: Tensor<"f32">;
  readonly q: Tensor<"f32">;
  readonly k: Tensor<"f32">;
  readonly v: Tensor<"f32">;
  readonly attended: Tensor<"f32">;
  readonly gate: Tensor<"f32">;
  readonly up: Tensor<"f32">;

  constructor(device: Device, config: ModelConfig, readonly rows: number) {
    const { hiddenSize, intermediateSize, heads, kvHeads, headDim } = config;
    this.normed = device.empty("f32", [rows, hiddenSize]);
    this.q = device.empty("f32", [rows, heads * headDim]);
    this.k = device.empty("f32", [rows, kvHeads * headDim]);
    this.v = device.empty("f32", [rows, kvHeads * headDim]);
    this.attended = device.empty("f32", [rows, heads * headDim]);
    this.gate = device.empty("f32", [rows, intermediateSize]);
    this.up = device.empty("f32", [rows, intermediateSize]);
  }

  [Symbol.dispose](): void {
    for (const t of [this.normed, this.q, this.k, this.v, this.attended, this.gate, this.up]) t.close();
  }
}

/**
 * Runs token ids through the decoder, appending their keys and values to a KV cache.
 *
 * @example
 * ```ts
 * const forward = new LlamaForward(dev, config, weights);
 * using hidden = forward.run(promptIds, cache); // [T, hidden], final-normed
 * const logits = forward.logits(hidden.rows(promptIds.length - 1, 1)); // Float32Array [vocab]
 * ```
 */
export class LlamaForward implements Disposable {
  #rope: RopeTensors | null = null;
  #workspace: Workspace | null = null;

  /**
   * Keeps the config and weights (they stay the caller's). No RoPE table is built here:
   * `run` builds cos/sin rows for the positions it reaches, so a config that allows 10M
   * positions loads as fast as one that allows 2K.
   */
  constructor(readonly device: Device, readonly config: ModelConfig, readonly weights: ModelWeights) {}

  /**
   * Rows of the RoPE cos/sin tables built so far (each `[ropeTableLength, headDim / 2]`
   * f32 on the device): 0 before the first run, then the positions runs have reached,
   * rounded up to a power of two (at least {@linkcode ROPE_MIN_ROWS}) and capped at
   * `maxPositionEmbeddings`.
   *
   * @example
   * ```ts
   * forward.run(ids, cache).close();
   * forward.ropeTableLength >= cache.length; // true
   * ```
   */
  get ropeTableLength(): number {
    return this.#rope?.cos.shape[0] ?? 0;
  }

  /**
   * Embeds `ids` at positions `cache.length ..`, runs every layer over them (writing
   * their K/V into `cache`, layer by layer, and telling `observers` what each layer
   * computes and when it is done, so a compressing prefill can shrink each layer as soon
   * as it is finished) and returns the final-normed hidden states `[T, hidden]`, owned by
   * the caller.
   */
  run(ids: Int32Array, cache: KvCache, observers: readonly ForwardObserver[] = []): Tensor<"f32"> {
    const { hiddenSize, rmsNormEps } = this.config;
    cache.reserve(ids.length);
    const { cos, sin } = this.#ropeTables(cache.length + ids.length);
    const hidden = this.device.empty("f32", [ids.length, hiddenSize]);
    try {
      ops.embedding(hidden, this.weights.embed, ids);
      const chunk = CHUNK_ROWS;
      const workspace = this.#scratch(Math.min(ids.length, chunk));
      this.weights.layers.forEach((layer, l) => {
        const kv = cache.layer(l);
        for (let start = 0; start < ids.length; start += chunk) {
          const rows = Math.min(chunk, ids.length - start);
          const x = hidden.rows(start, rows);
          this.#layer(layer, l, x, cache.length + start, kv, observers, workspace, cos, sin);
        }
        for (const o of observers) o.layerDone?.(l);
      });
      ops.rmsnorm(hidden, hidden, this.weights.norm, rmsNormEps);
      cache.advance(ids.length);
      return hidden;
    } catch (error) {
      hidden.close();
      throw error;
    }
  }

  /** Logits of final-normed hidden rows `[T, hidden]`, as a host array `[T, vocab]`. */
  logits(hidden: Tensor<"f32">): Float32Array {
    using out = this.device.empty("f32", [hidden.shape[0], this.config.vocabSize]);
    ops.matmul(out, hidden, this.weights.lmHead);
    return out.toHost();
  }

  /** One decoder layer over `x` (rows at positions `pos0 ..`), in place on the residual stream. */
  #layer(
    w: LayerWeights,
    l: number,
    x: Tensor<"f32">,
    pos0: number,
    kv: LayerKv,
    observers: readonly ForwardObserver[],
    ws: Workspace,
    cos: Tensor<"f32">,
    sin: Tensor<"f32">,
  ) {
    const { heads, kvHeads, headDim, rmsNormEps: eps } = this.config;
    const rows = x.shape[0];
    const normed = ws.normed.rows(0, rows), attended = ws.attended.rows(0, rows);
    const q = ws.q.rows(0, rows), k = ws.k.rows(0, rows), v = ws.v.rows(0, rows);
    ops.rmsnorm(normed, x, w.inputNorm, eps);
    ops.matmul(q, normed, w.q, w.qBias);
    ops.matmul(k, normed, w.k, w.kBias);
    ops.matmul(v, normed, w.v, w.vBias);
    if (w.qNorm && w.kNorm) {
      const qHeads = q.reshape([rows * heads, headDim]), kHeads = k.reshape([rows * kvHeads, headDim]);
      ops.rmsnorm(qHeads, qHeads, w.qNorm, eps);
      ops.rmsnorm(kHeads, kHeads, w.kNorm, eps);
    }
    for (const o of observers) o.queriesBeforeRope?.(l, q, pos0);
    const q3 = q.reshape([rows, heads, headDim]), k3 = k.reshape([rows, kvHeads, headDim]);
    ops.rope(q3, cos, sin, pos0);
    ops.rope(k3, cos, sin, pos0);
    kv.write(k3, v.reshape([rows, kvHeads, headDim]), pos0);
    for (const o of observers) o.queriesAfterWrite?.(l, q3, pos0);
    const attended3 = attended.reshape([rows, heads, headDim]);
    kv.attend(attended3, q3, pos0);
    for (const o of observers) o.attentionOutput?.(l, attended3, pos0);
    ops.matmul(normed, attended, w.o, w.oBias);
    ops.add(x, x, normed);
    ops.rmsnorm(normed, x, w.postNorm, eps);
    const gate = ws.gate.rows(0, rows), up = ws.up.rows(0, rows);
    ops.matmul(gate, normed, w.gate, w.gateBias);
    ops.matmul(up, normed, w.up, w.upBias);
    ops.siluMul(gate, gate, up);
    ops.matmul(normed, gate, w.down, w.downBias);
    ops.add(x, x, normed);
  }

  /**
   * RoPE tables covering positions `0 .. end - 1`, rebuilt (doubling, so a long decode
   * rebuilds them O(log T) times) when a run reaches past them. Capped at
   * `maxPositionEmbeddings`: a run beyond it fails in the rope kernel's table check, as
   * it did when the whole table was built at load.
   */
  #ropeTables(end: number): RopeTensors {
    const max = this.config.maxPositionEmbeddings;
    if (this.#rope === null || this.ropeTableLength < Math.min(end, max)) {
      const length = Math.min(max, Math.max(ROPE_MIN_ROWS, end, 2 * this.ropeTableLength));
      const { cos, sin } = ropeTables(this.config, length);
      const shape = [length, this.config.headDim / 2];
      const cosTensor = this.device.fromArray("f32", cos, shape);
      try {
        const sinTensor = this.device.fromArray("f32", sin, shape);
        this.#closeRope();
        this.#rope = { cos: cosTensor, sin: sinTensor };
      } catch (error) {
        cosTensor.close();
        throw error;
      }
    }
    return this.#rope;
  }

  #closeRope(): void {
    this.#rope?.cos.close();
    this.#rope?.sin.close();
    this.#rope = null;
  }

  /** A workspace of at least `rows` rows, kept between calls (decode reuses one of 1 row). */
  #scratch(rows: number): Workspace {
    if (!this.#workspace || this.#workspace.rows < rows) {
      this.#workspace?.[Symbol.dispose]();
      this.#workspace = new Workspace(this.device, this.config, rows);
    }
    return this.#workspace;
  }

  /** Frees the RoPE tables and scratch (not the weights). */
  [Symbol.dispose](): void {
    this.#workspace?.[Symbol.dispose]();
    this.#closeRope();
  }
}
