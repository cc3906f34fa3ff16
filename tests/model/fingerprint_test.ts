// The weights fingerprint that LU-KV profiles record: equal for equal weights however they are
// filed, different after any retraining-like change, and cheap on large tensors.
import assert from "node:assert/strict";
import { weightsFingerprint } from "../../src/model/fingerprint.ts";
import { Checkpoint, parseSafetensors } from "../../src/model/safetensors.ts";
import { buildSafetensors, f32Bytes, type TensorSpec, withFolder } from "./files.ts";

const f32 = (shape: number[], values: number[]): TensorSpec => ({
  dtype: "F32",
  shape,
  data: f32Bytes(values),
});
const fingerprintOf = (tensors: Record<string, TensorSpec>) =>
  weightsFingerprint(
    parseSafetensors(buildSafetensors(tensors)).tensors.values(),
    (t, at, n) => t.bytes.subarray(at, at + n),
  );

const small = {
  "model.norm.weight": f32([2], [1, 0.5]),
  "lm_head.weight": f32([2, 2], [1, 2, 3, 4]),
};

Deno.test("the fingerprint is 64 hex digits, the same for the same weights in any order or file layout", async () => {
  const reference = await fingerprintOf(small);
  assert.match(reference, /^[0-9a-f]{64}$/);
  assert.equal(
    await fingerprintOf({
      "lm_head.weight": small["lm_head.weight"],
      "model.norm.weight": small["model.norm.weight"],
    }),
    reference,
  );
  const sharded = {
    "a.safetensors": buildSafetensors({ "model.norm.weight": small["model.norm.weight"] }),
    "b.safetensors": buildSafetensors({ "lm_head.weight": small["lm_head.weight"] }),
    "model.safetensors.index.json": JSON.stringify({
      weight_map: { "model.norm.weight": "a.safetensors", "lm_head.weight": "b.safetensors" },
    }),
  };
  await withFolder(sharded, async (dir) => {
    assert.equal(await (await Checkpoint.open(dir)).fingerprint(), reference);
  });
});

Deno.test("one changed element, a reshape or a rename changes the fingerprint", async () => {
  const reference = await fingerprintOf(small);
  const variants: Record<string, TensorSpec>[] = [
    { ...small, "lm_head.weight": f32([2, 2], [1, 2, 3, 4.0001]) },
    { ...small, "lm_head.weight": f32([4, 1], [1, 2, 3, 4]) },
    { "model.norm.weight": small["model.norm.weight"], "lm_head.weight2": small["lm_head.weight"] },
  ];
  for (const variant of variants) assert.notEqual(await fingerprintOf(variant), reference);
});

Deno.test("a large tensor is sampled: a dense update changes its fingerprint", async () => {
  const n = 100_000; // 400 KB: beyond the 64 KiB hashed whole
  const values = Array.from({ length: n }, (_, i) => Math.sin(i));
  const reference = await fingerprintOf({ w: f32([n], values) });
  assert.equal(await fingerprintOf({ w: f32([n], values) }), reference);
  assert.notEqual(await fingerprintOf({ w: f32([n], values.map((v) => v + 1e-3)) }), reference);
  const ends = [...values];
  ends[0] += 1; // the first and the last slices are always sampled
  assert.notEqual(await fingerprintOf({ w: f32([n], ends) }), reference);
});
