/** Every command line follows one convention: usage errors exit 2 with one line and the usage, runtime errors exit 1 with one line; stdout is the result only. */

import assert from "node:assert/strict";
import { hasNvidiaGpu } from "../../ffi/build.ts";
import { runScript, type ScriptOutput } from "./run_script.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MODEL = `${ROOT}models/tiny`;
const MISSING = `${ROOT}no/such/model`;

/** Runs a script of the repository. */
function run(script: string, args: string[]): Promise<ScriptOutput> {
  return runScript(`${ROOT}${script}`, args);
}

/** One mistake: exit code, the first stderr line, nothing on stdout, the usage after a usage error. */
async function refused(script: string, args: string[], code: 1 | 2, message: RegExp): Promise<void> {
  const result = await run(script, args);
  const where = `${script} ${args.join(" ")}`;
  assert.equal(result.code, code, `${where}: exit ${result.code}\n${result.stderr}`);
  const [first, ...rest] = result.stderr.trim().split("\n");
  assert.match(first, message, where);
  assert.doesNotMatch(first, /^(\w+): \1:/, `${where}: the command's name once`);
  assert.equal(result.stdout, "", `${where}: stdout is for results`);
  if (code === 2) assert.match(rest.join("\n"), /^usage: deno task /, `${where}: the usage follows`);
  else assert.equal(rest.length, 0, `${where}: one line`);
}

Deno.test("generate: press and ratio go together, negative numbers parse, validation comes before the model", async () => {
  const generate = "src/cli/generate.ts", base = ["--model", MISSING, "--prompt", "hi"];
  await refused(generate, [...base, "--press", "snapkv"], 2, /^generate: --press snapkv needs --ratio R/);
  await refused(
    generate,
    [...base, "--ratio", "0.5"],
    2,
    /^generate: --ratio needs a --press that compresses/,
  );
  await refused(
    generate,
    [...base, "--temperature", "-1"],
    2,
    /^generate: temperature must be a finite number >= 0, got -1$/,
  );
  await refused(
    generate,
    [...base, "--press", "fastkv", "--ratio", "0.5"],
    2,
    /^generate: unknown press "fastkv"/,
  );
  await refused(
    generate,
    [...base, "--press", "snapkv", "--ratio", "0.5", "--scorer-param", "epsilon=0.1"],
    2,
    /^generate: scorer snapkv has no parameter "epsilon"/,
  );
  await refused(generate, base, 1, /^generate: --model .*no\/such\/model: no such model folder$/);
});

Deno.test("profile and eval refuse a bad scorer, ratio list or folder before loading anything", async () => {
  await refused(
    "src/cli/profile.ts",
    ["--model", MISSING, "--scorer", "bogus", "--out", "/tmp/x.json"],
    2,
    /^profile: unknown scorer "bogus"/,
  );
  const evalArgs = [
    "--model",
    MODEL,
    "--out",
    "/tmp/lukv-conventions.jsonl",
    "--tasks",
    "needle",
    "--samples",
    "1",
  ];
  await refused(
    "src/cli/eval.ts",
    [...evalArgs, "--presses", "full,snapkv", "--ratios", ","],
    2,
    /^eval: --ratios gives no ratio/,
  );
  await refused(
    "src/cli/eval.ts",
    [...evalArgs, "--presses", "full,fastkv"],
    2,
    /^eval: unknown press "fastkv"/,
  );
  await refused(
    "src/cli/eval.ts",
    ["--model", MISSING, "--out", "/tmp/x.jsonl", "--presses", "full"],
    1,
    /^eval: --model .*: no such model folder$/,
  );
});

Deno.test("the build reports on stderr only, so commands that build first keep stdout for their result", async () => {
  const { code, stdout, stderr } = await run("ffi/build.ts", ["--cpu-only"]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "");
  assert.match(stderr, /liblukv_cpu\.so (is up to date|in )/);
});

Deno.test({
  name: "without a GPU the build skips the CUDA library, saying so, unless --cuda asks for it",
  ignore: hasNvidiaGpu(),
  fn: async () => {
    const { code, stdout, stderr } = await run("ffi/build.ts", []);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "");
    assert.match(stderr, /CUDA library skipped: no NVIDIA GPU here \(--cuda builds it anyway\)/);
  },
});
