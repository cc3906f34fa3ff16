/** The fuzzer's outputs: the per-parser table and the Markdown report of every non-clean outcome kind. */

import { OUTCOMES } from "./classify.ts";
import type { InputRecord, ParserResult } from "./harness.ts";

/** Examples written per outcome kind. */
const EXAMPLES_PER_KIND = 3;

/** The per-parser table (Markdown, which also reads well in a terminal). */
export function resultTable(results: readonly ParserResult[]): string {
  const rows = [
    `| parser | inputs | ${OUTCOMES.join(" | ")} | runners | wall s | slowest ms (index) |`,
    `|---|--:|${OUTCOMES.map(() => "--:").join("|")}|--:|--:|---|`,
  ];
  for (const r of results) {
    const slowest = r.slowest.slice(0, 3).map((s) => `${s.ms.toFixed(s.ms < 10 ? 1 : 0)} (#${s.index})`).join(
      ", ",
    );
    rows.push(
      `| ${r.parser} | ${r.inputs} | ${OUTCOMES.map((o) => r.counts[o]).join(" | ")} | ${r.starts} | ${
        r.seconds.toFixed(1)
      } | ${slowest} |`,
    );
  }
  return rows.join("\n");
}

/**
 * The kind of a finding: its outcome and its message with numbers, quoted text and long
 * runs of one character folded, so that 300 inputs failing the same way are one kind.
 */
export function findingKind(finding: InputRecord): string {
  if (finding.outcome === "hang") return "hang";
  if (finding.outcome === "crash") {
    return `crash: ${
      finding.message.includes("out of memory") ? "out of memory" : finding.message.split(";")[0]
    }`;
  }
  // Raw JavaScript errors end with the offending value ("... in 0", "... in NaN"): fold it, and the frames.
  const message = finding.message
    .replace(/ \[at .*$/, "")
    .replace(/ in [^']*$/, " in …")
    .replace(/(.)\1{7,}/g, "$1…")
    .replace(/"[^"]*"|'[^']*'/g, "…")
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, "N");
  return `${finding.outcome}: ${message.split("\n")[0].slice(0, 120)}`;
}

/** Findings grouped by parser and kind, kinds in first-seen order. */
export function groupFindings(results: readonly ParserResult[]): Map<string, Map<string, InputRecord[]>> {
  const groups = new Map<string, Map<string, InputRecord[]>>();
  for (const r of results) {
    const kinds = new Map<string, InputRecord[]>();
    for (const f of r.findings) {
      const kind = findingKind(f);
      kinds.set(kind, [...(kinds.get(kind) ?? []), f]);
    }
    if (kinds.size > 0) groups.set(r.parser, kinds);
  }
  return groups;
}

function example(f: InputRecord, seed: string): string {
  const message = f.message.length > 700 ? `${f.message.slice(0, 700)}…` : f.message;
  return [
    `- input #${f.index} (${f.bytes} bytes, from ${f.seed}; ${f.ms.toFixed(1)} ms): ` +
    `\`deno task fuzz --parser ${f.parser} --seed ${seed} --index ${f.index}\``,
    `  - mutation: ${f.steps.map((s) => s.length > 200 ? `${s.slice(0, 200)}…` : s).join("; ")}`,
    `  - result: ${message.replaceAll("\n", " ⏎ ")}`,
  ].join("\n");
}

/** The Markdown report: command, table, slowest inputs and examples of each non-clean kind. */
export function markdownReport(
  results: readonly ParserResult[],
  run: { command: string; seed: string; timeoutMs: number; date: string; machine: string },
): string {
  const lines = [
    `# Fuzz run ${run.date}`,
    "",
    `- command: \`${run.command}\``,
    `- seed: ${run.seed}; per-input timeout: ${run.timeoutMs} ms`,
    `- machine: ${run.machine}`,
    "",
    resultTable(results),
    "",
    "## Slowest inputs",
    "",
  ];
  for (const r of results) {
    lines.push(
      `- ${r.parser}: ${r.slowest.map((s) => `#${s.index} ${s.ms.toFixed(1)} ms (${s.outcome})`).join(", ")}`,
    );
  }
  lines.push("", "## Outcomes other than accepted and clean-error", "");
  const groups = groupFindings(results);
  if (groups.size === 0) lines.push("None.");
  for (const [parser, kinds] of groups) {
    lines.push(`### ${parser}`, "");
    for (const [kind, findings] of kinds) {
      lines.push(`#### ${findings.length} × ${kind}`, "");
      const indices = findings.slice(0, 60).map((f) => `#${f.index}`).join(", ");
      lines.push(`Inputs: ${indices}${findings.length > 60 ? ", …" : ""}`, "");
      for (const f of findings.slice(0, EXAMPLES_PER_KIND)) lines.push(example(f, run.seed));
      lines.push("");
    }
  }
  return lines.join("\n") + "\n";
}
