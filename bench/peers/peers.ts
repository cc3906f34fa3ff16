/**
 * lukv against llama.cpp on the CPU, same model, same tokens, same threads. A random
 * Llama (bench/synthetic_model.ts) is written as safetensors for lukv and converted to
 * GGUF (tools/gguf) for llama.cpp, which runs through node-llama-cpp's prebuilt CPU
 * binaries under Node (tools/peers; `npm ci` runs on first use). For f32 and f16 weights,
 * each round runs both engines in fresh processes, alternating which goes first, and
 * reports per-round ratios lukv / llama.cpp (median and range) of decode and prefill
 * tokens/s, load seconds and peak RSS, and where their greedy tokens first differ.
 * Then a lukv-only long run (bench/peers/long_run.ts): decode after a long prompt with
 * the full cache against snapkv, adakv and lukv (a uniform stand-in profile) at 0.8, each
 * compressing one shared prefill, with the speed-up set against the ratio of bytes read
 * per decoded token (weights + KV cache).
 *
 * ```sh
 * deno task bench:peers [--quick] [--threads 2] [--rounds 3] [--long-prompt 16384] [--out FILE.md]
 * ```
 *
 * @module
 */

import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { uniformProfile, writeProfile } from "../../src/lukv/profile.ts";
import { convertToGguf } from "../../tools/gguf/convert.ts";
import { BENCH_SHAPE, type SyntheticShape, writeSyntheticModel } from "../synthetic_model.ts";
import { medianRange } from "../stats.ts";
import type { LongRunEntry } from "./long_run.ts";
import type { PeerRun } from "./lukv_run.ts";

/** The default peer shape: about 246M parameters, Llama-2-like proportions at 1/4 width. */
const PEER_SHAPE: SyntheticShape = {
  hidden: 1024,
  layers: 16,
  heads: 16,
  kvHeads: 4,
  intermediate: 2816,
  vocab: 32000,
  maxPositions: 4096,
};
/** `--quick`: small enough for a smoke run in seconds. */
const QUICK_SHAPE: SyntheticShape = {
  hidden: 256,
  layers: 4,
  heads: 8,
  kvHeads: 2,
  intermediate: 688,
  vocab: 2048,
  maxPositions: 4096,
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    threads: { type: "string", default: "2" },
    rounds: { type: "string" },
    "long-prompt": { type: "string" },
    out: { type: "string" },
  },
});
const quick = values.quick;
const threads = Number(values.threads), rounds = Number(values.rounds ?? (quick ? 1 : 3));
const shape = quick ? QUICK_SHAPE : PEER_SHAPE;
const promptLength = quick ? 64 : 512, newTokens = quick ? 16 : 128;
const longPrompt = Number(values["long-prompt"] ?? (quick ? 2048 : 16384)), longNew = quick ? 16 : 64;
// Decode rounds after the one shared long prefill: seconds each, so more of them than of the peer rounds.
const longRounds = quick ? 1 : 5;
for (const [name, n] of [["threads", threads], ["rounds", rounds], ["long-prompt", longPrompt]] as const) {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer`);
}

const root = new URL("../../", import.meta.url).pathname;
const peersDir = `${root}tools/peers`;
const BOS = 285; // the synthetic model's tokenizer (tests/fixtures/models/llama-llama3rope)

/** Installs node-llama-cpp (pinned in tools/peers/package-lock.json) when it is missing. */
async function ensurePeers(): Promise<void> {
  if (existsSync(`${peersDir}/node_modules/node-llama-cpp/package.json`)) return;
  console.error("installing node-llama-cpp into tools/peers (npm ci)...");
  const { success } = await new Deno.Command("npm", {
    args: ["ci", "--prefix", peersDir, "--no-audit", "--no-fund"],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!success) throw new Error("npm ci --prefix tools/peers failed: the llama.cpp side needs Node and npm");
}

/** Deterministic prompt ids: BOS, then xorshift draws over the vocabulary. */
function promptIds(length: number, vocab: number): number[] {
  let state = 0x9e3779b9;
  return Array.from({ length }, (_, i) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return i === 0 ? BOS : (state >>> 0) % vocab;
  });
}

/** Runs one child and parses the JSON line it prints last. */
// deno-lint-ignore no-explicit-any
async function runChild(command: string, args: string[]): Promise<any> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OMP_") && !k.startsWith("GOMP_")),
  );
  const output = await new Deno.Command(command, {
    args,
    env: { ...env, OMP_NUM_THREADS: String(threads) },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(stdout.split("\n").at(-1)!);
}

const lukv = (dir: string, promptFile: string, n: number) =>
  runChild(Deno.execPath(), [
    "run",
    "-A",
    `${root}bench/peers/lukv_run.ts`,
    "--model",
    dir,
    "--prompt-file",
    promptFile,
    "--new",
    String(n),
  ]);
// llama.cpp's KV cache in the weights' dtype: f32 like lukv's for f32 weights, its own default f16 otherwise.
const llamaCpp = (gguf: string, promptFile: string, n: number, kvType: string) =>
  runChild("node", [
    `${peersDir}/llama_cpp.mjs`,
    "--model",
    gguf,
    "--prompt-file",
    promptFile,
    "--new",
    String(n),
    "--threads",
    String(threads),
    "--kv-type",
    kvType,
  ]);

const cell = (xs: number[], digits = 2) => xs.length === 1 ? xs[0].toFixed(digits) : medianRange(xs, digits);
const firstDifference = (a: number[], b: number[]) => {
  const i = a.findIndex((t, k) => t !== b[k]);
  return i === -1 ? (a.length === b.length ? null : Math.min(a.length, b.length)) : i;
};
const parameters = (s: SyntheticShape) => {
  const headDim = s.hidden / s.heads;
  const layer = 2 * s.hidden + s.hidden * headDim * (2 * s.heads + 2 * s.kvHeads) +
    3 * s.hidden * s.intermediate;
  return 2 * s.vocab * s.hidden + s.hidden + s.layers * layer;
};

await ensurePeers();
const work = await Deno.makeTempDir({ prefix: "lukv_peers_" });
const lines: string[] = [];
const say = (line = "") => {
  console.log(line);
  lines.push(line);
};
// The machine's state, so a reader can judge the noise: 1/5/15-minute load averages and the commit.
const loadAverage = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const commit = new TextDecoder().decode(
  (await new Deno.Command("git", { args: ["-C", root, "rev-parse", "--short", "HEAD"], stdout: "piped" })
    .output())
    .stdout,
).trim();
say(`commit ${commit}; load average at start ${loadAverage()}`);
try {
  const promptFile = `${work}/prompt.json`;
  await Deno.writeTextFile(promptFile, JSON.stringify(promptIds(promptLength, shape.vocab)));
  say(
    `model: random Llama, hidden ${shape.hidden}, ${shape.layers} layers, ${shape.heads}/${shape.kvHeads} heads, ` +
      `MLP ${shape.intermediate}, vocab ${shape.vocab} (${
        (parameters(shape) / 1e6).toFixed(0)
      }M parameters); ` +
      `${promptLength} prompt tokens, ${newTokens} greedy new tokens, ${threads} thread(s), ${rounds} round(s)`,
  );
  say();
  say(
    "| weights | lukv decode tok/s | llama.cpp decode tok/s | decode ratio | prefill ratio | load ratio | peak RSS ratio | first differing token |",
  );
  say("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const dtype of ["f32", "f16"] as const) {
    const dir = `${work}/${dtype}`, gguf = `${work}/${dtype}.gguf`;
    await Deno.mkdir(dir);
    await writeSyntheticModel(dir, shape, { dtype });
    await convertToGguf(dir, gguf, { dtype });
    const ours: PeerRun[] = [], theirs: PeerRun[] = [];
    for (let round = 0; round < rounds; round++) {
      // Alternate who goes first, so a machine that gets busier or quieter hits both alike.
      const pair = [
        async () => ours.push(await lukv(dir, promptFile, newTokens)),
        async () => theirs.push(await llamaCpp(gguf, promptFile, newTokens, dtype.toUpperCase())),
      ];
      if (round % 2 === 1) pair.reverse();
      for (const run of pair) await run();
      console.error(
        `${dtype} round ${round + 1}: lukv ${ours.at(-1)!.decodeTokensPerSecond.toFixed(1)} tok/s, ` +
          `llama.cpp ${theirs.at(-1)!.decodeTokensPerSecond.toFixed(1)} tok/s`,
      );
    }
    const ratio = (f: (r: PeerRun) => number) => ours.map((o, i) => f(o) / f(theirs[i]));
    const differs = ours.map((o, i) => firstDifference(o.tokens, theirs[i].tokens));
    const agreement = differs.every((d) => d === null)
      ? `none (all ${newTokens} agree)`
      : [...new Set(differs.map((d) => d ?? "none"))].join(", ");
    say(
      `| ${dtype} | ${cell(ours.map((r) => r.decodeTokensPerSecond), 1)} | ${
        cell(theirs.map((r) => r.decodeTokensPerSecond), 1)
      } | ${cell(ratio((r) => r.decodeTokensPerSecond))} | ${
        cell(ratio((r) => r.prefillTokensPerSecond))
      } | ${cell(ratio((r) => r.loadSeconds))} | ${cell(ratio((r) => r.peakRssBytes))} | ${agreement} |`,
    );
    say(
      `<!-- ${dtype} raw: lukv ${JSON.stringify(ours.map(({ tokens: _, ...r }) => r))} llama.cpp ${
        JSON.stringify(theirs.map(({ tokens: _, ...r }) => r))
      } -->`,
    );
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(gguf);
  }

  // The long run: lukv alone, one prefill shared by every press (bench/peers/long_run.ts).
  const longShape = { ...(quick ? QUICK_SHAPE : BENCH_SHAPE), maxPositions: longPrompt + longNew + 64 };
  const longDir = `${work}/long`;
  await Deno.mkdir(longDir);
  await writeSyntheticModel(longDir, longShape, { dtype: "f32" });
  // lukv-snapkv's profile: a uniform stand-in gives the same budget total as a real profile,
  // and decode cost depends on the total, not on its spread over heads.
  const profile = uniformProfile({ id: "synthetic", layers: longShape.layers, kvHeads: longShape.kvHeads }, {
    name: "snapkv",
    params: {},
  });
  await Deno.writeTextFile(`${longDir}/lukv-snapkv.json`, writeProfile(profile));
  const longFile = `${work}/long.json`;
  await Deno.writeTextFile(longFile, JSON.stringify(promptIds(longPrompt, longShape.vocab)));
  const weightBytes = parameters(longShape) * 4;
  say();
  say(
    `long run (lukv only): ${longPrompt} prompt tokens, ${longNew} new, hidden ${longShape.hidden}, ` +
      `${longShape.layers} layers, ${longShape.kvHeads} KV heads, f32 (${
        (weightBytes / 2 ** 20).toFixed(0)
      } MiB of weights), ` +
      `presses at 0.8 compress one shared prefill, ${longRounds} interleaved decode round(s)`,
  );
  say();
  say(
    "| press | decode tok/s | KV MiB | speed-up vs full | bytes-read ratio | speed-up / bytes ratio |",
  );
  say("|---|---:|---:|---:|---:|---:|");
  const entries: LongRunEntry[] = await runChild(Deno.execPath(), [
    "run",
    "-A",
    `${root}bench/peers/long_run.ts`,
    "--model",
    longDir,
    "--prompt-file",
    longFile,
    "--new",
    String(longNew),
    "--ratio",
    "0.8",
    "--rounds",
    String(longRounds),
  ]);
  const full = entries[0];
  for (const run of entries) {
    // Bytes one decode step reads: every weight once, plus the whole cache it attends to.
    const bytesRatio = (weightBytes + full.kvBytes) / (weightBytes + run.kvBytes);
    const speedUps = run.decodeTokensPerSecond.map((r, i) => r / full.decodeTokensPerSecond[i]);
    say(
      `| ${run.press === "full" ? "full" : `${run.press} 0.8`} | ${cell(run.decodeTokensPerSecond, 1)} | ${
        (run.kvBytes / 2 ** 20).toFixed(1)
      } | ${cell(speedUps)} | ${bytesRatio.toFixed(2)} | ${cell(speedUps.map((x) => x / bytesRatio))} |`,
    );
  }
  say();
  say(`load average at end ${loadAverage()}`);
} finally {
  await Deno.remove(work, { recursive: true });
}
if (values.out) await Deno.writeTextFile(values.out, `${lines.join("\n")}\n`);
