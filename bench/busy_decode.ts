/**
 * Decode speed of the embedded model on the CPU when another process keeps a core busy,
 * for each OpenMP setting, against the same settings on a quiet machine. Each setting
 * runs in a fresh process (OpenMP reads its environment once, when the library loads),
 * in interleaved rounds, so a noisy machine hits every setting alike; the table gives
 * the median tokens/s and their range.
 *
 * ```sh
 * deno run -A bench/busy_decode.ts [--rounds 3] [--tokens 96] [--out docs/results/x.md]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadModel } from "../src/pipeline/model.ts";

/** The settings compared: the environment each decoding process starts with. */
const SETTINGS: Record<string, Record<string, string>> = {
  "2 threads, spin-wait (OpenMP's default)": { OMP_NUM_THREADS: "2", OMP_WAIT_POLICY: "ACTIVE" },
  "2 threads, passive wait": { OMP_NUM_THREADS: "2", OMP_WAIT_POLICY: "PASSIVE" },
  "2 threads, short spin (GOMP_SPINCOUNT=10000)": { OMP_NUM_THREADS: "2", GOMP_SPINCOUNT: "10000" },
  "1 thread": { OMP_NUM_THREADS: "1" },
  "lukv's default": {},
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    child: { type: "boolean", default: false },
    busy: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    tokens: { type: "string", default: "96" },
    out: { type: "string" },
  },
});

if (values.busy) {
  // A competing process: one core, all the time.
  for (;;) Math.sqrt(Math.random());
}

if (values.child) {
  using model = await loadModel(new URL("../models/tiny/", import.meta.url).pathname, { device: "cpu" });
  const prompt = model.encode("The train left the station at noon. ".repeat(40));
  const run = model.generate(prompt, { maxNewTokens: Number(values.tokens), stopAtEos: false });
  console.log(JSON.stringify(await run.stats()));
  Deno.exit(0);
}

async function decodeRate(env: Record<string, string>): Promise<number> {
  const clean = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OMP_") && !k.startsWith("GOMP_")),
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--child", "--tokens", values.tokens],
    env: { ...clean, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`a decoding process failed (${JSON.stringify(env)})`);
  return JSON.parse(new TextDecoder().decode(output.stdout)).decodeTokensPerSecond;
}

const rates = new Map<string, number[]>();
const rounds = Number(values.rounds);
for (const busy of [false, true]) {
  const competitor = busy
    ? new Deno.Command(Deno.execPath(), { args: ["run", import.meta.filename!, "--busy"], stdout: "null" })
      .spawn()
    : null;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, env] of Object.entries(SETTINGS)) {
        const key = `${busy ? "busy" : "quiet"}\t${name}`;
        rates.set(key, [...rates.get(key) ?? [], await decodeRate(env)]);
      }
    }
  } finally {
    competitor?.kill();
    await competitor?.status;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lines = [
  "| setting | quiet machine, tokens/s | one core busy, tokens/s |",
  "|---|---:|---:|",
  ...Object.keys(SETTINGS).map((name) => {
    const cell = (state: string) => {
      const xs = rates.get(`${state}\t${name}`)!;
      return `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
    };
    return `| ${name} | ${cell("quiet")} | ${cell("busy")} |`;
  }),
];
console.log(lines.join("\n"));
if (values.out) await Deno.writeTextFile(values.out, `${lines.join("\n")}\n`);
