/** `--scorer-param name=value` on every command line that runs a press. */

import type { ScorerParams } from "../press/scorers/scorer.ts";
import { UsageError } from "./run.ts";

/** The usage line of the flag. */
export const SCORER_PARAM_USAGE =
  `[--scorer-param K=V]      a scorer parameter, repeatable (e.g. epsilon=0.02, window=64, useVnorm=false)`;

/**
 * Parses repeated `name=value` flags: `true`/`false` are switches, anything else must be
 * a finite number. Which scorer takes which name is checked when the press is made.
 *
 * @example
 * ```ts
 * parseScorerParams(["epsilon=0.02", "useVnorm=false"]); // { epsilon: 0.02, useVnorm: false }
 * ```
 */
export function parseScorerParams(flags: readonly string[]): ScorerParams {
  const params: ScorerParams = {};
  for (const flag of flags) {
    const at = flag.indexOf("=");
    const name = flag.slice(0, at).trim(), text = flag.slice(at + 1).trim();
    if (at <= 0 || text === "") throw new UsageError(`--scorer-param takes name=value, got "${flag}"`);
    if (Object.hasOwn(params, name)) throw new UsageError(`--scorer-param ${name} is given twice`);
    const value = text === "true" ? true : text === "false" ? false : Number(text);
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new UsageError(`--scorer-param ${name}: "${text}" is neither a number nor true/false`);
    }
    params[name] = value;
  }
  return params;
}
