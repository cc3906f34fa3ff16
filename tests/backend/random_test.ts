/** fillRandom: the counter-based hash of ffi/lukv.h, bit for bit on every device, uniform, and refusing bad input. */

import assert from "node:assert/strict";
import { type DType, LukvError, ops, STATUS } from "../../mod.ts";
import { cpuDevice, deviceTest } from "./devices.ts";
import * as ref from "./reference.ts";

/** The bits a tensor of `dtype` holds for the reference's f32 values. */
function referenceBits(dtype: DType, values: Float32Array): Uint16Array | Uint32Array {
  if (dtype === "f16") return ref.toF16(values);
  if (dtype === "bf16") return ref.toBf16(values);
  return new Uint32Array(values.buffer);
}

function bitsOf(
  host: ArrayLike<number> & { buffer: ArrayBufferLike },
  dtype: DType,
): Uint16Array | Uint32Array {
  return dtype === "f32" ? new Uint32Array(host.buffer) : new Uint16Array(host.buffer);
}

deviceTest("fillRandom writes the reference hash's values bit for bit (f32, f16, bf16)", (dev) => {
  const fresh = BigInt(ref.freshSeed()) << 20n | BigInt(ref.freshSeed());
  for (const seed of [0n, 1n, fresh, (1n << 64n) - 1n]) {
    for (const count of [1, 7, 1000, 40_001]) {
      for (const scale of [1, 0.02, 3.5]) {
        const values = ref.randomUniform(seed, count, scale);
        for (const dtype of ["f32", "f16", "bf16"] as const) {
          using t = dev.empty(dtype, [count]);
          ops.fillRandom(t, seed, scale);
          assert.deepEqual(
            bitsOf(t.toHost(), dtype),
            referenceBits(dtype, values),
            `${dtype} seed=${seed} count=${count} scale=${scale}`,
          );
        }
      }
    }
  }
});

deviceTest("fillRandom gives the CPU library's bits on a large tensor", (dev) => {
  const cpu = cpuDevice();
  const seed = ref.freshSeed();
  for (const dtype of ["f32", "bf16"] as const) {
    using mine = dev.empty(dtype, [3, 1_000_003]);
    using theirs = cpu.empty(dtype, [3, 1_000_003]);
    ops.fillRandom(mine, seed, 0.125);
    ops.fillRandom(theirs, seed, 0.125);
    assert.deepEqual(bitsOf(mine.toHost(), dtype), bitsOf(theirs.toHost(), dtype), `${dtype} seed=${seed}`);
  }
});

deviceTest("fillRandom is uniform on [-scale, scale), differs by seed and restarts in a view", (dev) => {
  const n = 1 << 20, scale = 0.5, seed = ref.freshSeed();
  using t = dev.empty("f32", [n]);
  ops.fillRandom(t, seed, scale);
  const values = t.toHost();
  let sum = 0, squares = 0, min = Infinity, max = -Infinity;
  for (const v of values) {
    sum += v;
    squares += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.ok(min >= -scale && max < scale, `range [${min}, ${max}] outside [-${scale}, ${scale})`);
  assert.ok(min < -0.499 && max > 0.499, `range [${min}, ${max}] does not reach the ends`);
  assert.ok(Math.abs(sum / n) < 3e-3, `mean ${sum / n} (seed ${seed})`);
  const variance = squares / n - (sum / n) ** 2;
  assert.ok(Math.abs(variance / (scale ** 2 / 3) - 1) < 0.01, `variance ${variance} (seed ${seed})`);

  using other = dev.empty("f32", [n]);
  ops.fillRandom(other, seed + 1, scale);
  const equal = other.toHost().reduce((count, v, i) => count + Number(v === values[i]), 0);
  assert.ok(equal < 10, `seeds ${seed} and ${seed + 1} share ${equal} values`);

  using rows = dev.empty("f32", [4, 8]);
  rows.fill(7);
  ops.fillRandom(rows.rows(1, 2), seed, scale);
  const host = rows.toHost();
  assert.deepEqual(host.subarray(8, 24), values.subarray(0, 16), "a view starts at index 0");
  assert.deepEqual([...host.subarray(0, 8), ...host.subarray(24)], new Array(16).fill(7), "outside the view");
});

deviceTest("fillRandom refuses i32, a bad scale or seed, and a short buffer", (dev) => {
  using i = dev.empty("i32", [4]);
  assert.throws(() => ops.fillRandom(i, 1, 1), { name: "LukvError", code: STATUS.DTYPE });
  using t = dev.empty("f32", [4]);
  for (const scale of [NaN, -1, Infinity]) {
    assert.throws(() => ops.fillRandom(t, 1, scale), { name: "LukvError", code: STATUS.INVALID_ARGUMENT });
  }
  for (const seed of [-1, 0.5, 2 ** 60, -1n, 1n << 64n]) {
    assert.throws(() => ops.fillRandom(t, seed, 1), { name: "LukvError", code: STATUS.INVALID_ARGUMENT });
  }
  const s = dev.symbols;
  const refuses = (status: number, code: number, pattern: RegExp) =>
    assert.throws(() => dev.check("lukv_fill_random", status), (error: unknown) => {
      assert.ok(error instanceof LukvError);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, pattern);
      return true;
    });
  refuses(s.lukv_fill_random(t.pointer, 0, 4n, 1n, NaN, null), STATUS.INVALID_ARGUMENT, /scale/);
  refuses(s.lukv_fill_random(t.pointer, 0, 0n, 1n, 1, null), STATUS.INVALID_ARGUMENT, /count/);
  refuses(s.lukv_fill_random(t.pointer, 0, 5n, 1n, 1, null), STATUS.SHAPE, /dst needs 5 elements/);
  refuses(s.lukv_fill_random(t.pointer, 7, 4n, 1n, 1, null), STATUS.DTYPE, /unknown dtype/);
  refuses(s.lukv_fill_random(null, 0, 4n, 1n, 1, null), STATUS.INVALID_ARGUMENT, /dst is NULL/);
});
