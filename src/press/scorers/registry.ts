/** The scorers by name, with the parameters each accepts and their defaults. */

import { LukvError, STATUS } from "../../backend/errors.ts";
import { expectedAttentionScorer } from "./expected_attention.ts";
import { h2oScorer } from "./h2o.ts";
import { keyDiffScorer } from "./keydiff.ts";
import { knormScorer } from "./knorm.ts";
import type { Scorer, ScorerParams } from "./scorer.ts";
import { snapKvScorer } from "./snapkv.ts";
import { streamingScorer } from "./streaming.ts";

/** One scorer: its factory and the type of each parameter it takes. */
interface ScorerEntry {
  make: (params: ScorerParams) => Scorer;
  params: Readonly<Record<string, "number" | "boolean" | "string">>;
}

// deno-lint-ignore no-explicit-any -- each factory checks its own parameters' values
const entry = (make: (params: any) => Scorer, params: ScorerEntry["params"] = {}): ScorerEntry => ({
  make,
  params,
});

const SCORERS: Readonly<Record<string, ScorerEntry>> = {
  snapkv: entry(snapKvScorer, { window: "number", kernel: "number", pooling: "string" }),
  "expected-attention": entry(expectedAttentionScorer, {
    future: "number",
    nSink: "number",
    epsilon: "number",
    useCovariance: "boolean",
    useVnorm: "boolean",
  }),
  keydiff: entry(keyDiffScorer),
  knorm: entry(knormScorer),
  h2o: entry(h2oScorer),
  streamingllm: entry(streamingScorer),
};

/** Every scorer name. */
export const SCORER_NAMES: readonly string[] = Object.keys(SCORERS);

/**
 * A scorer by name with parameters (unset ones take their documented defaults). An
 * unknown scorer or parameter, or a value of the wrong type, is a LukvError naming what
 * is accepted.
 *
 * @example
 * ```ts
 * const scorer = makeScorer("expected-attention", { epsilon: 0.01 });
 * scorer.params; // { future: 512, nSink: 4, epsilon: 0.01, useCovariance: true, useVnorm: true }
 * ```
 */
export function makeScorer(name: string, params: ScorerParams = {}): Scorer {
  const found = Object.hasOwn(SCORERS, name) ? SCORERS[name] : undefined;
  if (!found) {
    throw new LukvError(
      "press",
      STATUS.INVALID_ARGUMENT,
      `unknown scorer "${name}"; available: ${SCORER_NAMES.join(", ")}`,
    );
  }
  for (const [key, value] of Object.entries(params)) {
    const type = Object.hasOwn(found.params, key) ? found.params[key] : undefined;
    if (!type) {
      const accepted = Object.keys(found.params);
      throw new LukvError(
        "press",
        STATUS.INVALID_ARGUMENT,
        `scorer ${name} has no parameter "${key}"; ` +
          (accepted.length ? `it takes ${accepted.join(", ")}` : "it takes none"),
      );
    }
    const given = typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "string";
    if (given !== type) {
      throw new LukvError(
        "press",
        STATUS.INVALID_ARGUMENT,
        `scorer ${name}'s ${key} must be a ${type}, got ${JSON.stringify(value)}`,
      );
    }
  }
  try {
    return found.make(params);
  } catch (error) {
    if (error instanceof RangeError) throw new LukvError("press", STATUS.INVALID_ARGUMENT, error.message);
    throw error;
  }
}

/**
 * The parameter names scorer `name` takes.
 *
 * @example
 * ```ts
 * scorerParamNames("snapkv"); // ["window", "kernel", "pooling"]
 * ```
 */
export function scorerParamNames(name: string): string[] {
  if (!Object.hasOwn(SCORERS, name)) makeScorer(name);
  return Object.keys(SCORERS[name].params);
}
