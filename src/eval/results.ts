/** Evaluation results: one cell per JSONL line, appended as they finish, read back to resume or report. */

import { LukvError, STATUS } from "../backend/errors.ts";

/** Which run a cell belongs to: cells of different runs never share a results file. */
export interface RunIdentity {
  /** The model folder, as given. */
  model: string;
  /** Requested prompt length in tokens. */
  length: number;
  /** Sample seed (evaluation split). */
  seed: number;
}

/** Wall-clock costs of one cell, kept apart from the results so runs can be compared without them. */
export interface CellTimings {
  /** The sample's dense context prefill, scoring excluded (shared by every cell of the sample). */
  prefillMs: number;
  /** Gathering this press's scorer statistics and scoring, over all layers (shared by presses with that scorer). */
  scoreMs: number;
  /** Allocating, selecting and copying the kept tokens into the ragged cache. */
  compactMs: number;
  /** Appending the question and answer prefix to the cache (one forward). */
  questionMs: number;
  /** Decoding the answer after the first token. */
  decodeMs: number;
  /** Decode steps per second (0 when only one token was generated). */
  decodeTokensPerSecond: number;
}

/**
 * How a cell compressed: `agnostic` compresses the context alone and then appends the
 * question (kvpress's query-agnostic protocol, the default); `aware` compresses the
 * context and question together, after their full-cache prefill.
 */
export type Protocol = "agnostic" | "aware";

/** Every protocol, in report order. */
export const PROTOCOLS: readonly Protocol[] = ["agnostic", "aware"];

/**
 * One (task, sample, press, ratio, protocol) result. `full` has ratio 0 and zero KL and error.
 *
 * @example
 * ```ts
 * const cell: EvalCell = {
 *   model: "models/tiny", length: 1984, seed: 0, task: "needle", sample: 3, press: "snapkv", ratio: 0.8, scorer: "snapkv",
 *   contextTokens: 1960, questionTokens: 18, output: " 482913.", newTokens: 4, correct: true,
 *   kl: 0.021, attentionError: 0.12, kept: 0.2, kvBytes: 1_300_000, kvBytesFull: 4_100_000,
 *   timings: { prefillMs: 2100, scoreMs: 60, compactMs: 12, questionMs: 40, decodeMs: 9, decodeTokensPerSecond: 330 },
 * };
 * ```
 */
export interface EvalCell extends RunIdentity {
  /** Task name. */
  task: string;
  /** Sample index within the task. */
  sample: number;
  /** Press label, e.g. `snapkv` or `lukv-snapkv`. */
  press: string;
  /** Compression ratio (fraction of context KV pairs removed). */
  ratio: number;
  /** The protocol (absent in rows written before there were two: agnostic). */
  mode?: Protocol;
  /** The press's token scorer (`none` for `full`), to compare presses that rank tokens alike. */
  scorer: string;
  /** The scorer's parameters in effect (absent for `full`, and in rows written before they were recorded). */
  scorerParams?: Record<string, number | boolean | string>;
  /** Context tokens (BOS included). */
  contextTokens: number;
  /** Question + answer prefix tokens. */
  questionTokens: number;
  /** The decoded answer. */
  output: string;
  /** Tokens generated (EOS not counted). */
  newTokens: number;
  /** Whether the output contains every expected answer. */
  correct: boolean;
  /** KL divergence (nats) of the first answer token's distribution, full cache vs this one. */
  kl: number;
  /** Attention-output relative error at the question's last token, averaged over layers. */
  attentionError: number;
  /** Fraction of the context's KV pairs kept, over every layer and head. */
  kept: number;
  /** Bytes the cache really held after decoding (room for the question and answer included). */
  kvBytes: number;
  /** Bytes of a full cache of the same tokens and room. */
  kvBytesFull: number;
  /** Costs; not part of the result proper. */
  timings: CellTimings;
}

/**
 * The identity of a cell within its run.
 *
 * @example
 * ```ts
 * cellKey({ task: "needle", sample: 0, press: "snapkv", ratio: 0.8 }); // "needle\t0\tsnapkv\t0.8"
 * cellKey({ task: "needle", sample: 0, press: "snapkv", ratio: 0.8, mode: "aware" }); // "...\t0.8\taware"
 * ```
 */
export function cellKey(cell: Pick<EvalCell, "task" | "sample" | "press" | "ratio" | "mode">): string {
  const key = `${cell.task}\t${cell.sample}\t${cell.press}\t${cell.ratio}`;
  return cell.mode === "aware" ? `${key}\taware` : key;
}

/**
 * The cells with each query-aware press labelled `<press> [aware]`, so that reports,
 * summaries and paired tests show the two protocols side by side as distinct presses.
 *
 * @example
 * ```ts
 * byProtocol(cells).map((c) => c.press); // ["full", "snapkv", "snapkv [aware]", ...]
 * ```
 */
export function byProtocol(cells: readonly EvalCell[]): EvalCell[] {
  return cells.map((cell) => cell.mode === "aware" ? { ...cell, press: `${cell.press} [aware]` } : cell);
}

/**
 * Parses a results file's text: one cell per line. A last line without its newline is
 * a cell cut short by an interruption and is left out; any other bad line is an error
 * naming it.
 *
 * @example
 * ```ts
 * const cells = parseResults(await Deno.readTextFile("results.jsonl"), "results.jsonl");
 * ```
 */
export function parseResults(text: string, name = "results"): EvalCell[] {
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  return complete.split("\n").slice(0, -1).map((line, i) => {
    try {
      const cell = JSON.parse(line) as EvalCell;
      if (
        typeof cell.task !== "string" || typeof cell.press !== "string" || typeof cell.correct !== "boolean"
      ) {
        throw new Error("not an evaluation cell");
      }
      return cell;
    } catch (e) {
      throw new LukvError("results", STATUS.FORMAT, `${name}, line ${i + 1}: ${(e as Error).message}`);
    }
  });
}

/**
 * Reads a results file (missing: no cells). A path ending in `.gz` is gunzipped first,
 * so published sweeps can be stored compressed (docs/results/tiny/results.jsonl.gz).
 *
 * @example
 * ```ts
 * const cells = await readResults("results.jsonl");
 * ```
 */
export async function readResults(path: string): Promise<EvalCell[]> {
  try {
    if (!path.endsWith(".gz")) return parseResults(await Deno.readTextFile(path), path);
    const gzipped = new Blob([await Deno.readFile(path)]).stream();
    const text = await new Response(gzipped.pipeThrough(new DecompressionStream("gzip"))).text();
    return parseResults(text, path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * An open results file of one run: the cells already in it, and appending new ones,
 * one line each, written through at once so an interruption loses at most the cell in
 * flight. Opening drops a last line cut short, and refuses a file of another run.
 *
 * @example
 * ```ts
 * using results = await ResultsFile.open("results.jsonl", { model: "models/tiny", length: 1984, seed: 0 });
 * if (!results.has(cell)) results.append(cell);
 * ```
 */
export class ResultsFile implements Disposable {
  readonly #done: Set<string>;

  private constructor(
    readonly path: string,
    readonly run: RunIdentity,
    /** The cells read at opening. */
    readonly cells: EvalCell[],
    readonly file: Deno.FsFile,
  ) {
    this.#done = new Set(cells.map(cellKey));
  }

  /** Opens (or creates) `path` for `run`. */
  static async open(path: string, run: RunIdentity): Promise<ResultsFile> {
    let text = "";
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const cells = parseResults(text, path);
    const other = cells.find((c) => c.model !== run.model || c.length !== run.length || c.seed !== run.seed);
    if (other) {
      throw new LukvError(
        "results",
        STATUS.INVALID_ARGUMENT,
        `${path} holds cells of another run (model ${other.model}, length ${other.length}, seed ${other.seed}); ` +
          `this run is model ${run.model}, length ${run.length}, seed ${run.seed}: use another --out`,
      );
    }
    const file = await Deno.open(path, { create: true, read: true, write: true });
    try {
      const complete = new TextEncoder().encode(text.slice(0, text.lastIndexOf("\n") + 1)).length;
      await file.truncate(complete);
      await file.seek(complete, Deno.SeekMode.Start);
    } catch (e) {
      file.close();
      throw e;
    }
    return new ResultsFile(path, run, cells, file);
  }

  /** Whether the cell is already in the file. */
  has(cell: Pick<EvalCell, "task" | "sample" | "press" | "ratio" | "mode">): boolean {
    return this.#done.has(cellKey(cell));
  }

  /** Appends one cell as one line. */
  append(cell: EvalCell): void {
    let bytes = new TextEncoder().encode(JSON.stringify(cell) + "\n");
    while (bytes.length > 0) bytes = bytes.subarray(this.file.writeSync(bytes));
    this.#done.add(cellKey(cell));
    this.cells.push(cell);
  }

  /** Closes the file. */
  close(): void {
    this.file.close();
  }

  /** Called by `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
