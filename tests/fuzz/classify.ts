/** The fuzzer's outcomes and the rule that sorts a parser's exception into clean-error or other-error. */

import { LukvError } from "../../src/backend/errors.ts";

/** What one input did. */
export type Outcome = "accepted" | "clean-error" | "other-error" | "hang" | "crash";

/** Every outcome, in table order. */
export const OUTCOMES: readonly Outcome[] = ["accepted", "clean-error", "other-error", "hang", "crash"];

/**
 * The classification rule. A `LukvError` is clean (the project's error for a malformed
 * file, which names the op and the file or field). A `RangeError` or `TypeError` is clean
 * only when its message names one of the input's files (`fileNames`, e.g. "config.json"),
 * as argument validation does. Anything else (a raw TypeError from deep inside, "Invalid
 * array length", "Array buffer allocation failed", "Maximum call stack size exceeded", a
 * SyntaxError, a thrown non-Error) is other-error.
 *
 * @example
 * ```ts
 * classifyError(new RangeError("Invalid array length"), ["fuzz.npy"]); // "other-error"
 * ```
 */
export function classifyError(error: unknown, fileNames: readonly string[]): "clean-error" | "other-error" {
  if (error instanceof LukvError) return "clean-error";
  if (
    (error instanceof RangeError || error instanceof TypeError) &&
    fileNames.some((name) => error.message.includes(name))
  ) {
    return "clean-error";
  }
  return "other-error";
}

/**
 * An error's name and message, and for an error other than LukvError the first two stack
 * frames (shortened), so a report says where a raw exception came from.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `thrown ${typeof error}: ${String(error)}`;
  const text = `${error.name}: ${
    error.message.length > 300 ? `${error.message.slice(0, 300)}…` : error.message
  }`;
  if (error instanceof LukvError) return text;
  const frames = (error.stack ?? "").split("\n").filter((line) => line.trim().startsWith("at ")).slice(0, 2)
    .map((line) =>
      line.trim().slice(3)
        .replace(/file:\/\/\S*\/registry\.npmjs\.org\//, "npm:")
        .replace(/file:\/\/\S*?\/(src|tests)\//, "$1/")
    );
  return frames.length === 0 ? text : `${text} [at ${frames.join(" < ")}]`;
}
