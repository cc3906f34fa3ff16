/** `deno task eval` and `deno task report` end to end on a fixture model: bad command lines refused before any work, a resumable run, its report. */

import assert from "node:assert/strict";
import { writeProfile } from "../../src/lukv/profile.ts";
import { FIXTURES, standInProfile } from "./eval_fixtures.ts";
import { runScript, type ScriptOutput } from "../cli/run_script.ts";

const EVAL = new URL("../../src/cli/eval.ts", import.meta.url).pathname;
const REPORT = new URL("../../src/cli/report.ts", import.meta.url).pathname;
const MODEL = FIXTURES + "llama-llama3rope";

function run(script: string, ...args: string[]): Promise<ScriptOutput> {
  return runScript(script, args);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("eval refuses bad command lines before any work, saying what is wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/r.jsonl`;
    await Deno.writeTextFile(`${dir}/snapkv.json`, writeProfile(standInProfile(2, 2)));
    await Deno.writeTextFile(`${dir}/deep.json`, writeProfile(standInProfile(4, 2, "other/model")));
    const base = [
      ...["--model", MODEL, "--out", out, "--tasks", "needle", "--samples", "1", "--length", "110"],
      ...["--presses", "full,snapkv"],
    ];
    const cases: [string[], number, RegExp][] = [
      [["--tasks", "needle,haystack"], 2, /unknown task "haystack"; the tasks are needle, multikey/],
      [
        ["--presses", "full,snapkv,fastkv"],
        2,
        /unknown press "fastkv"; presses: full \| SCORER \| adakv-SCORER/,
      ],
      [["--ratios", "0.5,1"], 2, /--ratios: 1 is not a ratio in \[0, 1\)/],
      [["--ratios", "0.5,-0.2"], 2, /--ratios: -0.2 is not a ratio/],
      [["--ratios", "0.5,0.5"], 2, /--ratios repeat/],
      [["--samples", "0"], 2, /--samples needs an integer >= 1, got 0/],
      [["--mode", "sideways"], 2, /--mode is agnostic, aware or both, got sideways/],
      [["--scorer-param", "epsilon"], 2, /--scorer-param takes name=value, got "epsilon"/],
      [
        ["--scorer-param", "window=wide"],
        2,
        /scorer snapkv's window must be a number, got "wide"/,
      ],
      [["--scorer-param", "epsilon=0.01"], 2, /no press's scorer takes epsilon \(presses: full, snapkv/],
      [["--presses", "full,snapkv", "--profile", `snapkv=${dir}/snapkv.json`], 2, /--profile is only for/],
      [
        ["--presses", "full,lukv"],
        1,
        /press lukv needs a profile: pass --profile SCORER=PATH, or put lukv-<scorer>\.json in/,
      ],
      [
        ["--presses", "lukv-expected-attention", "--profile", `snapkv=${dir}/snapkv.json`],
        1,
        /press lukv-expected-attention needs a expected-attention profile; have snapkv/,
      ],
      [
        ["--presses", "lukv", "--profile", `expected-attention=${dir}/snapkv.json`],
        1,
        /snapkv\.json was made with scorer snapkv, not expected-attention/,
      ],
      [
        ["--presses", "lukv", "--profile", `snapkv=${dir}/deep.json`],
        1,
        /profile "other\/model" is for 4 layers x 2 KV heads, but the model has 2 layers x 2 KV heads/,
      ],
      [["--presses", "lukv", "--profile", `snapkv=${dir}/missing.json`], 1, /profile: .*missing\.json/],
      [["--length", "128"], 2, /--length 128 leaves no room for answers in 128 positions/],
      [["--workers", "0"], 2, /--workers needs an integer >= 1, got 0/],
      [["--device", "tpu"], 2, /--device is cpu, cuda or auto, got tpu/],
    ];
    for (const [args, code, message] of cases) {
      const result = await run(EVAL, ...base, ...args);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(" "));
      assert.equal(await exists(out), false, `${args.join(" ")}: no results file before the checks pass`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval runs, resumes with nothing left to do, and report writes the README and charts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/r.jsonl`;
    await Deno.writeTextFile(`${dir}/snapkv.json`, writeProfile(standInProfile(2, 2)));
    const args = [
      ...["--model", MODEL, "--out", out, "--tasks", "needle", "--samples", "2", "--length", "110"],
      ...["--presses", "full,snapkv,lukv", "--profile", `snapkv=${dir}/snapkv.json`, "--ratios", "0.5,0.8"],
    ];
    const first = await run(EVAL, ...args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /\[#+\] 10\/10 cells, \d+ s, ETA 0 s/);
    assert.match(first.stdout, /^press\s+ratio\s+accuracy\s+KL\s+attn err\s+KV bytes\nfull\s+-/);
    assert.match(first.stdout, /\nlukv-snapkv\s+0\.8\s/);
    assert.match(first.stdout, /10 cells computed, 0 found done/);
    const lines = (await Deno.readTextFile(out)).trim().split("\n");
    assert.equal(lines.length, 2 * (1 + 2 * 2));
    const again = await run(EVAL, ...args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 cells computed, 10 found done/);
    assert.equal((await Deno.readTextFile(out)).trim().split("\n").length, lines.length);

    const report = await run(REPORT, out, "--out", `${dir}/report/`, "--title", "Fixture run");
    assert.equal(report.code, 0, report.stderr);
    const readme = await Deno.readTextFile(`${dir}/report/README.md`);
    assert.match(readme, /^# Fixture run\n/);
    assert.match(readme, /\| full \(no compression\) \|/);
    for (const chart of ["accuracy", "accuracy_tasks", "kl", "attention_error", "kv_bytes"]) {
      assert.match(await Deno.readTextFile(`${dir}/report/${chart}.svg`), /^<svg/);
    }
    const refused = await run(REPORT, `${dir}/none.jsonl`, "--out", `${dir}/x`);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /none\.jsonl holds no results/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
