/** `deno task solve` end to end: .npy pairs in (files or folders), the averaged [99, L, H] .npy and a profile out. */

import assert from "node:assert/strict";
import { averageBudgets } from "../../src/lukv/budgets.ts";
import { evictionCurves } from "../../src/lukv/curves.ts";
import { readProfile } from "../../src/lukv/profile.ts";
import { solveBudgets } from "../../src/lukv/solver.ts";
import { readBudgetNpy, writeHeadTableNpy } from "../../src/lukv/table_npy.ts";
import { randomInstance } from "../lukv/instances.ts";

const SOLVE = new URL("../../src/cli/solve.ts", import.meta.url).pathname;

async function solve(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", SOLVE, ...args],
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("solve averages pairs given as repeated files or as folders, and writes .npy and profile", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/oracle`);
    await Deno.mkdir(`${dir}/scores`);
    const instances = [randomInstance(1, 2, 3, 100), randomInstance(2, 2, 3, 150)];
    const expected = averageBudgets(
      instances.map(({ oracle, scores }) =>
        solveBudgets(evictionCurves(oracle, scores, { sink: 2, window: 4 }), { scope: "layer" })
      ),
    );
    for (const [i, { oracle, scores }] of instances.entries()) {
      await Deno.writeFile(`${dir}/oracle/pair${i}.npy`, writeHeadTableNpy(oracle));
      await Deno.writeFile(`${dir}/scores/pair${i}.npy`, writeHeadTableNpy(scores));
    }
    const common = ["--sink", "2", "--window", "4", "--scope", "layer"];
    const byFolder = await solve(
      ...common,
      ...["--oracle", `${dir}/oracle`, "--scores", `${dir}/scores`],
      ...["--out", `${dir}/folder.npy`, "--profile", `${dir}/p.json`, "--model-id", "test/model"],
    );
    assert.equal(byFolder.code, 0, byFolder.stderr);
    assert.match(
      byFolder.stdout,
      /^solved 2 pairs \(\[2, 3\], T 100\.\.150, layer, sink 2, window 4\) in \d+ ms/,
    );
    assert.equal(byFolder.stdout.trim().split("\n").length, 1, "one summary line");
    assert.deepEqual(readBudgetNpy(await Deno.readFile(`${dir}/folder.npy`)), expected);
    const profile = readProfile(await Deno.readTextFile(`${dir}/p.json`));
    assert.deepEqual(profile.budgets, expected);
    assert.equal(profile.model.id, "test/model");
    assert.deepEqual(profile.calibration, { name: "cli", pairs: 2, minLength: 100, maxLength: 150 });

    const byFile = await solve(
      ...common,
      ...["--oracle", `${dir}/oracle/pair0.npy`, "--scores", `${dir}/scores/pair0.npy`],
      ...["--oracle", `${dir}/oracle/pair1.npy`, "--scores", `${dir}/scores/pair1.npy`],
      ...["--out", `${dir}/files.npy`],
    );
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.deepEqual(await Deno.readFile(`${dir}/files.npy`), await Deno.readFile(`${dir}/folder.npy`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("solve explains bad command lines and bad data, with a non-zero status", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { oracle, scores } = randomInstance(3, 1, 2, 20);
    await Deno.writeFile(`${dir}/o.npy`, writeHeadTableNpy(oracle));
    await Deno.writeFile(`${dir}/s.npy`, writeHeadTableNpy(scores));
    await Deno.writeFile(`${dir}/bad.npy`, new Uint8Array([1, 2, 3]));
    const pair = ["--oracle", `${dir}/o.npy`, "--scores", `${dir}/s.npy`, "--out", `${dir}/p.npy`];
    const cases: [string[], number, RegExp][] = [
      [
        ["--oracle", `${dir}/o.npy`, "--sink", "1", "--window", "1", "--out", "x"],
        2,
        /as many --oracle as --scores/,
      ],
      [[...pair, "--window", "1"], 2, /--sink needs a non-negative integer/],
      [[...pair, "--sink", "1", "--window", "1", "--scope", "model"], 2, /--scope is global or layer/],
      [[...pair, "--sink", "10", "--window", "10"], 1, /o\.npy with .*s\.npy: sink \+ window \(20\)/],
      [
        [...pair, "--sink", "1", "--window", "1", "--min-keep", "2"],
        1,
        /minKeepFraction must lie in \[0, 1\]/,
      ],
      [
        [
          "--oracle",
          `${dir}/bad.npy`,
          "--scores",
          `${dir}/s.npy`,
          "--sink",
          "1",
          "--window",
          "1",
          "--out",
          "x",
        ],
        1,
        /not an \.npy/,
      ],
      [
        ["--oracle", dir, "--scores", `${dir}/s.npy`, "--sink", "1", "--window", "1", "--out", "x"],
        2,
        /two files or two folders/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const result = await solve(...args);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
