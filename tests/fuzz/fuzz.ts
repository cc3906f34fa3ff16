/**
 * `deno task fuzz`: deterministic mutational fuzzing of lukv's file parsers (safetensors,
 * config.json, tokenizer files, chat templates, .npy, profiles), each input classified as
 * accepted, clean-error, other-error, hang or crash.
 *
 * Usage: deno task fuzz [--parser NAME|all] [--count N] [--seed S] [--timeout-ms MS]
 *                       [--out report.md] [--strict] [--index I [--dump DIR]]
 */

import { fuzzParser, type ParserResult } from "./harness.ts";
import { markdownReport, resultTable } from "./report.ts";
import { Rng } from "./mutate.ts";
import { targetByName, TARGETS } from "./targets.ts";

const USAGE =
  "usage: deno task fuzz [--parser NAME|all] [--count N (per parser, default 10000)] [--seed S] " +
  "[--timeout-ms MS (default 2000)] [--out report.md] [--strict] [--index I [--dump DIR]]";

interface Args {
  parsers: string[];
  count: number;
  seed: string;
  timeoutMs: number;
  out?: string;
  strict: boolean;
  index?: number;
  dump?: string;
}

function usageError(message: string): never {
  console.error(`fuzz: ${message}\n${USAGE}`);
  Deno.exit(2);
}

function positiveInteger(flag: string, text: string | undefined, allowZero = false): number {
  const n = Number(text);
  if (text === undefined || !Number.isSafeInteger(n) || n < (allowZero ? 0 : 1)) {
    usageError(
      `${flag} needs a ${allowZero ? "non-negative" : "positive"} integer, got ${text ?? "nothing"}`,
    );
  }
  return n;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    parsers: TARGETS.map((t) => t.name),
    count: 10_000,
    seed: "1",
    timeoutMs: 2000,
    strict: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => argv[++i];
    switch (flag) {
      case "--parser": {
        const name = value();
        if (name === undefined) usageError("--parser needs a name");
        if (name !== "all") {
          try {
            args.parsers = name.split(",").map((n) => targetByName(n).name);
          } catch (e) {
            usageError((e as Error).message);
          }
        }
        break;
      }
      case "--count":
        args.count = positiveInteger(flag, value());
        break;
      case "--seed":
        args.seed = value() ?? usageError("--seed needs a value");
        break;
      case "--timeout-ms":
        args.timeoutMs = positiveInteger(flag, value());
        break;
      case "--out":
        args.out = value() ?? usageError("--out needs a path");
        break;
      case "--strict":
        args.strict = true;
        break;
      case "--index":
        args.index = positiveInteger(flag, value(), true);
        break;
      case "--dump":
        args.dump = value() ?? usageError("--dump needs a folder");
        break;
      case "--help":
      case "-h":
        console.log(USAGE);
        Deno.exit(0);
        break;
      default:
        usageError(`unknown argument ${flag}`);
    }
  }
  if (args.dump !== undefined && args.index === undefined) usageError("--dump needs --index");
  return args;
}

/** `nproc` and the CPU model, read through a shell (Deno asks --allow-all for /proc/cpuinfo itself). */
async function machine(): Promise<string> {
  const shell = async (script: string) => {
    try {
      const { stdout } = await new Deno.Command("sh", { args: ["-c", script], stderr: "null" }).output();
      return new TextDecoder().decode(stdout).trim();
    } catch {
      return "";
    }
  };
  const cpus = await shell("nproc");
  const model = (await shell("grep -m1 '^model name' /proc/cpuinfo")).replace(/^model name\s*:\s*/, "");
  return `nproc ${cpus || "?"}, ${
    model || "unknown CPU"
  }, ${Deno.build.os}/${Deno.build.arch}, Deno ${Deno.version.deno}`;
}

/** Writes input `index`'s files under `dir` (to replay it by hand). */
async function dumpInput(parser: string, seed: string, index: number, dir: string): Promise<void> {
  const target = targetByName(parser);
  const input = target.generate(new Rng(seed, parser, index), await target.seeds());
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(input.files)) await Deno.writeFile(`${dir}/${name}`, bytes);
  console.log(`${parser} #${index} from ${input.seed}: ${input.steps.join("; ")}`);
  console.log(`wrote ${Object.keys(input.files).join(", ")} to ${dir}`);
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const from = args.index ?? 0;
  const count = args.index === undefined ? args.count : 1;
  if (args.dump !== undefined) {
    for (const parser of args.parsers) await dumpInput(parser, args.seed, from, `${args.dump}/${parser}`);
  }
  const results: ParserResult[] = [];
  for (const parser of args.parsers) {
    let last = 0;
    const result = await fuzzParser({
      parser,
      seed: args.seed,
      count,
      from,
      timeoutMs: args.timeoutMs,
      onInput: (done) => {
        if (Deno.stderr.isTerminal() && (done - last >= 250 || done === count)) {
          last = done;
          Deno.stderr.writeSync(new TextEncoder().encode(`\r${parser}: ${done}/${count}`));
        }
      },
    });
    if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
    results.push(result);
    if (args.index !== undefined) {
      for (const f of [...result.findings, ...result.slowest].slice(0, 1)) {
        console.log(
          `${parser} #${f.index} from ${f.seed}: ${f.steps.join("; ")}\n  ${f.outcome}: ${f.message}`,
        );
      }
    }
  }
  console.log(resultTable(results));
  const nonClean = results.reduce((a, r) => a + r.counts["other-error"] + r.counts.hang + r.counts.crash, 0);
  if (args.out !== undefined) {
    const report = markdownReport(results, {
      command: `deno task fuzz ${argv.join(" ")}`.trim(),
      seed: args.seed,
      timeoutMs: args.timeoutMs,
      date: new Date().toISOString(),
      machine: await machine(),
    });
    await Deno.writeTextFile(args.out, report);
    console.log(`report: ${args.out}`);
  }
  if (args.strict && nonClean > 0) {
    console.error(`fuzz: ${nonClean} inputs were neither accepted nor a clean error (--strict)`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
