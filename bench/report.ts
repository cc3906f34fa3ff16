/**
 * `deno task bench:report [ops] [cache]`: runs bench/ops.bench.ts (the default) and/or
 * bench/cache.bench.ts once each with `--json` and prints Markdown tables, ready for
 * docs/results/: GFLOP/s (matmul), GB/s (decode attention, dense and ragged, next to the
 * copy bandwidth measured in the same run) and each case's ratio to the baseline of its
 * group.
 */

import {
  ATTENTION_CASES,
  attentionBytes,
  attentionName,
  CACHE_CASES,
  cacheName,
  denseReadBytes,
  MATMUL_CASES,
  matmulFlops,
  matmulName,
  raggedReadBytes,
} from "./cases.ts";

interface BenchRecord {
  name: string;
  group: string | null;
  baseline: boolean;
  results: { ok?: { avg: number } }[];
}

interface BenchReport {
  runtime: string;
  cpu: string;
  benches: BenchRecord[];
  /** Lines the bench printed about itself (device, baselines found). */
  notes: string[];
}

const SUITES = ["ops", "cache"] as const;
const suites = Deno.args.length ? Deno.args : ["ops"];
for (const suite of suites) {
  if (!(SUITES as readonly string[]).includes(suite)) {
    console.error(`unknown suite "${suite}"; expected ${SUITES.join(" or ")}`);
    Deno.exit(2);
  }
}

/** Runs one bench file with `--json`; exits with its output when it fails. */
async function runBench(file: string): Promise<BenchReport> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "bench",
      "--json",
      "--allow-ffi",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      file,
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
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  const notes = diagnostics.split("\n").filter((l) => /^(device|OpenBLAS baseline):/.test(l));
  return { ...report, notes };
}

/** Average nanoseconds per iteration by bench name, and each bench's ratio to its group's baseline. */
function timings(report: BenchReport) {
  const nanos = new Map(report.benches.map((b) => [b.name, b.results[0]?.ok?.avg ?? NaN]));
  const baselineOf = new Map(
    report.benches.filter((b) => b.baseline).map((b) => [b.group, nanos.get(b.name)!]),
  );
  const ratio = (b: BenchRecord) => (baselineOf.get(b.group)! / nanos.get(b.name)!).toFixed(2);
  return { nanos, ratio };
}

function header(report: BenchReport) {
  console.log(`Runtime ${report.runtime}, CPU ${report.cpu}`);
  for (const line of report.notes) console.log(`\n${line}`);
}

/**
 * One Markdown table: a row per bench of each case, with its time, its rate (`work`
 * divided by nanoseconds: GFLOP/s for FLOPs, GB/s for bytes) and its ratio to the
 * group's baseline.
 */
function table<C>(
  report: BenchReport,
  title: string,
  cases: readonly C[],
  nameOf: (c: C, impl: string) => string,
  describe: (c: C) => string,
  work: (c: C) => number,
) {
  const { nanos, ratio } = timings(report);
  console.log(`\n${title}\n|---|---|---:|---:|---:|`);
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

if (suites.includes("ops")) {
  const report = await runBench("bench/ops.bench.ts");
  header(report);
  table(
    report,
    "| matmul m x n x k | implementation | time | GFLOP/s | speed vs naive C |",
    MATMUL_CASES,
    matmulName,
    (c) => `${c.m} x ${c.n} x ${c.k} (${c.label})`,
    matmulFlops,
  );
  table(
    report,
    "| decode attention, context | implementation | time | GB/s (K+V read) | speed vs memcpy |",
    ATTENTION_CASES,
    attentionName,
    (c) => `${c.kvLen} (${c.qHeads} q / ${c.kvHeads} kv heads, d ${c.headDim})`,
    attentionBytes,
  );
}

if (suites.includes("cache")) {
  // Each attention reads its bytes once; the memcpy reads and writes half the ragged read
  // each, so all three rates count the same kind of traffic.
  const report = await runBench("bench/cache.bench.ts");
  const { nanos, ratio } = timings(report);
  header(report);
  console.log(
    "\n| context, head_dim | implementation | time | MB moved | GB/s | of copy GB/s | speed vs dense |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const c of CACHE_CASES) {
    const prefix = cacheName(c, "");
    const benches = report.benches.filter((r) => r.name.startsWith(prefix));
    const copy = benches.find((b) => b.name.includes("memcpy"));
    const copyRate = copy ? raggedReadBytes(c) / nanos.get(copy.name)! : NaN;
    for (const b of benches) {
      const bytes = b.name.includes("dense") ? denseReadBytes(c) : raggedReadBytes(c);
      const ns = nanos.get(b.name)!, rate = bytes / ns;
      console.log(
        `| ${c.context}, d ${c.headDim} | ${b.name.slice(prefix.length)} | ${(ns / 1e6).toFixed(2)} ms | ${
          (bytes / 1e6).toFixed(1)
        } | ${rate.toFixed(1)} | ${(rate / copyRate).toFixed(2)} | ${ratio(b)}x |`,
      );
    }
  }
}
