/** StreamingLLM's scorer: position only, so the most recent tokens are kept (sinks are protected by the press). */

import type { Scorer } from "./scorer.ts";

/**
 * Score = position: later tokens score higher.
 *
 * @example
 * ```ts
 * streamingScorer().score(state); // [0, 1, 2, ..., T - 1] for every head
 * ```
 */
export function streamingScorer(): Scorer {
  return {
    name: "streamingllm",
    needs: [],
    params: {},
    score: ({ kvHeads, length }) => Float32Array.from({ length: kvHeads * length }, (_, i) => i % length),
  };
}
