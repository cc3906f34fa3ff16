/** Results files, aggregates and the report on synthetic cells: parsing, task-averaged means, tables, headline, charts. */

import assert from "node:assert/strict";
import { reportMarkdown, timeSplit, writeReport } from "../../src/eval/report.ts";
import { type EvalCell, parseResults, readResults } from "../../src/eval/results.ts";
import { cellStats, summaryTable } from "../../src/eval/summary.ts";

const TIMINGS = {
  prefillMs: 100,
  scoreMs: 10,
  compactMs: 2,
  questionMs: 5,
  decodeMs: 20,
  decodeTokensPerSecond: 200,
};

/** One cell: `correct` decides accuracy; KV bytes follow the ratio. */
function cell(task: string, sample: number, press: string, ratio: number, correct: boolean): EvalCell {
  const scorer = press === "full" ? "none" : press === "streamingllm" ? "streamingllm" : "snapkv";
  return {
    model: "m",
    length: 100,
    seed: 0,
    task,
    sample,
    press,
    ratio,
    scorer,
    contextTokens: 90,
    questionTokens: 8,
    output: " x",
    newTokens: 2,
    correct,
    kl: ratio / 10,
    attentionError: ratio / 2,
    kept: 1 - ratio,
    kvBytes: 1000 * (1 - ratio),
    kvBytesFull: 1000,
    timings: TIMINGS,
  };
}

/** Task a has 2 samples, task b has 4: averages over tasks must weigh them alike. */
function cells(): EvalCell[] {
  const out: EvalCell[] = [];
  for (const [task, n] of [["a", 2], ["b", 4]] as const) {
    for (let s = 0; s < n; s++) {
      out.push(cell(task, s, "full", 0, true));
      for (const ratio of [0.5, 0.8, 0.9]) {
        out.push(cell(task, s, "snapkv", ratio, task === "a" ? s === 0 : s < 3));
        out.push(cell(task, s, "adakv", ratio, task === "a"));
        out.push(cell(task, s, "lukv-snapkv", ratio, ratio < 0.9 || s === 0));
        out.push(cell(task, s, "streamingllm", ratio, false));
      }
    }
  }
  return out;
}

Deno.test("parseResults drops a last line cut short and names a bad line", () => {
  const text = cells().slice(0, 3).map((c) => JSON.stringify(c) + "\n").join("");
  assert.equal(parseResults(text + '{"task":"a","sam').length, 3);
  assert.throws(() => parseResults(text + "not json\n" + text, "r.jsonl"), /r\.jsonl, line 4/);
  assert.throws(() => parseResults('{"task":1}\n', "r.jsonl"), /line 1: not an evaluation cell/);
});

Deno.test("readResults reads a gzipped results file as the plain one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = cells().map((c) => JSON.stringify(c) + "\n").join("");
    const gzipped = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
    await Deno.writeFile(`${dir}/r.jsonl.gz`, new Uint8Array(await new Response(gzipped).arrayBuffer()));
    await Deno.writeTextFile(`${dir}/r.jsonl`, text);
    assert.deepEqual(await readResults(`${dir}/r.jsonl.gz`), await readResults(`${dir}/r.jsonl`));
    assert.equal((await readResults(`${dir}/r.jsonl.gz`)).length, cells().length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("averages over tasks weigh each task alike; the summary table lists every press and ratio", () => {
  const stats = cellStats(cells());
  const at = (task: string, press: string, ratio: number) =>
    stats.find((s) => s.task === task && s.press === press && s.ratio === ratio)!;
  assert.equal(at("a", "snapkv", 0.5).accuracy, 0.5);
  assert.equal(at("b", "snapkv", 0.5).accuracy, 0.75);
  assert.equal(at("average", "snapkv", 0.5).accuracy, 0.625);
  assert.equal(at("average", "snapkv", 0.5).samples, 6);
  assert.equal(at("average", "adakv", 0.8).accuracy, 0.5);
  assert.equal(at("average", "full", 0).kvFraction, 1);
  assert.equal(at("average", "lukv-snapkv", 0.9).kl, 0.09);
  const table = summaryTable(cells()).split("\n");
  assert.equal(table.length, 1 + 1 + 4 * 3);
  assert.match(table[1], /^full\s+-\s+100\.0%\s+0\.0000\s+0\.000\s+100\.0%$/);
  assert.match(table.find((l) => l.startsWith("snapkv") && /\s0\.5\s/.test(l))!, /62\.5%/);
});

Deno.test("the report has the headline, full-cache row, per-press means, same-scorer and paired tables, time split", () => {
  const markdown = reportMarkdown(cells(), { title: "Test run", notes: "Command: `deno task eval ...`" });
  assert.match(markdown, /^# Test run\n\nCommand: `deno task eval \.\.\.`\n/);
  assert.match(markdown, /2 tasks \(a, b\), 6 samples in all \(evaluation split, seed 0\)/);
  // lukv at 80% keeps 100%; at 90% it has (50 + 25) / 2 = 37.5% vs snapkv's 62.5%.
  assert.match(
    markdown,
    /\*\*lukv-snapkv\*\*: at 80% compression it keeps 100\.0% of the full cache's accuracy \(100\.0% vs 100\.0%\); at 90% it is -25\.0 points against the best baseline \(snapkv, 62\.5%\)\./,
  );
  assert.match(markdown, /\| full \(no compression\) \| 100\.0 \| 100\.0 \| 100\.0 \| 100\.0 \|/);
  assert.match(markdown, /\| snapkv \| 62\.5 \| 62\.5 \| 62\.5 \| 62\.5 \|/);
  assert.match(
    markdown,
    /\| ratio \| lukv-snapkv \| snapkv \| adakv \| Δ \|\n.*\n\| 50% \| 100\.0 \| 62\.5 \| 50\.0 \| \+37\.5 \|/,
  );
  // Paired: at 50% lukv answers all 6, snapkv misses a1 and b3, adakv all of b; at 90% lukv
  // answers a0 and b0 only, which snapkv answers too, and snapkv adds b1 and b2.
  assert.match(markdown, /\| 50% \| \+2 \/ −0 \(p 0\.500\) \| \+4 \/ −0 \(p 0\.125\) \|/);
  assert.match(markdown, /\| 90% \| \+0 \/ −2 \(p 0\.500\) \|/);
  assert.match(markdown, /\| b \| streamingllm \| 0\.0 \| 0\.0 \| 0\.0 \|/);
  // Retention against the full cache (100% on both tasks): lukv's 37.5% at 90%, snapkv's 62.5%.
  assert.match(
    markdown,
    /## Retention[^\n]*\n\n\| press \| 50% \| 80% \| 90% \|\n.*\n\| snapkv \| 62\.5 \| 62\.5 \| 62\.5 \|/,
  );
  assert.match(markdown, /\| lukv-snapkv \| 100\.0 \| 100\.0 \| 37\.5 \|/);
  assert.match(
    markdown,
    /Retention on b \(%\):\n\n\| press \| 50% \| 80% \| 90% \|\n.*\n\| snapkv \| 75\.0 \|/,
  );
  // Against the best baseline (snapkv at every ratio, of its scorer and overall).
  assert.match(
    markdown,
    /\| 90% \| snapkv: \+0 \/ −2 \(p 0\.500\) \| snapkv: \+0 \/ −2 \(p 0\.500\) \|/,
  );
  assert.match(markdown, /\| snapkv \| 0\.00 MiB \(50\.0%\) \|/);
  for (const chart of ["accuracy", "accuracy_tasks", "kl", "attention_error", "kv_bytes"]) {
    assert.ok(markdown.includes(`](${chart}.svg)`), chart);
  }
  const split = timeSplit(cells());
  assert.deepEqual(split, {
    prefillMs: 6 * 100,
    scoreMs: 6 * 3 * 10, // none, snapkv, streamingllm per sample
    compactMs: cells().length * 2,
    questionMs: cells().length * 5,
    decodeMs: cells().length * 20,
  });
});

Deno.test("writeReport writes README.md and five SVG charts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const written = await writeReport(cells(), `${dir}/report`);
    assert.deepEqual(written.map((p) => p.slice(dir.length + 1)), [
      "report/README.md",
      "report/accuracy.svg",
      "report/accuracy_tasks.svg",
      "report/kl.svg",
      "report/attention_error.svg",
      "report/kv_bytes.svg",
    ]);
    for (const path of written.slice(1)) {
      const svg = await Deno.readTextFile(path);
      assert.match(svg, /^<svg[^>]*>/, path);
      assert.ok(svg.includes("lukv-snapkv"), `${path} has a legend entry for lukv-snapkv`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
