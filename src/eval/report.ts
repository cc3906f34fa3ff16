/** The evaluation report: a README.md of Markdown tables and headline numbers, and its SVG charts, from result cells. */

import { accuracyByTaskSvg, type ChartMetric, metricSvg } from "./charts/eval_charts.ts";
import { pairedComparison } from "./paired.ts";
import type { EvalCell } from "./results.ts";
import { axes, type CellStats, cellStats } from "./summary.ts";

/** Options of {@linkcode reportMarkdown} and {@linkcode writeReport}. */
export interface ReportOptions {
  /** The README's title (default: "Evaluation of MODEL"). */
  title?: string;
  /** Markdown placed under the title as given: the exact command, the machine, the run time. */
  notes?: string;
}

/** The charts a report draws, by file name. */
const CHARTS: { file: string; metric: ChartMetric | "tasks" }[] = [
  { file: "accuracy.svg", metric: "accuracy" },
  { file: "accuracy_tasks.svg", metric: "tasks" },
  { file: "kl.svg", metric: "kl" },
  { file: "attention_error.svg", metric: "attentionError" },
  { file: "kv_bytes.svg", metric: "kvFraction" },
];

/** Where the run's compute time went, summed from the cells' timings (shared costs counted once). */
export interface TimeSplit {
  /** Dense context prefills, one per sample. */
  prefillMs: number;
  /** Scorer statistics and scoring, one per (sample, scorer). */
  scoreMs: number;
  /** Compaction into ragged caches. */
  compactMs: number;
  /** Question appends. */
  questionMs: number;
  /** Answer decoding. */
  decodeMs: number;
}

/**
 * Sums the cells' timings, counting a sample's prefill once and each (sample, scorer)'s
 * scoring once.
 *
 * @example
 * ```ts
 * const { prefillMs, decodeMs } = timeSplit(cells);
 * ```
 */
export function timeSplit(cells: readonly EvalCell[]): TimeSplit {
  const prefill = new Map<string, number>(), score = new Map<string, number>();
  let compactMs = 0, questionMs = 0, decodeMs = 0;
  for (const { task, sample, scorer, timings: t } of cells) {
    prefill.set(`${task}\t${sample}`, t.prefillMs);
    score.set(`${task}\t${sample}\t${scorer}`, t.scoreMs);
    compactMs += t.compactMs;
    questionMs += t.questionMs;
    decodeMs += t.decodeMs;
  }
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return { prefillMs: sum(prefill), scoreMs: sum(score), compactMs, questionMs, decodeMs };
}

const percent = (x: number) => `${(100 * x).toFixed(1)}`;
/** Query-aware presses carry the `[aware]` suffix (see `byProtocol`). */
const protocolOf = (press: string) => press.endsWith(" [aware]") ? "aware" : "agnostic";
const isLukv = (press: string) => press.startsWith("lukv");
const ratioHeader = (r: number) => `${Math.round(100 * r)}%`;

function table(headers: string[], rows: string[][]): string {
  return [
    `| ${headers.join(" | ")} |`,
    `|${headers.map((_, i) => (i === 0 ? " --- " : " ---: ")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

/** One row per press (full first), one column per ratio, from the averages over tasks (or one task's stats). */
function pressTable(
  stats: readonly CellStats[],
  presses: readonly string[],
  ratios: readonly number[],
  value: (s: CellStats) => string,
  mean?: (rows: CellStats[]) => string,
): string {
  const rows = presses.map((press) => {
    const of = (ratio: number) =>
      stats.find((s) => s.press === press && s.ratio === (press === "full" ? 0 : ratio));
    const cells = ratios.map((r) => {
      const s = of(r);
      return s ? value(s) : "–";
    });
    const own = stats.filter((s) => s.press === press);
    return [
      press === "full" ? "full (no compression)" : press,
      ...cells,
      ...(mean ? [own.length ? mean(own) : "–"] : []),
    ];
  });
  return table(["press", ...ratios.map(ratioHeader), ...(mean ? ["mean"] : [])], rows);
}

/** "lukv keeps X% at 80%; at 90% it is Y points above/below the best baseline", per lukv press. */
function headline(average: readonly CellStats[], ratios: readonly number[]): string[] {
  const full = average.find((s) => s.press === "full");
  const at = (press: string, ratio: number) => average.find((s) => s.press === press && s.ratio === ratio);
  const lines: string[] = [];
  for (const lukv of [...new Set(average.map((s) => s.press))].filter(isLukv)) {
    const parts: string[] = [];
    const r80 = at(lukv, 0.8);
    if (r80 && full) {
      const [at80, fullAccuracy] = [percent(r80.accuracy), percent(full.accuracy)];
      parts.push(
        full.accuracy > 0
          ? `at 80% compression it keeps ${percent(r80.accuracy / full.accuracy)}% of the full cache's ` +
            `accuracy (${at80}% vs ${fullAccuracy}%)`
          : `at 80% compression it scores ${at80}% (the full cache: ${fullAccuracy}%)`,
      );
    }
    const top = Math.max(...ratios);
    const mine = at(lukv, top);
    const baselines = average.filter((s) =>
      s.ratio === top && s.press !== "full" && !isLukv(s.press) && protocolOf(s.press) === protocolOf(lukv)
    );
    if (mine && baselines.length > 0) {
      const best = baselines.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
      const gap = 100 * (mine.accuracy - best.accuracy);
      parts.push(
        `at ${ratioHeader(top)} it is ${gap >= 0 ? "+" : ""}${
          gap.toFixed(1)
        } points against the best baseline ` +
          `(${best.press}, ${percent(best.accuracy)}%)`,
      );
    }
    if (parts.length > 0) lines.push(`- **${lukv}**: ${parts.join("; ")}.`);
  }
  return lines;
}

/** A lukv-<scorer> press with the other presses that rank tokens by the same scorer. */
interface ScorerGroup {
  lukv: string;
  scorer: string;
  peers: string[];
}

/** Each lukv-<scorer> press with its same-scorer peers of the same protocol (lukv presses without peers are left out). */
function sameScorerGroups(average: readonly CellStats[]): ScorerGroup[] {
  const presses = [...new Set(average.map((s) => s.press))];
  return presses.filter(isLukv).map((lukv) => {
    const scorer = average.find((s) => s.press === lukv)!.scorer;
    const peers = presses.filter((p) =>
      !isLukv(p) && protocolOf(p) === protocolOf(lukv) &&
      average.find((s) => s.press === p)?.scorer === scorer
    );
    return { lukv, scorer, peers };
  }).filter((group) => group.peers.length > 0);
}

/** lukv-<scorer> against the presses with the same scorer, accuracy per ratio. */
function sameScorerTables(
  groups: readonly ScorerGroup[],
  average: readonly CellStats[],
  ratios: readonly number[],
): string[] {
  return groups.flatMap(({ lukv, scorer, peers }) => [
    `**${lukv}** vs the ${scorer}-scored presses (accuracy %, mean over tasks; Δ = ${lukv} minus the best of them):\n`,
    table(
      ["ratio", lukv, ...peers, "Δ"],
      ratios.map((ratio) => {
        const acc = (p: string) => average.find((s) => s.press === p && s.ratio === ratio)?.accuracy;
        const mine = acc(lukv), others = peers.map(acc);
        const best = Math.max(...others.filter((a): a is number => a !== undefined));
        return [
          ratioHeader(ratio),
          mine === undefined ? "–" : percent(mine),
          ...others.map((a) => (a === undefined ? "–" : percent(a))),
          mine === undefined || !Number.isFinite(best)
            ? "–"
            : `${mine >= best ? "+" : ""}${(100 * (mine - best)).toFixed(1)}`,
        ];
      }),
    ),
    "",
  ]);
}

/** lukv-<scorer> against each same-scorer press on the same samples: wins, losses, sign-test p. */
function pairedTables(
  groups: readonly ScorerGroup[],
  cells: readonly EvalCell[],
  ratios: readonly number[],
): string[] {
  return groups.flatMap(({ lukv, peers }) => [
    `**${lukv}**: samples it answers and the other press does not (+), the reverse (−), and the ` +
    "two-sided p-value of that split (exact sign test, all tasks pooled):\n",
    table(
      ["ratio", ...peers.map((p) => `vs ${p}`)],
      ratios.map((ratio) => [
        ratioHeader(ratio),
        ...peers.map((peer) => {
          const { wins, losses, pairs, pValue } = pairedComparison(cells, lukv, peer, ratio);
          return pairs === 0
            ? "–"
            : `+${wins} / −${losses} (p ${pValue < 0.001 ? "< 0.001" : pValue.toFixed(3)})`;
        }),
      ]),
    ),
    "",
  ]);
}

/**
 * Retention: each press's accuracy over the full cache's, per ratio, from the mean over
 * tasks (or one task's stats).
 */
function retentionTable(
  stats: readonly CellStats[],
  presses: readonly string[],
  ratios: readonly number[],
): string {
  const full = stats.find((s) => s.press === "full");
  return pressTable(
    stats,
    presses.filter((p) => p !== "full"),
    ratios,
    (s) => full && full.accuracy > 0 ? percent(s.accuracy / full.accuracy) : "–",
  );
}

/**
 * Each lukv press against, at every ratio, the best baseline of its scorer and the best
 * baseline of all (by mean accuracy at that ratio, same protocol): the paired split and
 * its exact sign test.
 */
function bestBaselineTables(
  average: readonly CellStats[],
  cells: readonly EvalCell[],
  presses: readonly string[],
  ratios: readonly number[],
): string[] {
  const split = (lukv: string, other: string | undefined, ratio: number) => {
    if (!other) return "–";
    const { wins, losses, pValue } = pairedComparison(cells, lukv, other, ratio);
    return `${other}: +${wins} / −${losses} (p ${pValue < 0.001 ? "< 0.001" : pValue.toFixed(3)})`;
  };
  return presses.filter(isLukv).flatMap((lukv) => {
    const scorer = average.find((s) => s.press === lukv)?.scorer;
    const best = (ratio: number, sameScorer: boolean) =>
      average
        .filter((s) =>
          s.ratio === ratio && s.press !== "full" && !isLukv(s.press) &&
          protocolOf(s.press) === protocolOf(lukv) && (!sameScorer || s.scorer === scorer)
        )
        .reduce<CellStats | undefined>((a, b) => (!a || b.accuracy > a.accuracy ? b : a), undefined)?.press;
    return [
      `**${lukv}** against the best baseline at each ratio: samples it answers and the baseline does not (+), ` +
      "the reverse (−), two-sided exact sign test, all tasks pooled:\n",
      table(
        ["ratio", `best ${scorer}-scored baseline`, "best baseline overall"],
        ratios.map((
          ratio,
        ) => [
          ratioHeader(ratio),
          split(lukv, best(ratio, true), ratio),
          split(lukv, best(ratio, false), ratio),
        ]),
      ),
      "",
    ];
  });
}

/** Per press: mean compression ms, question ms, decode tokens/s. */
function costTable(cells: readonly EvalCell[], presses: readonly string[]): string {
  return table(
    ["press", "compression ms", "question ms", "decode tokens/s"],
    presses.map((press) => {
      const own = cells.filter((c) => c.press === press);
      const mean = (f: (c: EvalCell) => number) => own.reduce((a, c) => a + f(c), 0) / own.length;
      return [
        press,
        mean((c) => c.timings.scoreMs + c.timings.compactMs).toFixed(1),
        mean((c) => c.timings.questionMs).toFixed(1),
        mean((c) => c.timings.decodeTokensPerSecond).toFixed(0),
      ];
    }),
  );
}

/**
 * The report's Markdown: run facts, headline numbers for the lukv presses, accuracy (mean
 * over tasks and per task, with the full cache's row and per-press means), lukv against
 * the presses sharing its scorer, KL divergence, attention-output error, KV bytes, costs
 * per cell, the time split, and the charts (as written by {@linkcode writeReport}).
 *
 * @example
 * ```ts
 * const markdown = reportMarkdown(await readResults("results.jsonl"), { title: "models/tiny" });
 * ```
 */
export function reportMarkdown(cells: readonly EvalCell[], options: ReportOptions = {}): string {
  if (cells.length === 0) throw new RangeError("no result cells to report");
  const stats = cellStats(cells);
  const average = stats.filter((s) => s.task === "average");
  const { tasks, presses, ratios } = axes(cells);
  const { model, length, seed } = cells[0];
  const samples = new Set(cells.map((c) => `${c.task}\t${c.sample}`)).size;
  const contextTokens = cells.map((c) => c.contextTokens);
  const time = timeSplit(cells);
  const headlines = headline(average, ratios), groups = sameScorerGroups(average);
  const total = time.prefillMs + time.scoreMs + time.compactMs + time.questionMs + time.decodeMs;
  const share = (ms: number) => `${(ms / 60000).toFixed(1)} min (${((100 * ms) / total).toFixed(0)}%)`;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  const lines = [
    `# ${options.title ?? `Evaluation of ${model}`}`,
    "",
    ...(options.notes ? [options.notes.trim(), ""] : []),
    `Model \`${model}\`; ${tasks.length} tasks (${tasks.join(", ")}), ${samples} samples in all ` +
    `(evaluation split, seed ${seed}), prompts of at most ${length} tokens (contexts of ` +
    `${Math.min(...contextTokens)}–${Math.max(...contextTokens)}); ${cells.length} cells.`,
    "",
    "Protocols (kvpress's two): each sample's prompt (context, question) is prefilled once with the full " +
    "cache, which also scores every token for each scorer, over the context alone and over the whole " +
    "prompt. Query-agnostic (plain press names): every press x ratio compresses a copy of the context's " +
    "cache (per-layer, per-head budgets, ragged storage), then the question is appended and the answer " +
    "decoded greedily. Query-aware (`<press> [aware]`): context and question are compressed together and " +
    "the answer is decoded from the full prefill's last logits. A sample is correct when the answer " +
    "contains every expected value.",
    "",
    ...(headlines.length > 0 ? ["## Headline", "", ...headlines, ""] : []),
    "## Accuracy, mean over tasks (%)",
    "",
    pressTable(
      average,
      presses,
      ratios,
      (s) => percent(s.accuracy),
      (rows) => percent(rows.reduce((a, s) => a + s.accuracy, 0) / rows.length),
    ),
    "",
    "![accuracy vs ratio, mean over tasks](accuracy.svg)",
    "",
    "## Retention: accuracy as % of the full cache's (mean over tasks)",
    "",
    retentionTable(average, presses, ratios),
    "",
    ...tasks.flatMap((task) => [
      `Retention on ${task} (%):`,
      "",
      retentionTable(stats.filter((s) => s.task === task), presses, ratios),
      "",
    ]),
    ...sameScorerTables(groups, average, ratios),
    ...(groups.length > 0
      ? [
        "## Paired comparison on the same samples",
        "",
        "Every press answers the same prefilled samples, so where two presses disagree the sample says " +
        "which one kept what mattered; accuracy differences of a few points on 100 samples per task are " +
        "judged by these splits, not by the means.",
        "",
        ...pairedTables(groups, cells, ratios),
        ...bestBaselineTables(average, cells, presses, ratios),
      ]
      : []),
    "## Accuracy per task (%)",
    "",
    table(
      ["task", "press", ...ratios.map(ratioHeader)],
      tasks.flatMap((task) =>
        presses.map((press) => [
          task,
          press === "full" ? "full (no compression)" : press,
          ...ratios.map((r) => {
            const s = stats.find((x) =>
              x.task === task && x.press === press && x.ratio === (press === "full" ? 0 : r)
            );
            return s ? percent(s.accuracy) : "–";
          }),
        ])
      ),
    ),
    "",
    "![accuracy vs ratio per task](accuracy_tasks.svg)",
    "",
    "## KL divergence of the next-token distribution to the full cache's (nats, mean)",
    "",
    "At the first answer token (query-agnostic); one token later, after the same first token, for " +
    "query-aware presses, whose first token is the full cache's.",
    "",
    pressTable(average, presses.filter((p) => p !== "full"), ratios, (s) => s.kl.toPrecision(3)),
    "",
    "![KL divergence vs ratio](kl.svg)",
    "",
    "## Attention-output relative error (mean over layers and samples)",
    "",
    "At the question's last token (query-agnostic); at the first answer token (query-aware).",
    "",
    pressTable(average, presses.filter((p) => p !== "full"), ratios, (s) => s.attentionError.toFixed(3)),
    "",
    "![attention-output error vs ratio](attention_error.svg)",
    "",
    "## KV cache bytes after decoding (mean; % of the full cache)",
    "",
    "Real allocated bytes, with room for the question and the answer; the full cache's are the dense " +
    "cache's of the same tokens and room.",
    "",
    pressTable(average, presses, ratios, (s) => `${mib(s.kvBytes)} (${percent(s.kvFraction)}%)`),
    "",
    "![KV bytes vs ratio](kv_bytes.svg)",
    "",
    "## Cost per cell (mean)",
    "",
    "Compression = the scorer's statistics and scoring (shared by the presses with that scorer) plus " +
    "compaction; the question is appended to a compressed cache in one forward (query-agnostic).",
    "",
    costTable(cells, presses),
    "",
    "## Where the time went",
    "",
    `Compute ${(total / 60000).toFixed(1)} min in all: dense prefill ${share(time.prefillMs)}, ` +
    `scoring ${share(time.scoreMs)}, compaction ${share(time.compactMs)}, question appends ` +
    `${share(time.questionMs)}, answer decoding ${share(time.decodeMs)}. Summed over workers; ` +
    "a prefill and a scorer's statistics are shared by every cell of a sample.",
    "",
  ];
  return lines.join("\n");
}

/**
 * Writes `README.md` and the SVG charts (accuracy mean and per task, KL, attention-output
 * error, KV bytes) into `dir`, created if needed; returns the paths written.
 *
 * @example
 * ```ts
 * await writeReport(await readResults("results.jsonl"), "docs/results/tiny", { notes: "Command: ..." });
 * ```
 */
export async function writeReport(
  cells: readonly EvalCell[],
  dir: string,
  options: ReportOptions = {},
): Promise<string[]> {
  const markdown = reportMarkdown(cells, options);
  const stats = cellStats(cells);
  const subtitle = `${cells[0].model}, ${new Set(cells.map((c) => `${c.task}\t${c.sample}`)).size} samples`;
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const chart of CHARTS) {
    const svg = chart.metric === "tasks"
      ? await accuracyByTaskSvg(stats, subtitle)
      : await metricSvg(stats, chart.metric, subtitle);
    await Deno.writeTextFile(`${dir}/${chart.file}`, svg);
    written.push(`${dir}/${chart.file}`);
  }
  await Deno.writeTextFile(`${dir}/README.md`, markdown);
  return [`${dir}/README.md`, ...written];
}
