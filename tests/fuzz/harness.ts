/** The fuzzer's parent side: runs a parser's inputs in a runner subprocess, times each out, restarts after a hang or crash. */

import { TextLineStream } from "./lines.ts";
import { type Outcome, OUTCOMES } from "./classify.ts";
import { type EndLine, LINE_PREFIX, type StartLine } from "./runner.ts";

/** One input that was neither accepted nor a clean error, or one of the slowest. */
export interface InputRecord {
  /** The parser. */
  parser: string;
  /** The input's index (with the run's seed, it regenerates the input). */
  index: number;
  /** What it did. */
  outcome: Outcome;
  /** Parse time in ms (the timeout for a hang). */
  ms: number;
  /** The seed file it was derived from. */
  seed: string;
  /** The edits that made it. */
  steps: string[];
  /** Its size in bytes. */
  bytes: number;
  /** The error, exit status or timeout. */
  message: string;
}

/** What one parser's run found. */
export interface ParserResult {
  /** The parser. */
  parser: string;
  /** Inputs run. */
  inputs: number;
  /** Inputs per outcome. */
  counts: Record<Outcome, number>;
  /** Every hang and crash, and the other-errors (at most `keep`). */
  findings: InputRecord[];
  /** The slowest inputs, slowest first. */
  slowest: InputRecord[];
  /** Wall time of the whole parser run, in seconds (runner start-ups included). */
  seconds: number;
  /** Runner processes started. */
  starts: number;
}

/** Options of {@linkcode fuzzParser}. */
export interface FuzzOptions {
  /** The parser's name (see `TARGETS`). */
  parser: string;
  /** The run's seed. */
  seed: string;
  /** Inputs to run, from `from`. */
  count: number;
  /** The first input's index (default 0). */
  from?: number;
  /** Per-input limit in ms (default 2000). */
  timeoutMs?: number;
  /** Other-errors kept in `findings` (default 2000). */
  keep?: number;
  /** Called after each input. */
  onInput?: (done: number) => void;
}

const RUNNER = new URL("./runner.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
/** Heap cap of a runner: an input that allocates without bound dies fast instead of swapping a shared machine. */
const RUNNER_HEAP_MB = 2048;
const START_TIMEOUT_MS = 60_000;
const SLOWEST = 5;

type Line = { kind: "S"; body: StartLine } | { kind: "E"; body: EndLine } | { kind: "D" };

/** One runner process and its protocol lines. */
class Runner {
  readonly #child: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  #stderr = "";
  readonly #stderrDone: Promise<void>;

  constructor(parser: string, seed: string, from: number, to: number, dir: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        `--config=${ROOT}deno.json`,
        "--allow-read",
        "--allow-write",
        `--v8-flags=--max-old-space-size=${RUNNER_HEAP_MB}`,
        RUNNER,
        parser,
        seed,
        String(from),
        String(to),
        dir,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())[
      Symbol.asyncIterator
    ]();
    const stderr = this.#child.stderr;
    this.#stderrDone = (async () => {
      for await (const chunk of stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr = (this.#stderr + chunk).slice(-4000);
      }
    })();
  }

  /** The next protocol line; "eof" when the process closed stdout; "timeout" after `ms`. */
  async next(ms: number): Promise<Line | "eof" | "timeout"> {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms));
      const result = await Promise.race([this.#lines.next(), timeout]);
      clearTimeout(timer);
      if (result === "timeout") return "timeout";
      if (result.done) return "eof";
      const line = result.value;
      if (!line.startsWith(LINE_PREFIX)) continue;
      const kind = line[LINE_PREFIX.length] as "S" | "E" | "D";
      const body = JSON.parse(line.slice(LINE_PREFIX.length + 2));
      return { kind, body } as Line;
    }
  }

  /** Kills the process (if alive) and returns how it ended and its last stderr. */
  async stop(kill: boolean): Promise<string> {
    if (kill) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    const status = await this.#child.status;
    await this.#lines.return?.();
    await this.#stderrDone.catch(() => {});
    const how = status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
    const tail = this.#stderr.trim().split("\n").slice(-6).join(" | ");
    return tail === "" ? how : `${how}; stderr: ${tail}`;
  }
}

/**
 * Runs inputs `from..from+count` of one parser in runner subprocesses. Each input gets
 * `timeoutMs` from the runner's `S` line to its `E` line; past it the runner is killed
 * (a hang), and a runner that exits between the two lines is a crash (OOM included).
 * Either way a fresh runner continues from the next input.
 *
 * @example
 * ```ts
 * const result = await fuzzParser({ parser: "config", seed: "1", count: 100 });
 * console.log(result.counts.hang, result.counts.crash);
 * ```
 */
export async function fuzzParser(options: FuzzOptions): Promise<ParserResult> {
  const { parser, seed, count, from = 0, timeoutMs = 2000, keep = 2000 } = options;
  const end = from + count;
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const findings: InputRecord[] = [];
  let slowest: InputRecord[] = [];
  const dir = await Deno.makeTempDir({ prefix: "lukv-fuzz-" });
  const started = performance.now();
  let starts = 0;
  let next = from;

  const record = (start: StartLine, outcome: Outcome, ms: number, message: string) => {
    counts[outcome]++;
    const entry: InputRecord = {
      parser,
      index: start.index,
      outcome,
      ms,
      seed: start.seed,
      steps: start.steps,
      bytes: start.bytes,
      message,
    };
    if (outcome === "hang" || outcome === "crash" || (outcome === "other-error" && counts[outcome] <= keep)) {
      findings.push(entry);
    }
    if (slowest.length < SLOWEST || ms > slowest[slowest.length - 1].ms) {
      slowest = [...slowest, entry].sort((a, b) => b.ms - a.ms).slice(0, SLOWEST);
    }
    next = start.index + 1;
    options.onInput?.(next - from);
  };

  try {
    while (next < end) {
      const runner = new Runner(parser, seed, next, end, dir);
      starts++;
      let waitMs = START_TIMEOUT_MS;
      let current: StartLine | undefined;
      let ended = false;
      while (!ended) {
        const line = await runner.next(current === undefined ? waitMs : timeoutMs);
        if (line === "timeout" || line === "eof") {
          const how = await runner.stop(line === "timeout");
          if (current === undefined) {
            // Between inputs: the runner could not start or generate; nothing to blame an input for.
            if (next >= end) break;
            throw new Error(`the fuzz runner for ${parser} stopped before input ${next}: ${how}`);
          }
          if (line === "timeout") {
            record(current, "hang", timeoutMs, `no answer within ${timeoutMs} ms (${how})`);
          } else record(current, "crash", 0, how);
          ended = true;
        } else if (line.kind === "S") {
          current = line.body;
        } else if (line.kind === "E") {
          record(current!, line.body.outcome, line.body.ms, line.body.message ?? "");
          current = undefined;
          waitMs = START_TIMEOUT_MS;
        } else {
          await runner.stop(false);
          ended = true;
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return {
    parser,
    inputs: next - from,
    counts,
    findings,
    slowest,
    seconds: (performance.now() - started) / 1000,
    starts,
  };
}
