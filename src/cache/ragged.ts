/** The ragged KV cache: per layer one flat K and one flat V buffer, each head owning its own span of rows. */

import type { Device } from "../backend/device.ts";
import { LukvError, STATUS } from "../backend/errors.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import type { KvShape } from "./dense.ts";
import type { KvCache, LayerKv } from "./kv_cache.ts";

/** One layer: K and V `[rows, headDim]`; head h owns rows `offsets[h] .. offsets[h] + capacities[h]`. */
interface RaggedLayer {
  keys: Tensor<"f32">;
  values: Tensor<"f32">;
  offsets: Int32Array;
  lengths: Int32Array;
  capacities: Int32Array;
}

/** Kept token positions per head: head h's are `indices[offsets[h] .. offsets[h + 1])`, ascending. */
export interface KeptTokens {
  /** Positions into the dense layer, ascending within each head. */
  indices: Int32Array;
  /** `[heads + 1]` ranges into `indices`. */
  offsets: Int32Array;
}

/**
 * A compressed cache: every (layer, KV head) holds its own number of tokens, so memory
 * really shrinks with the budgets. Built layer by layer from dense layers with
 * {@linkcode RaggedKvCache.compactLayer}; appends add rows to every head (growing a
 * layer by multiples of `growth` rows per head when a head is full) and attend over the
 * kept rows only.
 *
 * @example
 * ```ts
 * using cache = new RaggedKvCache(dev, { layers: 16, kvHeads: 8, headDim: 64 });
 * cache.compactLayer(0, denseKeys, denseValues, kept); // for every layer
 * cache.advance(promptLength);
 * ```
 */
export class RaggedKvCache implements KvCache {
  /** Tokens seen (the next position), kept or not. */
  length = 0;
  readonly #layers: (RaggedLayer | null)[];

  /** An empty cache; every layer must be compacted in before use. */
  constructor(readonly device: Device, readonly shape: KvShape, readonly growth = 64) {
    if (!Number.isSafeInteger(growth) || growth < 1) {
      throw new RangeError(`growth must be a positive integer, got ${growth}`);
    }
    this.#layers = new Array(shape.layers).fill(null);
  }

  /**
   * Installs layer `l` from a dense layer `[kvHeads, capacity, headDim]`: the kept rows of
   * each head, in order, plus `growth` free rows per head for decoding.
   */
  compactLayer(l: number, keys: Tensor<"f32">, values: Tensor<"f32">, kept: KeptTokens): void {
    this.#replace(l, kept, (layer) => {
      ops.kvGather(layer.keys, keys, kept.indices, kept.offsets, layer.offsets);
      ops.kvGather(layer.values, values, kept.indices, kept.offsets, layer.offsets);
    });
  }

  /**
   * Compresses layer `l` in place: head h keeps its own rows
   * `kept.indices[kept.offsets[h] .. kept.offsets[h + 1]]` (ascending indices into the
   * head's rows, oldest first), moved into fresh buffers with `growth` free rows per head.
   * Decode-time compression uses it; `length` (tokens seen) is unchanged.
   */
  recompactLayer(l: number, kept: KeptTokens): void {
    const old = this.#layer(l);
    const headDim = this.shape.headDim;
    this.#replace(l, kept, (layer) => {
      layer.lengths.forEach((n, h) => {
        if (n < 1 || n > old.lengths[h]) {
          throw new RangeError(`layer ${l} head ${h} cannot keep ${n} of its ${old.lengths[h]} rows`);
        }
        const [from, to] = [kept.offsets[h], kept.offsets[h + 1]];
        const indices = kept.indices.subarray(from, to), offsets = new Int32Array([0, to - from]);
        const at = new Int32Array([layer.offsets[h]]);
        const rows = (t: Tensor<"f32">) =>
          t.rows(old.offsets[h], old.lengths[h]).reshape([1, old.lengths[h], headDim]);
        ops.kvGather(layer.keys, rows(old.keys), indices, offsets, at);
        ops.kvGather(layer.values, rows(old.values), indices, offsets, at);
      });
    });
  }

  /** Head `h`'s rows of layer `l`, oldest first: keys and values `[length, headDim]` (views, valid until the layer changes). */
  headRows(l: number, h: number): { keys: Tensor<"f32">; values: Tensor<"f32">; length: number } {
    const layer = this.#layer(l);
    const length = layer.lengths[h];
    return {
      keys: layer.keys.rows(layer.offsets[h], length),
      values: layer.values.rows(layer.offsets[h], length),
      length,
    };
  }

  /** Tokens each head of layer `l` holds, `[kvHeads]`. */
  keptCounts(l: number): Int32Array {
    return Int32Array.from(this.#layer(l).lengths);
  }

  /** Throws when a token cannot be appended (every layer must be compacted in). */
  reserve(count: number): void {
    this.#layers.forEach((_, l) => this.#layer(l));
    if (count < 0) throw new RangeError(`cannot reserve ${count} tokens`);
  }

  /**
   * Layer `l`'s view: a block of rows is appended to every head (growing the layer when a
   * head lacks room), then each row attends over its head's kept rows and the block's
   * rows up to its own (causal), so a question is appended in one forward.
   */
  layer(l: number): LayerKv {
    const { kvHeads, headDim } = this.shape;
    return {
      write: (k, v) => {
        const rows = k.shape[0];
        let layer = this.#layer(l);
        if (layer.lengths.some((n, h) => n + rows > layer.capacities[h])) layer = this.#grow(l, rows);
        for (let r = 0; r < rows; r++) {
          ops.kvAppend(
            layer.keys,
            k.rows(r, 1).reshape([kvHeads, headDim]),
            layer.offsets,
            layer.lengths,
            layer.capacities,
          );
          ops.kvAppend(
            layer.values,
            v.rows(r, 1).reshape([kvHeads, headDim]),
            layer.offsets,
            layer.lengths,
            layer.capacities,
          );
          for (let h = 0; h < kvHeads; h++) layer.lengths[h]++;
        }
      },
      attend: (out, q) => {
        const layer = this.#layer(l);
        const [rows, heads] = q.shape;
        const visible = new Int32Array(kvHeads);
        for (let r = 0; r < rows; r++) {
          for (let h = 0; h < kvHeads; h++) visible[h] = layer.lengths[h] - rows + r + 1;
          ops.attentionDecodeRagged(
            out.rows(r, 1).reshape([heads, headDim]),
            q.rows(r, 1).reshape([heads, headDim]),
            layer.keys,
            layer.values,
            layer.offsets,
            visible,
          );
        }
      },
    };
  }

  /** Forgets the most recent token of every head (e.g. a rejected draft token). */
  dropLast(): void {
    if (this.length === 0) throw new RangeError("the cache is empty");
    for (const layer of this.#layers) {
      if (layer?.lengths.some((n) => n === 0)) throw new RangeError("a head has no token to drop");
    }
    for (const layer of this.#layers) layer?.lengths.forEach((n, h, lengths) => lengths[h] = n - 1);
    this.length--;
  }

  /** Records `count` new positions. */
  advance(count: number): void {
    this.length += count;
  }

  /** Bytes really allocated (kept rows plus each head's free rows). */
  bytes(): number {
    return this.#layers.reduce(
      (sum, layer) => sum + (layer ? layer.keys.byteLength + layer.values.byteLength : 0),
      0,
    );
  }

  /** Frees every layer; harmless twice. */
  close(): void {
    this.#layers.forEach((_, l) => this.#release(l));
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #layer(l: number): RaggedLayer {
    const layer = this.#layers[l];
    if (!layer) {
      throw new LukvError("ragged cache", STATUS.INVALID_ARGUMENT, `layer ${l} has not been compacted in`);
    }
    return layer;
  }

  /**
   * Makes layer `l` anew with `kept`'s counts per head and `growth` free rows each, lets
   * `fill` copy the rows in, then frees the old buffers (or the new ones, if `fill` throws).
   */
  #replace(l: number, kept: KeptTokens, fill: (layer: RaggedLayer) => void): void {
    const lengths = Int32Array.from(
      { length: this.shape.kvHeads },
      (_, h) => kept.offsets[h + 1] - kept.offsets[h],
    );
    const layer = this.#allocate(lengths, lengths.map((n) => n + this.growth));
    try {
      fill(layer);
    } catch (error) {
      layer.keys.close();
      layer.values.close();
      throw error;
    }
    this.#release(l);
    this.#layers[l] = layer;
  }

  #allocate(lengths: Int32Array, capacities: Int32Array): RaggedLayer {
    const offsets = new Int32Array(capacities.length);
    for (let h = 1; h < offsets.length; h++) offsets[h] = offsets[h - 1] + capacities[h - 1];
    const rows = offsets[offsets.length - 1] + capacities[capacities.length - 1];
    const keys = this.device.empty("f32", [rows, this.shape.headDim]);
    try {
      const values = this.device.empty("f32", [rows, this.shape.headDim]);
      return { keys, values, offsets, lengths: Int32Array.from(lengths), capacities };
    } catch (error) {
      keys.close();
      throw error;
    }
  }

  /** Moves layer `l` into buffers with room for `rows` more rows per head, in steps of `growth`. */
  #grow(l: number, rows: number): RaggedLayer {
    const old = this.#layer(l);
    const step = Math.ceil(rows / this.growth) * this.growth;
    const grown = this.#allocate(old.lengths, old.capacities.map((c) => c + step));
    for (let h = 0; h < old.lengths.length; h++) {
      const n = old.lengths[h];
      if (n === 0) continue;
      grown.keys.rows(grown.offsets[h], n).copyFromTensor(old.keys.rows(old.offsets[h], n));
      grown.values.rows(grown.offsets[h], n).copyFromTensor(old.values.rows(old.offsets[h], n));
    }
    this.#release(l);
    this.#layers[l] = grown;
    return grown;
  }

  #release(l: number): void {
    const layer = this.#layers[l];
    layer?.keys.close();
    layer?.values.close();
    this.#layers[l] = null;
  }
}
