/** Fidelity metrics of a compressed cache against the full one: next-token KL divergence and attention-output error. */

/**
 * `KL(P || Q)` in nats between the softmax distributions of two logits rows `[vocab]`:
 * `P` from the full cache, `Q` from a compressed one. Computed in float64 from
 * log-softmaxes, so identical rows give exactly 0.
 *
 * @example
 * ```ts
 * klDivergence(fullLogits, pressLogits); // 0.013
 * klDivergence(fullLogits, fullLogits); // 0
 * ```
 */
export function klDivergence(reference: Float32Array, logits: Float32Array): number {
  if (reference.length !== logits.length || reference.length === 0) {
    throw new RangeError(
      `logits rows of ${reference.length} and ${logits.length} values: need equal, non-empty`,
    );
  }
  const p = logSoftmax(reference), q = logSoftmax(logits);
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] !== -Infinity) kl += Math.exp(p[i]) * (p[i] - q[i]);
  }
  return Math.max(0, kl);
}

/**
 * The attention-output relative error, averaged over layers: per layer
 * `||o - o_full|| / ||o_full||` of the outputs `[heads * headDim]` at one position.
 *
 * @example
 * ```ts
 * attentionError(fullProbe.outputs, pressProbe.outputs); // 0.08
 * ```
 */
export function attentionError(reference: Float32Array[], outputs: Float32Array[]): number {
  if (reference.length !== outputs.length || reference.length === 0) {
    throw new RangeError(
      `outputs of ${reference.length} and ${outputs.length} layers: need equal, non-empty`,
    );
  }
  let sum = 0;
  reference.forEach((want, l) => {
    const got = outputs[l];
    if (!want || !got || want.length !== got.length) {
      throw new RangeError(`layer ${l}: the attention outputs are missing or of different sizes`);
    }
    let diff = 0, norm = 0;
    for (let i = 0; i < want.length; i++) {
      diff += (got[i] - want[i]) ** 2;
      norm += want[i] ** 2;
    }
    sum += norm > 0 ? Math.sqrt(diff / norm) : Math.sqrt(diff);
  });
  return sum / reference.length;
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x);
  let total = 0;
  for (const x of logits) total += Math.exp(x - max);
  const log = max + Math.log(total);
  return Float64Array.from(logits, (x) => x - log);
}
