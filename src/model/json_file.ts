/** The JSON files of a model folder: reading them, and one clear line per bad field when zod refuses them. */

import type { ZodIssue } from "zod";
import { LukvError, STATUS } from "../backend/errors.ts";

/**
 * Joins a folder and a file name with `/` (which Deno accepts on every platform).
 *
 * @example
 * ```ts
 * joinPath("models/tiny/", "config.json"); // "models/tiny/config.json"
 * ```
 */
export function joinPath(dir: string, name: string): string {
  return dir === "" ? name : `${dir.replace(/[\\/]+$/, "")}/${name}`;
}

/**
 * Reads and parses `dir/name` as JSON. A missing file is `undefined` when `optional`,
 * otherwise a LukvError (FORMAT); text that is not JSON is always a LukvError naming the file.
 *
 * @example
 * ```ts
 * const raw = await readJsonFile("config", "models/tiny", "config.json");
 * const extra = await readJsonFile("tokenizer", dir, "tokenizer_config.json", { optional: true });
 * ```
 */
export async function readJsonFile(
  op: string,
  dir: string,
  name: string,
  options: { optional?: boolean } = {},
): Promise<unknown> {
  const text = await readTextFile(op, dir, name, options);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LukvError(op, STATUS.FORMAT, `${name} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Reads `dir/name` as UTF-8 text; a missing file is `undefined` when `optional`,
 * otherwise a LukvError (FORMAT) that names the file and folder.
 *
 * @example
 * ```ts
 * const template = await readTextFile("tokenizer", dir, "chat_template.jinja", { optional: true });
 * ```
 */
export async function readTextFile(
  op: string,
  dir: string,
  name: string,
  options: { optional?: boolean } = {},
): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(joinPath(dir, name));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (options.optional) return undefined;
      throw new LukvError(op, STATUS.FORMAT, `${name} is missing from ${dir}`);
    }
    throw new LukvError(op, STATUS.FORMAT, `${name} in ${dir} cannot be read: ${(error as Error).message}`);
  }
}

/**
 * A JSON value in an error message: short, and "nothing" for undefined.
 *
 * @example
 * ```ts
 * describeValue(-2); // "-2"
 * describeValue(undefined); // "nothing"
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Too deep (or cyclic) to print: the error is about the field, so say what kind of value it is.
    text = Array.isArray(value) ? "a nested list too deep to print" : `a ${typeof value} too deep to print`;
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * A field path as written in a JSON file: `rope_scaling.factor`, `eos_token_id[1]`.
 *
 * @example
 * ```ts
 * fieldName(["eos_token_id", 1]); // "eos_token_id[1]"
 * ```
 */
export function fieldName(path: readonly (string | number)[]): string {
  return path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? key : `.${key}`).join("");
}

/**
 * Turns zod issues into one line per bad field, each naming the file, the field, what was
 * expected (the issue's message) and the value found in `raw`:
 * "config.json: field `num_key_value_heads`: expected a positive integer, got -2".
 *
 * @example
 * ```ts
 * const parsed = schema.safeParse(raw);
 * if (!parsed.success) throw new LukvError("config", STATUS.FORMAT, issueLines("config.json", parsed.error.issues, raw).join("\n"));
 * ```
 */
export function issueLines(file: string, issues: readonly ZodIssue[], raw: unknown): string[] {
  return issues.map((issue) => {
    const value = valueAt(raw, issue.path);
    if (issue.path.length === 0) return `${file}: ${issue.message}, got ${describeValue(value)}`;
    const field = fieldName(issue.path);
    if (value === undefined) return `${file}: field \`${field}\` is missing (${issue.message})`;
    return `${file}: field \`${field}\`: ${issue.message}, got ${describeValue(value)}`;
  });
}

function valueAt(raw: unknown, path: readonly (string | number)[]): unknown {
  let value = raw;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}
