/**
 * CPU attention speed against memory speed, robust to a noisy machine. Ragged decode
 * attention (bench/cache.bench.ts's shapes: 32 query heads over 8 KV heads, 20% of 4K,
 * 16K and 64K tokens kept, head_dim 64 and 128) is timed in rounds, each immediately
 * followed by a memcpy of as many bytes as it reads (its K buffer, read once and written
 * once), all in one process. A shared machine slows both alike within a round, so the
 * per-round ratio (attention GB/s over copy GB/s) is steadier than either time; the table
 * gives its median and range over the rounds, and the ratio of the best (fastest) times
 * of each over all rounds, which is what a quiet moment of the machine allows. Prefill attention (one causal prompt of
 * `--prefill` tokens) is reported in GFLOP/s the same way.
 *
 * `--before DIR` times the liblukv_cpu.so in DIR too, in the same rounds (build the old
 * library with its own sources into DIR), so before and after share the machine's state.
 * The load average at start and end goes in the output, since it says how quiet the
 * rounds were.
 *
 * ```sh
 * deno run -A bench/attention_bandwidth.ts [--rounds 11] [--before DIR] [--prefill 1024] [--out FILE]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { libraryFileName } from "../ffi/build.ts";
import { SYMBOLS } from "../src/backend/symbols.ts";
import { CACHE_CASES, type CacheCase, keptRows, raggedReadBytes, spreadKeptLayout } from "./cases.ts";
import { medianRange } from "./stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "11" },
    before: { type: "string" },
    prefill: { type: "string", default: "1024" },
    out: { type: "string" },
  },
});
const rounds = Number(values.rounds), prefillTokens = Number(values.prefill);

// lukv's own loader makes idle OpenMP threads sleep (src/backend/library.ts); do the same.
if (Deno.env.get("OMP_WAIT_POLICY") === undefined) Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");

const SUBSET = {
  lukv_alloc: SYMBOLS.lukv_alloc,
  lukv_copy_device: SYMBOLS.lukv_copy_device,
  lukv_attention_decode_ragged: SYMBOLS.lukv_attention_decode_ragged,
  lukv_attention_prefill: SYMBOLS.lukv_attention_prefill,
} as const;

type Library = Deno.DynamicLibrary<typeof SUBSET>["symbols"];

function open(dir: string): Library {
  return Deno.dlopen(`${dir.replace(/\/$/, "")}/${libraryFileName("cpu")}`, SUBSET).symbols;
}

const here = new URL("../build/", import.meta.url).pathname;
const libraries: [string, Library][] = [["this tree", open(here)]];
if (values.before !== undefined) libraries.push([`before (${values.before})`, open(values.before)]);

/**
 * `length` floats allocated by `lib` (every library checks that op pointers lie in its
 * own allocations), filled with a sine. Never freed: the process ends after the rounds.
 */
function filled(lib: Library, length: number, phase: number): Deno.PointerValue {
  const out = new BigUint64Array(1);
  check(lib.lukv_alloc(BigInt(length * 4), out), "lukv_alloc");
  const pointer = Deno.UnsafePointer.create(out[0]);
  const data = new Float32Array(Deno.UnsafePointerView.getArrayBuffer(pointer!, length * 4));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37 + phase) * 0.5;
  return pointer;
}

function check(status: number, what: string) {
  if (status !== 0) throw new Error(`${what} failed with status ${status}`);
}

/** Seconds per call of fn: calls repeated until `seconds` pass (at least 3), after one warm-up. */
function time(fn: () => void, seconds = 0.05): number {
  fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (calls < 3 || elapsed < seconds * 1000) {
    fn();
    calls++;
    elapsed = performance.now() - start;
  }
  return elapsed / 1000 / calls;
}

/** One decode shape on one library, with its own buffers: `run` the attention, `copy` its bytes. */
interface DecodeShape {
  c: CacheCase;
  run: () => void;
  copy: () => void;
}

function decodeShape(c: CacheCase, lib: Library): DecodeShape {
  const { headDim, qHeads, kvHeads } = c;
  const kept = keptRows(c);
  const { offsets, lengths, rows } = spreadKeptLayout(kvHeads, c.context, kept);
  const k = filled(lib, rows * headDim, 1), v = filled(lib, rows * headDim, 2);
  const q = filled(lib, qHeads * headDim, 3), out = filled(lib, qHeads * headDim, 0);
  const copyBytes = BigInt(kvHeads * kept * headDim * 4);
  const copy = filled(lib, kvHeads * kept * headDim, 0);
  const scale = 1 / Math.sqrt(headDim);
  return {
    c,
    run: () =>
      check(
        lib.lukv_attention_decode_ragged(
          out,
          q,
          k,
          v,
          offsets,
          lengths,
          BigInt(rows),
          BigInt(qHeads),
          BigInt(kvHeads),
          BigInt(headDim),
          scale,
          null,
        ),
        "lukv_attention_decode_ragged",
      ),
    copy: () => check(lib.lukv_copy_device(copy, k, copyBytes, null), "lukv_copy_device"),
  };
}

/** Causal prefill of `tokens` tokens on one library (32 query heads over 8 KV heads). */
interface PrefillShape {
  label: string;
  flops: number;
  run: () => void;
}

function prefillShape(tokens: number, headDim: number, lib: Library): PrefillShape {
  const qHeads = 32, kvHeads = 8;
  const q = filled(lib, tokens * qHeads * headDim, 4), out = filled(lib, tokens * qHeads * headDim, 0);
  const k = filled(lib, kvHeads * tokens * headDim, 5), v = filled(lib, kvHeads * tokens * headDim, 6);
  // q.k and p.v: 2 flops each per (query head, visible key, dimension).
  const flops = 4 * qHeads * headDim * (tokens * (tokens + 1)) / 2;
  return {
    label: `prefill ${tokens} tokens, d ${headDim}`,
    flops,
    run: () =>
      check(
        lib.lukv_attention_prefill(
          out,
          q,
          k,
          v,
          BigInt(tokens),
          BigInt(tokens),
          BigInt(tokens),
          BigInt(qHeads),
          BigInt(kvHeads),
          BigInt(headDim),
          1 / Math.sqrt(headDim),
          null,
        ),
        "lukv_attention_prefill",
      ),
  };
}

const loadAverage = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const loadAtStart = loadAverage();
// decodes[shape][library], prefills[shape][library].
const decodes = CACHE_CASES.map((c) => libraries.map(([, lib]) => decodeShape(c, lib)));
const prefills = [64, 128].map((d) => libraries.map(([, lib]) => prefillShape(prefillTokens, d, lib)));

// ratios[shape][library]: attention GB/s over copy GB/s, one per round; the GB/s likewise.
const ratios = decodes.map(() => libraries.map(() => [] as number[]));
const attentionGbs = decodes.map(() => libraries.map(() => [] as number[]));
const copyGbsOf = decodes.map(() => libraries.map(() => [] as number[]));
const bestRatio = (i: number, j: number) => Math.max(...attentionGbs[i][j]) / Math.max(...copyGbsOf[i][j]);
const gflops = prefills.map(() => libraries.map(() => [] as number[]));

for (let round = 0; round < rounds; round++) {
  decodes.forEach((perLibrary, i) => {
    const bytes = raggedReadBytes(perLibrary[0].c);
    perLibrary.forEach((shape, j) => {
      const attention = time(shape.run);
      const copy = time(shape.copy);
      ratios[i][j].push(copy / attention);
      attentionGbs[i][j].push(bytes / attention / 1e9);
      copyGbsOf[i][j].push(bytes / copy / 1e9);
    });
  });
  prefills.forEach((perLibrary, i) => {
    perLibrary.forEach((shape, j) => gflops[i][j].push(shape.flops / time(shape.run, 0.2) / 1e9));
  });
  console.error(`round ${round + 1}/${rounds} done`);
}

const lines: string[] = [];
lines.push(`load average (1, 5, 15 min): ${loadAtStart} at start, ${loadAverage()} at end; ${rounds} rounds`);
lines.push("");
lines.push(
  "| shape | library | attention / copy, median (range) | best / best | attention GB/s | copy GB/s (same bytes) |",
);
lines.push("| --- | --- | --- | --- | --- | --- |");
decodes.forEach((perLibrary, i) => {
  const name = `ragged decode ${perLibrary[0].c.context / 1024}K d${perLibrary[0].c.headDim}`;
  libraries.forEach(([label], j) => {
    lines.push(
      `| ${name} | ${label} | ${medianRange(ratios[i][j], 2)} | ${bestRatio(i, j).toFixed(2)} | ${
        medianRange(attentionGbs[i][j], 1)
      } | ${medianRange(copyGbsOf[i][j], 1)} |`,
    );
  });
});
lines.push("");
lines.push("| shape | library | GFLOP/s, median (range) |");
lines.push("| --- | --- | --- |");
prefills.forEach((perLibrary, i) => {
  libraries.forEach(([label], j) =>
    lines.push(`| ${perLibrary[0].label} | ${label} | ${medianRange(gflops[i][j], 1)} |`)
  );
});
const text = lines.join("\n") + "\n";
console.log(text);
if (values.out) Deno.writeTextFileSync(values.out, text);
