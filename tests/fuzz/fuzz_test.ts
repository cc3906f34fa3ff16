/** The fuzzer on a few inputs per parser: no hangs or crashes, and the classifier and harness on hand-made inputs. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { classifyError } from "./classify.ts";
import { fuzzParser } from "./harness.ts";
import { mutateBytes, mutateJson, mutateNpy, Rng } from "./mutate.ts";
import { TARGETS } from "./targets.ts";
import { writeNpy } from "../../src/lukv/npy.ts";
import { findingKind } from "./report.ts";

Deno.test("classifyError: LukvError is clean, a raw RangeError or TypeError is not unless it names the file", () => {
  assert.deepEqual(
    classifyError(new LukvError("config", STATUS.FORMAT, "config.json: bad"), ["config.json"]),
    "clean-error",
  );
  assert.deepEqual(classifyError(new RangeError("Invalid array length"), ["fuzz.npy"]), "other-error");
  assert.deepEqual(classifyError(new TypeError("type is not iterable"), ["tokenizer.json"]), "other-error");
  assert.deepEqual(classifyError(new RangeError("fuzz.npy: shape too large"), ["fuzz.npy"]), "clean-error");
  assert.deepEqual(
    classifyError(new SyntaxError("config.json: Unexpected token"), ["config.json"]),
    "other-error",
  );
  assert.deepEqual(classifyError("a string", ["config.json"]), "other-error");
});

Deno.test("fuzzParser: hand-made inputs give every outcome, and the runner restarts after a hang and a crash", async () => {
  const result = await fuzzParser({ parser: "selftest", seed: "1", count: 6, timeoutMs: 500 });
  // selftest: accepted, LukvError, raw RangeError, infinite loop, exit(134), RangeError naming the file.
  assert.deepEqual(result.counts, {
    "accepted": 1,
    "clean-error": 2,
    "other-error": 1,
    "hang": 1,
    "crash": 1,
  });
  assert.deepEqual(result.inputs, 6);
  assert.deepEqual(result.starts, 3);
  assert.deepEqual(result.findings.map((f) => [f.index, f.outcome]), [[2, "other-error"], [3, "hang"], [
    4,
    "crash",
  ]]);
  assert.deepEqual(findingKind(result.findings[2]), "crash: exit code 134");
});

Deno.test("mutations are deterministic for a seed and index", async () => {
  const bytes = new TextEncoder().encode('{"a": [1, 2, {"b": "c"}], "d": 1.5}');
  const npy = writeNpy({ shape: [2, 3], data: new Float64Array(6) });
  for (const index of [0, 1, 2, 3]) {
    const again = (f: (rng: Rng) => unknown) => [f(new Rng("7", "p", index)), f(new Rng("7", "p", index))];
    const [a, b] = again((rng) => mutateBytes(rng, bytes));
    assert.deepEqual(a, b);
    const [c, d] = again((rng) => mutateJson(rng, JSON.parse(new TextDecoder().decode(bytes))));
    assert.deepEqual(c, d);
    const [e, f] = again((rng) => mutateNpy(rng, npy));
    assert.deepEqual(e, f);
  }
  for (const target of TARGETS) {
    const seeds = await target.seeds();
    const one = target.generate(new Rng("7", target.name, 5), seeds);
    const two = target.generate(new Rng("7", target.name, 5), seeds);
    assert.deepEqual(one, two, target.name);
  }
});

Deno.test("every parser: 30 fuzz inputs, no hang and no crash", async () => {
  for (const target of TARGETS) {
    const result = await fuzzParser({ parser: target.name, seed: "1", count: 30, timeoutMs: 5000 });
    assert.deepEqual(result.inputs, 30, target.name);
    const bad = result.findings.filter((f) => f.outcome === "hang" || f.outcome === "crash");
    assert.deepEqual(
      bad,
      [],
      `${target.name}: ${bad.map((f) => `#${f.index} ${f.outcome} ${f.steps.join("; ")}`).join("\n")}`,
    );
    // Other-errors are reported, not failed: the parsers are being hardened against them.
    if (result.counts["other-error"] > 0) {
      console.log(`${target.name}: ${result.counts["other-error"]} other-error (see deno task fuzz)`);
    }
    assert(result.counts.accepted + result.counts["clean-error"] + result.counts["other-error"] === 30);
  }
});
