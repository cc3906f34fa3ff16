/**
 * The fuzzer's subprocess: regenerates inputs `from..to` of one parser from the run's seed
 * and parses each, writing a line before (`S`) and after (`E`) every input on stdout, so
 * the parent can time it out or see that it crashed.
 *
 * Usage: deno run --allow-read --allow-write tests/fuzz/runner.ts PARSER SEED FROM TO DIR
 */

import { classifyError, describeError, type Outcome } from "./classify.ts";
import { Rng } from "./mutate.ts";
import { targetByName } from "./targets.ts";

/** Marks the runner's protocol lines among anything else a parser might print. */
export const LINE_PREFIX = "\u0001fuzz ";

/** The runner's report of one input before it is parsed. */
export interface StartLine {
  /** The input's index. */
  index: number;
  /** The seed it came from. */
  seed: string;
  /** The edits that made it. */
  steps: string[];
  /** Its total size in bytes. */
  bytes: number;
}

/** The runner's report of one input after it was parsed. */
export interface EndLine {
  /** The input's index. */
  index: number;
  /** accepted, clean-error or other-error (the parent adds hang and crash). */
  outcome: Outcome;
  /** Time spent parsing, in milliseconds. */
  ms: number;
  /** The error, for a non-accepted input (its first 600 characters). */
  message?: string;
}

const encoder = new TextEncoder();

function send(kind: "S" | "E" | "D", body: unknown): void {
  const line = encoder.encode(`${LINE_PREFIX}${kind} ${JSON.stringify(body)}\n`);
  for (let written = 0; written < line.length;) written += Deno.stdout.writeSync(line.subarray(written));
}

async function main(args: string[]): Promise<void> {
  const [parser, seedText, fromText, toText, dir] = args;
  const target = targetByName(parser);
  const seeds = await target.seeds();
  for (let index = Number(fromText); index < Number(toText); index++) {
    const input = target.generate(new Rng(seedText, parser, index), seeds);
    const bytes = Object.values(input.files).reduce((a, f) => a + f.length, 0);
    send("S", { index, seed: input.seed, steps: input.steps, bytes } satisfies StartLine);
    const start = performance.now();
    let end: EndLine;
    try {
      await target.run(input.files, dir, index);
      end = { index, outcome: "accepted", ms: performance.now() - start };
    } catch (error) {
      const ms = performance.now() - start;
      end = {
        index,
        outcome: classifyError(error, target.fileNames),
        ms,
        message: describeError(error).slice(0, 600),
      };
    }
    send("E", end);
  }
  send("D", {});
}

if (import.meta.main) await main(Deno.args);
