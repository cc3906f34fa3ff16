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
console.log();
console.log("| matmul m x n x k | implementation | time | GFLOP/s | speed vs naive C |");
console.log("|---|---|---:|---:|---:|");
for (const c of MATMUL_CASES) {
  for (const b of report.benches.filter((r) => r.name.startsWith(matmulName(c, "")))) {
    const ns = nanos.get(b.name)!;
    const impl = b.name.slice(matmulName(c, "").length);
    console.log(
      `| ${c.m} x ${c.n} x ${c.k} (${c.label}) | ${impl} | ${(ns / 1e6).toFixed(2)} ms | ${
        (matmulFlops(c) / ns).toFixed(1)
      } | ${ratio(b)}x |`,
    );
  }
}
console.log("\n| decode attention, context | implementation | time | GB/s (K+V read) | speed vs memcpy |");
console.log("|---|---|---:|---:|---:|");
for (const c of ATTENTION_CASES) {
  for (const b of report.benches.filter((r) => r.name.startsWith(attentionName(c, "")))) {
    const ns = nanos.get(b.name)!;
    const impl = b.name.slice(attentionName(c, "").length);
    console.log(
      `| ${c.kvLen} (${c.qHeads} q / ${c.kvHeads} kv heads, d ${c.headDim}) | ${impl} | ${
        (ns / 1e6).toFixed(2)
      } ms | ${(attentionBytes(c) / ns).toFixed(1)} | ${ratio(b)}x |`,
    );
  }
}
