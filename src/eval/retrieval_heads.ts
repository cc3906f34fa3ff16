/** Which heads retrieve: the share of attention that answer tokens pay to the needle's value, per (layer, KV head). */

import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import type { ForwardObserver } from "../model/observer.ts";
import type { Model } from "../pipeline/model.ts";
import type { TaskSample } from "./tasks/mod.ts";

/**
 * For each sample (needle-style: its first answer appears verbatim in the context), the
 * prompt plus the canonical answer is run with the full cache, teacher-forced; the
 * answer tokens' softmax attention (summed over each KV head's GQA group) is split
 * into the share landing on the needle value's tokens in the context. Averaged over
 * samples, that is the head's retrieval score: near 1 for a head that copies the
 * needle, near 0 for local or sink heads.
 *
 * @returns `[layers * kvHeads]` retrieval scores in [0, 1], row-major `[L, H]`
 * @example
 * ```ts
 * const scores = retrievalScores(model, await generateSamples("needle", { length: 1000, count: 20, seed: 3 }));
 * ```
 */
export function retrievalScores(model: Model, samples: readonly TaskSample[]): Float64Array {
  const { layers, kvHeads } = model.config;
  const total = new Float64Array(layers * kvHeads);
  for (const sample of samples) {
    const at = sample.context.indexOf(sample.answers[0]);
    if (at < 0) throw new RangeError(`sample's answer ${sample.answers[0]} is not in its context`);
    // Token span of the value: what encoding the text up to it, and through it, adds.
    const first = model.encode(sample.context.slice(0, at)).length;
    const last = model.encode(sample.context.slice(0, at + sample.answers[0].length)).length;
    const prompt = model.encode(sample.context + sample.question + sample.answerPrefix);
    const answer = model.encode(sample.target, { addSpecialTokens: false });
    const ids = new Int32Array([...prompt, ...answer]);
    const { layers, kvHeads: heads, headDim } = model.config;
    using cache = new DenseKvCache(model.device, { layers, kvHeads: heads, headDim }, ids.length);
    const watch = new AnswerAttention(model, cache, prompt.length - 1);
    model.forward.run(ids, cache, [watch]).close();
    watch.sums.forEach((sums, l) => {
      for (let h = 0; h < kvHeads; h++) {
        let needle = 0, all = 0;
        for (let j = 0; j < ids.length; j++) {
          all += sums[h * ids.length + j];
          if (j >= Math.max(0, first - 1) && j < last) needle += sums[h * ids.length + j];
        }
        total[l * kvHeads + h] += needle / (all || 1) / samples.length;
      }
    });
  }
  return total;
}

/** Sums, per layer, the attention of the queries from position `from` on over a dense cache. */
class AnswerAttention implements ForwardObserver {
  readonly sums: Float32Array[] = [];

  constructor(readonly model: Model, readonly cache: DenseKvCache, readonly from: number) {}

  queriesAfterWrite(l: number, q: Tensor<"f32">, pos0: number): void {
    const rows = q.shape[0], start = Math.max(0, this.from - pos0);
    if (start >= rows) return;
    const visible = pos0 + rows, { kvHeads } = this.model.config, capacity = this.cache.capacity;
    using out = this.model.device.zeros("f32", [kvHeads, visible]);
    ops.attentionScores(out, q.rows(start, rows - start), this.cache.keys[l], pos0 + start, visible);
    const host = out.toHost();
    const sums = this.sums[l] ??= new Float32Array(kvHeads * capacity);
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < visible; j++) sums[h * capacity + j] += host[h * visible + j];
    }
  }
}
