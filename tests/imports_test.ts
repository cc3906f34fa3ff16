/** The layers import downward only (DESIGN.md 1): a test that fails when an import runs upward. */

import assert from "node:assert/strict";

const SRC = new URL("../src/", import.meta.url).pathname;

/**
 * Each layer's rank: a module may import its own layer and lower ranks only. The LU-KV
 * core is pure TypeScript and sits low so that presses and the pipeline build on it.
 */
const RANK: Record<string, number> = {
  backend: 0,
  cache: 1,
  model: 2,
  lukv: 2,
  press: 3,
  pipeline: 4,
  eval: 5,
  cli: 6,
};

/** What the pure LU-KV core may import besides itself: errors only, never FFI, models or tokenizers. */
const LUKV_MAY_IMPORT = new Set(["backend/errors.ts"]);

function* sources(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* sources(`${path}/`);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Relative imports of a file, as paths under src/ (`model/forward.ts`). */
function importsOf(path: string): { line: number; target: string }[] {
  const found: { line: number; target: string }[] = [];
  Deno.readTextFileSync(path).split("\n").forEach((text, i) => {
    const match = /^(?:import|export)\s[^"]*from\s+"([./][^"]+)"/.exec(text) ??
      /^import\s+"([./][^"]+)"/.exec(text);
    if (!match) return;
    const resolved = new URL(match[1], `file://${path}`).pathname;
    if (resolved.startsWith(SRC)) found.push({ line: i + 1, target: resolved.slice(SRC.length) });
  });
  return found;
}

Deno.test("every import under src/ runs to the same layer or a lower one", () => {
  const upward: string[] = [];
  let checked = 0;
  for (const path of sources(SRC)) {
    const from = path.slice(SRC.length), layer = from.split("/")[0];
    assert.ok(layer in RANK, `${from}: src/${layer}/ is not a known layer`);
    for (const { line, target } of importsOf(path)) {
      const to = target.split("/")[0];
      checked++;
      const allowed = layer === "lukv"
        ? to === "lukv" || LUKV_MAY_IMPORT.has(target)
        : to === layer || RANK[to] < RANK[layer];
      if (!allowed) upward.push(`src/${from}:${line} imports src/${target}`);
    }
  }
  assert.ok(checked > 100, `only ${checked} imports found: the scan is broken`);
  assert.deepEqual(upward, [], `imports that run upward:\n${upward.join("\n")}`);
});

Deno.test("the import scan sees an upward import", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/probe.ts`;
    Deno.writeTextFileSync(
      file,
      `import { x } from "${SRC}eval/runner.ts";\nimport type { y } from "./z.ts";\n`,
    );
    assert.deepEqual(importsOf(file).map((i) => i.line), [1]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
