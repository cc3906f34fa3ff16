/**
 * `deno task bench:report`: runs bench/ops.bench.ts once with `--json` and prints a
 * Markdown table of GFLOP/s (matmul), GB/s (decode attention) and each case's ratio to
 * the baseline of its group, ready for docs/results/.
 */

import {
  ATTENTION_CASES,
  attentionBytes,
  attentionName,
  MATMUL_CASES,
  matmulFlops,
  matmulName,
} from "./cases.ts";

interface BenchRecord {
  name: string;
  group: string | null;
  baseline: boolean;
  results: { ok?: { avg: number } }[];
}

const output = await new Deno.Command(Deno.execPath(), {
  args: [
    "bench",
    "--json",
    "--allow-ffi",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    "bench/ops.bench.ts",
  ],
  stdout: "piped",
  stderr: "piped",
}).output();
const diagnostics = new TextDecoder().decode(output.stderr);
if (!output.success) {
  // deno bench reports an uncaught error on stdout, next to the results.
  console.error(diagnostics + new TextDecoder().decode(output.stdout));
  Deno.exit(1);
}
const report = JSON.parse(new TextDecoder().decode(output.stdout)) as {
  runtime: string;
  cpu: string;
  benches: BenchRecord[];
};

/** Average nanoseconds per iteration by bench name. */
const nanos = new Map(report.benches.map((b) => [b.name, b.results[0]?.ok?.avg ?? NaN]));
const baselineOf = new Map(
  report.benches.filter((b) => b.baseline).map((b) => [b.group, nanos.get(b.name)!]),
);
const ratio = (b: BenchRecord) => (baselineOf.get(b.group)! / nanos.get(b.name)!).toFixed(2);

console.log(`Runtime ${report.runtime}, CPU ${report.cpu}`);
for (const line of diagnostics.split("\n").filter((l) => /^(device|OpenBLAS baseline):/.test(l))) {
  console.log(`\n${line}`);
}

/**
 * One Markdown table: a row per bench of each case, with its time, its rate (`work`
 * divided by nanoseconds: GFLOP/s for FLOPs, GB/s for bytes) and its ratio to the
 * group's baseline.
 */
function table<C>(
  header: string,
  cases: readonly C[],
  nameOf: (c: C, impl: string) => string,
  describe: (c: C) => string,
  work: (c: C) => number,
) {
  console.log(`\n${header}\n|---|---|---:|---:|---:|`);
  for (const c of cases) {
    const prefix = nameOf(c, "");
    for (const b of report.benches.filter((r) => r.name.startsWith(prefix))) {
      const ns = nanos.get(b.name)!;
      const rate = (work(c) / ns).toFixed(1);
      console.log(
        `| ${describe(c)} | ${b.name.slice(prefix.length)} | ${(ns / 1e6).toFixed(2)} ms | ${rate} | ${
          ratio(b)
        }x |`,
      );
    }
  }
}

table(
  "| matmul m x n x k | implementation | time | GFLOP/s | speed vs naive C |",
  MATMUL_CASES,
  matmulName,
  (c) => `${c.m} x ${c.n} x ${c.k} (${c.label})`,
  matmulFlops,
);
table(
  "| decode attention, context | implementation | time | GB/s (K+V read) | speed vs memcpy |",
  ATTENTION_CASES,
  attentionName,
  (c) => `${c.kvLen} (${c.qHeads} q / ${c.kvHeads} kv heads, d ${c.headDim})`,
  attentionBytes,
);
