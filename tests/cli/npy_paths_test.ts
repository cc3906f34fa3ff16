/** The CLIs that read .npy files name the file when it is malformed (issue 22 item 3). */

import assert from "node:assert/strict";
import { writeNpy } from "../../src/lukv/npy.ts";
import { writeHeadTableNpy } from "../../src/lukv/table_npy.ts";
import { runScript, type ScriptOutput } from "./run_script.ts";

const CLI = new URL("../../src/cli/", import.meta.url).pathname;
const FIXTURE = new URL("../fixtures/models/llama-llama3rope", import.meta.url).pathname;

function run(cli: string, ...args: string[]): Promise<ScriptOutput> {
  return runScript(`${CLI}${cli}`, args);
}

Deno.test("solve names the oracle or score file whose header, size or values are bad", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const table = (values: number[]) =>
      writeHeadTableNpy({ layers: 1, heads: 1, length: 4, data: Float64Array.from(values) });
    await Deno.writeFile(`${dir}/o.npy`, table([1, 2, 3, 4]));
    await Deno.writeFile(`${dir}/s.npy`, table([-1, 2, -3, 4]));
    await Deno.writeFile(`${dir}/negative.npy`, table([1, -2, 3, 4]));
    await Deno.writeFile(`${dir}/nan.npy`, table([1, 2, NaN, 4]));
    await Deno.writeFile(`${dir}/short.npy`, table([1, 2, 3, 4]).subarray(0, 140));
    const solve = (oracle: string, scores: string) =>
      run(
        "solve.ts",
        "--oracle",
        oracle,
        "--scores",
        scores,
        "--sink",
        "0",
        "--window",
        "0",
        "--out",
        `${dir}/p.npy`,
      );
    const cases: [string, string, RegExp][] = [
      [`${dir}/negative.npy`, `${dir}/s.npy`, /negative\.npy: value \[0, 0, 1\] is -2; oracle utilities/],
      [`${dir}/o.npy`, `${dir}/nan.npy`, /nan\.npy: value \[0, 0, 2\] is NaN; scores must be finite/],
      [`${dir}/short.npy`, `${dir}/s.npy`, /short\.npy: .npy data is truncated/],
    ];
    for (const [oracle, scores, message] of cases) {
      const { code, stderr } = await solve(oracle, scores);
      assert.equal(code, 1, stderr);
      assert.match(stderr, message);
    }
    const { code, stderr } = await solve(`${dir}/o.npy`, `${dir}/s.npy`);
    assert.equal(code, 0, stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generate names a published .npy profile whose prune ratios are bad", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const prune = new Float32Array(99 * 2 * 2).fill(0.5);
    prune[7] = 1.5;
    await Deno.writeFile(`${dir}/curves.npy`, writeNpy({ shape: [99, 2, 2], data: prune }));
    const { code, stderr } = await run(
      "generate.ts",
      ...["--model", FIXTURE, "--prompt", "Once upon a time", "--device", "cpu", "--max-new-tokens", "2"],
      ...["--press", "lukv-snapkv", "--ratio", "0.5", "--profile", `${dir}/curves.npy`],
    );
    assert.equal(code, 1, stderr);
    assert.match(stderr, /curves\.npy: prune ratio \[1, 1, 1\] is 1\.5; prune ratios lie in \[0, 1\]/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
