/** The one error type of lukv's native layer: which op failed, its status code, why. */

/** Status codes of `ffi/lukv.h`, by name. */
export const STATUS = {
  OK: 0,
  INVALID_ARGUMENT: 1,
  SHAPE: 2,
  DTYPE: 3,
  OUT_OF_MEMORY: 4,
  NOT_ALLOCATED: 5,
  UNSUPPORTED: 6,
  DEVICE: 7,
  IO: 8,
  /** TypeScript side only: the library could not be found, built or loaded. */
  LOAD: 100,
  /** TypeScript side only: a tensor or device was used after `close()`. */
  CLOSED: 101,
  /** TypeScript side only: a malformed or inconsistent file: safetensors, config, tokenizer, profile. */
  FORMAT: 102,
  /** TypeScript side only: a file the call needs (a profile, a model file) does not exist. */
  NOT_FOUND: 103,
} as const;

/** A status code name, e.g. `"SHAPE"`. */
export type StatusName = keyof typeof STATUS;

const NAMES = new Map<number, StatusName>(
  Object.entries(STATUS).map(([name, code]) => [code, name as StatusName]),
);

/**
 * A failure reported by a native op (or by the TypeScript layer on its behalf).
 *
 * @example
 * ```ts
 * try {
 *   dev.matmul(y, x, w);
 * } catch (e) {
 *   if (e instanceof LukvError && e.codeName === "SHAPE") console.error(e.op, e.message);
 * }
 * ```
 */
export class LukvError extends Error {
  /** The ABI function or TypeScript operation that failed, e.g. `"lukv_matmul"`. */
  readonly op: string;
  /** The numeric status (see {@linkcode STATUS}). */
  readonly code: number;

  /**
   * Creates the error; the message is prefixed with `op` unless it already starts with it.
   *
   * @param op the failing operation
   * @param code the status (see {@linkcode STATUS})
   * @param message why it failed
   */
  constructor(op: string, code: number, message: string) {
    super(message.startsWith(op) ? message : `${op}: ${message}`);
    this.name = "LukvError";
    this.op = op;
    this.code = code;
  }

  /** The status code's name, e.g. `"SHAPE"` (`"UNKNOWN"` for a code lukv does not define). */
  get codeName(): StatusName | "UNKNOWN" {
    return NAMES.get(this.code) ?? "UNKNOWN";
  }
}
