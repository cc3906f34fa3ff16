/**
 * CPU matmul speed of this build against another build of lukv (`--before DIR`, a folder
 * holding liblukv_cpu.so, e.g. from `deno run -A ffi/build.ts --out DIR` at an older
 * commit), at the 244M-parameter Llama's shapes (hidden 1024, MLP 2816): prefill chunks of
 * 256 rows and decode's single row, f32 and f16 weights. Each round times both libraries
 * in fresh processes, one after the other, so a noisy machine hits both alike; the table
 * gives each side's median G multiply-adds/s and the median (range) of the per-round
 * ratios. Decode cycles over enough weight matrices (about 0.5 GB) that none stays cached.
 *
 * ```sh
 * deno run -A bench/matmul_ab.ts --before /tmp/lukv-old [--rounds 5] [--threads 1]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openDevice, ops, type Tensor } from "../mod.ts";
import { median, medianRange } from "./stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    child: { type: "boolean", default: false },
    before: { type: "string" },
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "1" },
  },
});

/** [m, n, k] of y [m, n] = x [m, k] W [n, k]^T. */
const SHAPES: [number, number, number][] = [
  [256, 2816, 1024],
  [256, 1024, 2816],
  [256, 1024, 1024],
  [1, 2816, 1024],
  [1, 1024, 2816],
];
const DTYPES = ["f32", "f16"] as const;
const caseName = ([m, n, k]: number[], dtype: string) => `${m}x${n}x${k} ${dtype}`;

if (values.child) {
  const dev = await openDevice("cpu");
  const data = Float32Array.from({ length: 2816 * 1024 }, (_, i) => Math.sin(i) * 0.5);
  const filled = (dtype: "f32" | "f16", shape: number[]): Tensor => {
    const f32 = dev.empty("f32", shape).copyFrom(data.subarray(0, shape[0] * shape[1]));
    if (dtype === "f32") return f32;
    const half = dev.empty("f16", shape);
    ops.convert(half, f32);
    f32.close();
    return half;
  };
  const result: Record<string, number> = {};
  for (const [m, n, k] of SHAPES) {
    for (const dtype of DTYPES) {
      const copies = m === 1 ? Math.ceil(5e8 / (n * k * (dtype === "f32" ? 4 : 2))) : 1;
      const ws = Array.from({ length: copies }, () => filled(dtype, [n, k]));
      const x = filled("f32", [m, k]), y = dev.empty("f32", [m, n]);
      const reps = m === 1 ? copies * 2 : 3;
      const times: number[] = [];
      for (let r = 0; r < 5; r++) {
        const start = performance.now();
        for (let i = 0; i < reps; i++) ops.matmul(y, x, ws[i % copies]);
        times.push((performance.now() - start) / reps);
      }
      times.sort((a, b) => a - b);
      result[caseName([m, n, k], dtype)] = (m * n * k) / times[2] / 1e6;
      for (const t of [...ws, x, y]) t.close();
    }
  }
  console.log(JSON.stringify(result));
  Deno.exit(0);
}

if (values.before === undefined) {
  throw new Error("--before DIR (a folder holding the other liblukv_cpu.so) is required");
}

async function measure(libDir?: string): Promise<Record<string, number>> {
  const env: Record<string, string> = { OMP_NUM_THREADS: values.threads };
  if (libDir) env.LUKV_LIB_DIR = libDir;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--child"],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`a timing process failed (${JSON.stringify(env)})`);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

const before: Record<string, number>[] = [], after: Record<string, number>[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  before.push(await measure(values.before));
  after.push(await measure());
}

const lines = [
  `OMP_NUM_THREADS=${values.threads}, ${values.rounds} rounds; G multiply-adds/s, medians`,
  "",
  "| case | before | this build | this / before, median (range) |",
  "|---|---:|---:|---:|",
];
for (const name of Object.keys(after[0])) {
  const ratios = after.map((a, i) => a[name] / before[i][name]);
  lines.push(
    `| ${name} | ${median(before.map((b) => b[name])).toFixed(1)} | ${
      median(after.map((a) => a[name])).toFixed(1)
    } | ` +
      `${medianRange(ratios, 2)} |`,
  );
}
console.log(lines.join("\n"));
