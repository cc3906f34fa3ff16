/** `--scorer-param name=value` on every command line that runs a press. */

import type { ScorerParams } from "../press/scorers/scorer.ts";
import { UsageError } from "./run.ts";

/** The usage line of the flag. */
export const SCORER_PARAM_USAGE =
  `[--scorer-param K=V]      a scorer parameter, repeatable (e.g. epsilon=0.02, window=64, pooling=avg)`;

/**
 * Parses repeated `name=value` flags: `true`/`false` are switches, numbers are numbers,
 * anything else is a named choice (`pooling=avg`). Which scorer takes which name, and
 * of which type, is checked when the press is made.
 *
 * @example
 * ```ts
 * parseScorerParams(["epsilon=0.02", "useVnorm=false", "pooling=avg"]); // { epsilon: 0.02, useVnorm: false, pooling: "avg" }
 * ```
 */
export function parseScorerParams(flags: readonly string[]): ScorerParams {
  const params: ScorerParams = {};
  for (const flag of flags) {
    const at = flag.indexOf("=");
    const name = flag.slice(0, at).trim(), text = flag.slice(at + 1).trim();
    if (at <= 0 || text === "") throw new UsageError(`--scorer-param takes name=value, got "${flag}"`);
    if (Object.hasOwn(params, name)) throw new UsageError(`--scorer-param ${name} is given twice`);
    const number = Number(text);
    params[name] = text === "true"
      ? true
      : text === "false"
      ? false
      : Number.isFinite(number)
      ? number
      : text;
  }
  return params;
}
