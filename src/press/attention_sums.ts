/** Attention paid by a block of queries to each key, per query head: what SnapKV pools before averaging a GQA group. */

import type { Device } from "../backend/device.ts";
import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";

/**
 * The softmax attention of `rows` queries to each key, summed over the queries, for
 * every query head: `[heads, visible]`, query head `h * group + g` on row `h * group + g`.
 * `q` `[rows, heads, headDim]` (host, post-RoPE) sits at positions `qPos0 ..` and query t
 * sees keys `0 .. qPos0 + t` of `keys` `[kvHeads, capacity, headDim]` (the first `visible`
 * valid). The attention-scores kernel sums a GQA group; it runs once per group member, on
 * that member's heads, so each query head keeps its own sums.
 *
 * @example
 * ```ts
 * const sums = attentionPerQueryHead(dev, windowQueries, heads, cache.keys[l], T - 32, T); // [heads, T]
 * ```
 */
export function attentionPerQueryHead(
  device: Device,
  q: Float32Array,
  heads: number,
  keys: Tensor<"f32">,
  qPos0: number,
  visible: number,
): Float32Array {
  const [kvHeads, , d] = keys.shape;
  const group = heads / kvHeads, rows = q.length / (heads * d);
  const sums = new Float32Array(heads * visible);
  const member = new Float32Array(rows * kvHeads * d);
  for (let g = 0; g < group; g++) {
    for (let t = 0; t < rows; t++) {
      for (let h = 0; h < kvHeads; h++) {
        const from = (t * heads + h * group + g) * d;
        member.set(q.subarray(from, from + d), (t * kvHeads + h) * d);
      }
    }
    using qt = device.fromArray("f32", member, [rows, kvHeads, d]);
    using out = device.zeros("f32", [kvHeads, visible]);
    ops.attentionScores(out, qt, keys, qPos0, visible);
    const host = out.toHost();
    for (let h = 0; h < kvHeads; h++) {
      sums.set(host.subarray(h * visible, (h + 1) * visible), (h * group + g) * visible);
    }
  }
  return sums;
}
