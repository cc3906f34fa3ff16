/**
 * Decode speed on the CPU when another process keeps a core busy, for each OpenMP
 * setting, against the same settings on a quiet machine. Each setting runs in a fresh
 * process (OpenMP reads its environment once, when the library loads); every round runs
 * each setting quiet and then busy, so a noisy machine hits both states alike. The table
 * gives median tokens/s with their range, and the median of each round's busy/quiet ratio
 * (the share of its speed a setting keeps when a core is taken).
 *
 * `--model` decodes another model folder (default: the embedded one); `--before DIR`
 * adds lukv's default with the library found in DIR (`LUKV_LIB_DIR`), to compare a
 * library before and after a change in the same rounds.
 *
 * ```sh
 * deno run -A bench/busy_decode.ts [--rounds 3] [--tokens 96] [--model DIR] [--before DIR] [--out docs/results/x.md]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadModel } from "../src/pipeline/model.ts";
import { medianRange } from "./stats.ts";

/** The settings compared: the environment each decoding process starts with. */
const SETTINGS: Record<string, Record<string, string>> = {
  "2 threads, spin forever (OMP_WAIT_POLICY=ACTIVE)": { OMP_NUM_THREADS: "2", OMP_WAIT_POLICY: "ACTIVE" },
  "2 threads, passive wait": { OMP_NUM_THREADS: "2", OMP_WAIT_POLICY: "PASSIVE" },
  "1 thread": { OMP_NUM_THREADS: "1" },
  "lukv's default without the free-CPU cap": { LUKV_LOAD_AWARE_THREADS: "0" },
  "lukv's default": {},
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    child: { type: "boolean", default: false },
    busy: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    tokens: { type: "string", default: "96" },
    model: { type: "string", default: new URL("../models/tiny/", import.meta.url).pathname },
    before: { type: "string" },
    out: { type: "string" },
  },
});

if (values.busy) {
  // A competing process: one core, all the time.
  for (;;) Math.sqrt(Math.random());
}

if (values.child) {
  using model = await loadModel(values.model, { device: "cpu" });
  const prompt = model.encode("The train left the station at noon. ".repeat(40));
  const run = model.generate(prompt, { maxNewTokens: Number(values.tokens), stopAtEos: false });
  console.log(JSON.stringify(await run.stats()));
  Deno.exit(0);
}

async function decodeRate(env: Record<string, string>): Promise<number> {
  const clean = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      !k.startsWith("OMP_") && !k.startsWith("GOMP_") && k !== "LUKV_LOAD_AWARE_THREADS"
    ),
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--child", "--tokens", values.tokens, "--model", values.model],
    env: { ...clean, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`a decoding process failed (${JSON.stringify(env)})`);
  return JSON.parse(new TextDecoder().decode(output.stdout)).decodeTokensPerSecond;
}

if (values.before !== undefined) {
  SETTINGS[`lukv's default, library of ${values.before}`] = { LUKV_LIB_DIR: values.before };
}

/** Runs `fn` while a competing process spins on one core. */
async function whileBusy<T>(fn: () => Promise<T>): Promise<T> {
  const competitor = new Deno.Command(Deno.execPath(), {
    args: ["run", import.meta.filename!, "--busy"],
    stdout: "null",
  })
    .spawn();
  try {
    return await fn();
  } finally {
    competitor.kill();
    await competitor.status;
  }
}

const rates = new Map<string, { quiet: number[]; busy: number[] }>();
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [name, env] of Object.entries(SETTINGS)) {
    const entry = rates.get(name) ?? { quiet: [], busy: [] };
    entry.quiet.push(await decodeRate(env));
    entry.busy.push(await whileBusy(() => decodeRate(env)));
    rates.set(name, entry);
  }
}

const lines = [
  "| setting | quiet machine, tokens/s | one core busy, tokens/s | busy / quiet |",
  "|---|---:|---:|---:|",
  ...[...rates].map(([name, { quiet, busy }]) =>
    `| ${name} | ${medianRange(quiet, 1)} | ${medianRange(busy, 1)} | ${
      medianRange(busy.map((b, i) => b / quiet[i]), 2)
    } |`
  ),
];
console.log(lines.join("\n"));
if (values.out) await Deno.writeTextFile(values.out, `${lines.join("\n")}\n`);
