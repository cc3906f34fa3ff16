/** Safetensors: round trips of f32/f16/bf16, every malformed header refused by name, single and sharded checkpoints. */

import assert from "node:assert/strict";
import { LukvError, STATUS } from "../../src/backend/errors.ts";
import { Checkpoint, hostView, parseSafetensors, toFloat32 } from "../../src/model/safetensors.ts";
import { bf16Bytes, buildSafetensors, f16Bytes, f32Bytes, safetensorsBytes, withFolder } from "./files.ts";

/** Asserts that `fn` throws a FORMAT LukvError whose message matches `message`. */
function refuses(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
    assert.equal(error.code, STATUS.FORMAT, `code ${error.codeName} for "${error.message}"`);
    assert.equal(error.codeName, "FORMAT");
    assert.match(error.message, message);
    return true;
  });
}

/** Like {@linkcode refuses}, for a promise. */
async function rejects(promise: Promise<unknown>, message: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof LukvError, `not a LukvError: ${error}`);
    assert.equal(error.code, STATUS.FORMAT, `code ${error.codeName} for "${error.message}"`);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("f32, f16 and bf16 tensors round-trip with shapes, metadata and views into the file", () => {
  const file = buildSafetensors({
    "a.weight": { dtype: "F32", shape: [2, 3], data: f32Bytes([1, -2, 3.25, 0, 1e-3, -7]) },
    "b.weight": { dtype: "F16", shape: [4], data: f16Bytes([1.5, -2, 65504, 0.000061035156]) },
    "c.weight": { dtype: "BF16", shape: [1, 3], data: bf16Bytes([1.5, -2, 3.140625]) },
    "empty": { dtype: "F32", shape: [0, 5], data: new Uint8Array() },
    "scalar": { dtype: "F32", shape: [], data: f32Bytes([42]) },
  }, { format: "pt" });
  const { tensors, metadata } = parseSafetensors(file);
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual([...tensors.keys()], ["a.weight", "b.weight", "c.weight", "empty", "scalar"]);

  const a = tensors.get("a.weight")!;
  assert.equal(a.dtype, "f32");
  assert.deepEqual(a.shape, [2, 3]);
  assert.equal(a.bytes.buffer, file.buffer, "bytes are a view into the file, not a copy");
  assert.deepEqual(toFloat32(a), new Float32Array([1, -2, 3.25, 0, 1e-3, -7]));

  const b = tensors.get("b.weight")!;
  assert.equal(b.dtype, "f16");
  assert.deepEqual(toFloat32(b), new Float32Array([1.5, -2, 65504, 0.00006103515625]));
  assert.ok(hostView(b) instanceof Uint16Array);
  assert.equal(hostView(b)[0], 0x3e00, "f16 1.5 is 0x3e00");

  const c = tensors.get("c.weight")!;
  assert.equal(c.dtype, "bf16");
  assert.deepEqual(c.shape, [1, 3]);
  assert.deepEqual(toFloat32(c), new Float32Array([1.5, -2, 3.140625]));
  assert.deepEqual([...hostView(c)], [0x3fc0, 0xc000, 0x4049]);

  assert.deepEqual(tensors.get("empty")!.shape, [0, 5]);
  assert.equal(toFloat32(tensors.get("empty")!).length, 0);
  assert.deepEqual(tensors.get("scalar")!.shape, []);
  assert.deepEqual(toFloat32(tensors.get("scalar")!), new Float32Array([42]));
});

Deno.test("tensors at unaligned offsets are copied, not misread; gaps between tensors are allowed", () => {
  const data = new Uint8Array(1 + 8 + 3 + 4);
  data.set(f32Bytes([0.5, -4]), 1);
  data.set(bf16Bytes([2]), 12);
  data.set(f16Bytes([-0.25]), 14);
  const file = safetensorsBytes({
    odd: { dtype: "F32", shape: [2], data_offsets: [1, 9] },
    bf: { dtype: "BF16", shape: [1], data_offsets: [12, 14] },
    half: { dtype: "F16", shape: [1], data_offsets: [14, 16] },
  }, data);
  const { tensors } = parseSafetensors(file);
  assert.deepEqual(toFloat32(tensors.get("odd")!), new Float32Array([0.5, -4]));
  assert.deepEqual(toFloat32(tensors.get("bf")!), new Float32Array([2]));
  assert.deepEqual(toFloat32(tensors.get("half")!), new Float32Array([-0.25]));
});

Deno.test("malformed files are FORMAT errors that name the file and the tensor", () => {
  const sixteen = f32Bytes([1, 2, 3, 4]);
  const entry = (dtype: string, shape: unknown, offsets: unknown) => ({
    dtype,
    shape,
    data_offsets: offsets,
  });
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated file", new Uint8Array([16, 0, 0, 0, 0]), /model\.safetensors is truncated: 5 bytes/],
    [
      "truncated inside the header",
      safetensorsBytes({ w: entry("F32", [4], [0, 16]) }, sixteen).subarray(0, 20),
      /declares a \d+-byte header but only 12 bytes follow/,
    ],
    ["header length beyond the file", safetensorsBytes({}, sixteen, 1000n), /declares a 1000-byte header/],
    ["absurd header length", safetensorsBytes({}, sixteen, 1n << 60n), /more than the 100000000 allowed/],
    ["non-JSON header", safetensorsBytes("{not json", sixteen), /the header is not valid JSON/],
    ["non-UTF-8 header", safetensorsBytes(new Uint8Array([0x7b, 0xff, 0x7d]), sixteen), /not valid UTF-8/],
    [
      "header not an object",
      safetensorsBytes([1, 2], sixteen),
      /the header must be a JSON object, got \[1,2\]/,
    ],
    ["null header", safetensorsBytes("null", sixteen), /the header must be a JSON object, got null/],
    [
      "metadata not strings",
      safetensorsBytes({ __metadata__: { step: 3 } }, sixteen),
      /__metadata__ must map strings to strings/,
    ],
    ["entry not an object", safetensorsBytes({ w: [0, 16] }, sixteen), /tensor "w": expected \{dtype, shape/],
    [
      "unsupported dtype",
      safetensorsBytes({ "ids": entry("I64", [2], [0, 16]) }, sixteen),
      /tensor "ids" has dtype I64, which lukv does not read \(supported: F32, F16, BF16\)/,
    ],
    [
      "dtype not a string",
      safetensorsBytes({ w: entry(4 as never, [4], [0, 16]) }, sixteen),
      /"w": dtype must be/,
    ],
    [
      "shape/size mismatch",
      safetensorsBytes({ "w": entry("F32", [2, 3], [0, 16]) }, sixteen),
      /tensor "w": shape \[2,3\] of F32 needs 24 bytes but data_offsets \[0, 16\] span 16/,
    ],
    [
      "offsets outside the data",
      safetensorsBytes({ "w": entry("F32", [16], [0, 64]) }, sixteen),
      /tensor "w": data_offsets \[0, 64\] lie outside the 16-byte data region/,
    ],
    [
      "begin after end",
      safetensorsBytes({ "w": entry("F32", [0], [12, 8]) }, sixteen),
      /tensor "w": data_offsets \[12, 8\] lie outside/,
    ],
    [
      "malformed offsets",
      safetensorsBytes({ "w": entry("F32", [4], [0]) }, sixteen),
      /tensor "w": data_offsets must be \[begin, end\]/,
    ],
    [
      "negative offsets",
      safetensorsBytes({ "w": entry("F32", [1], [-4, 0]) }, sixteen),
      /tensor "w": data_offsets must be \[begin, end\]/,
    ],
    [
      "overlapping spans",
      safetensorsBytes({ "a": entry("F32", [2], [0, 8]), "b": entry("F32", [2], [4, 12]) }, sixteen),
      /tensor "b" \(bytes 4\.\.12\) overlaps tensor "a" \(bytes 0\.\.8\)/,
    ],
    [
      "a span inside another",
      safetensorsBytes({ "outer": entry("F32", [4], [0, 16]), "inner": entry("F32", [1], [8, 12]) }, sixteen),
      /tensor "inner" \(bytes 8\.\.12\) overlaps tensor "outer"/,
    ],
    [
      "negative shape entry",
      safetensorsBytes({ "w": entry("F32", [-1, 4], [0, 16]) }, sixteen),
      /tensor "w": shape must be a list of non-negative integers, got \[-1,4\]/,
    ],
    [
      "fractional shape entry",
      safetensorsBytes({ "w": entry("F32", [1.5, 2], [0, 16]) }, sixteen),
      /tensor "w": shape must be a list of non-negative integers, got \[1\.5,2\]/,
    ],
    [
      "shape not a list",
      safetensorsBytes({ "w": entry("F32", "4", [0, 16]) }, sixteen),
      /tensor "w": shape must be a list/,
    ],
    [
      "shape too large",
      safetensorsBytes({ "w": entry("F32", [2 ** 40, 2 ** 20], [0, 16]) }, sixteen),
      /tensor "w": shape \[1099511627776,1048576\] is too large/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => parseSafetensors(bytes), LukvError, what);
    refuses(() => parseSafetensors(bytes), message);
  }
  refuses(
    () => parseSafetensors(new Uint8Array(3), "shard-7.safetensors"),
    /^safetensors: shard-7\.safetensors is/,
  );
});

const tensorsOfTwoShards = {
  first: {
    "model.embed_tokens.weight": { dtype: "F32", shape: [4, 2], data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) },
  },
  second: {
    "model.norm.weight": { dtype: "BF16", shape: [2], data: bf16Bytes([1, 0.5]) },
    "lm_head.weight": { dtype: "F32", shape: [4, 2], data: f32Bytes([0, 0, 0, 0, 1, 1, 1, 1]) },
  },
};

function indexJson(weightMap: Record<string, unknown>): string {
  return JSON.stringify({ metadata: { total_size: 72 }, weight_map: weightMap });
}

Deno.test("a single-file checkpoint gets tensors by name and shape and reports the unused ones", async () => {
  await withFolder({ "model.safetensors": buildSafetensors(tensorsOfTwoShards.second) }, async (dir) => {
    const checkpoint = await Checkpoint.open(dir);
    assert.deepEqual(checkpoint.names(), ["lm_head.weight", "model.norm.weight"]);
    assert.ok(checkpoint.has("lm_head.weight") && !checkpoint.has("model.embed_tokens.weight"));
    assert.equal(checkpoint.fileOf("lm_head.weight"), "model.safetensors");
    assert.deepEqual(checkpoint.unused(), ["lm_head.weight", "model.norm.weight"]);
    assert.deepEqual(
      toFloat32(checkpoint.read(checkpoint.get("model.norm.weight", [2]))),
      new Float32Array([1, 0.5]),
    );
    assert.deepEqual(checkpoint.unused(), ["lm_head.weight"]);
    refuses(
      () => checkpoint.get("model.embed_tokens.weight"),
      /tensor "model\.embed_tokens\.weight" is missing from the checkpoint in .*lukv_model_test_/,
    );
    refuses(
      () => checkpoint.get("lm_head.weight", [2, 4]),
      /tensor "lm_head\.weight" in model\.safetensors has shape \[4, 2\], expected \[2, 4\]/,
    );
    refuses(() => checkpoint.get("lm_head.weight", [4, 2, 1]), /has shape \[4, 2\], expected \[4, 2, 1\]/);
    assert.deepEqual(checkpoint.unused(), ["lm_head.weight"], "a failed get does not count as a use");
  });
});

Deno.test("a sharded checkpoint follows its index across shards", async () => {
  const files = {
    "model-00001-of-00002.safetensors": buildSafetensors(tensorsOfTwoShards.first),
    "model-00002-of-00002.safetensors": buildSafetensors(tensorsOfTwoShards.second),
    "model.safetensors.index.json": indexJson({
      "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
      "model.norm.weight": "model-00002-of-00002.safetensors",
      "lm_head.weight": "model-00002-of-00002.safetensors",
    }),
  };
  await withFolder(files, async (dir) => {
    const checkpoint = await Checkpoint.open(dir);
    assert.deepEqual(checkpoint.names(), [
      "lm_head.weight",
      "model.embed_tokens.weight",
      "model.norm.weight",
    ]);
    assert.equal(checkpoint.fileOf("model.embed_tokens.weight"), "model-00001-of-00002.safetensors");
    assert.equal(checkpoint.fileOf("lm_head.weight"), "model-00002-of-00002.safetensors");
    assert.deepEqual(toFloat32(checkpoint.read(checkpoint.get("model.embed_tokens.weight", [4, 2])))[7], 8);
    refuses(
      () => checkpoint.get("model.norm.weight", [3]),
      /tensor "model\.norm\.weight" in model-00002-of-00002\.safetensors has shape \[2\], expected \[3\]/,
    );
  });
});

Deno.test("broken checkpoint folders are FORMAT errors naming the shard, tensor or index field", async () => {
  const first = buildSafetensors(tensorsOfTwoShards.first);
  const second = buildSafetensors(tensorsOfTwoShards.second);
  const cases: [string, Record<string, Uint8Array | string>, RegExp][] = [
    ["empty folder", {}, /holds neither model\.safetensors nor model\.safetensors\.index\.json/],
    [
      "missing shard",
      {
        "model-00001-of-00002.safetensors": first,
        "model.safetensors.index.json": indexJson({
          "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
          "lm_head.weight": "model-00002-of-00002.safetensors",
        }),
      },
      /model\.safetensors\.index\.json names shard model-00002-of-00002\.safetensors, which is missing from/,
    ],
    [
      "tensor missing from its shard",
      {
        "a.safetensors": first,
        "b.safetensors": second,
        "model.safetensors.index.json": indexJson({
          "model.embed_tokens.weight": "a.safetensors",
          "model.layers.0.mlp.up_proj.weight": "b.safetensors",
        }),
      },
      /maps tensor "model\.layers\.0\.mlp\.up_proj\.weight" to b\.safetensors, which does not contain it/,
    ],
    [
      "tensor mapped to the wrong shard",
      {
        "a.safetensors": first,
        "b.safetensors": second,
        "model.safetensors.index.json": indexJson({ "lm_head.weight": "a.safetensors" }),
      },
      /maps tensor "lm_head\.weight" to a\.safetensors, which does not contain it/,
    ],
    [
      "malformed shard",
      {
        "a.safetensors": first.subarray(0, 30),
        "model.safetensors.index.json": indexJson({ "model.embed_tokens.weight": "a.safetensors" }),
      },
      /a\.safetensors declares a \d+-byte header but only 22 bytes follow/,
    ],
    [
      "index not JSON",
      { "model.safetensors.index.json": "{" },
      /model\.safetensors\.index\.json is not valid JSON/,
    ],
    [
      "index without weight_map",
      { "model.safetensors.index.json": "{}" },
      /field `weight_map` must map tensor names to shard files/,
    ],
    [
      "shard outside the folder",
      { "model.safetensors.index.json": indexJson({ "w": "../elsewhere.safetensors" }) },
      /tensor "w" maps to "\.\.\/elsewhere\.safetensors", not a shard file inside the folder/,
    ],
    [
      "absolute shard path",
      { "model.safetensors.index.json": indexJson({ "w": "/etc/passwd" }) },
      /tensor "w" maps to "\/etc\/passwd", not a shard file/,
    ],
    ["shard not a string", { "model.safetensors.index.json": indexJson({ "w": 3 }) }, /tensor "w" maps to 3/],
    [
      "malformed single file",
      {
        "model.safetensors": safetensorsBytes(
          { w: { dtype: "F64", shape: [1], data_offsets: [0, 8] } },
          first,
        ),
      },
      /model\.safetensors: tensor "w" has dtype F64/,
    ],
  ];
  for (const [what, files, message] of cases) {
    await withFolder(files, async (dir) => {
      await assert.rejects(Checkpoint.open(dir), LukvError, what);
      await rejects(Checkpoint.open(dir), message);
    });
  }
});
