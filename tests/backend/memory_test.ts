/** Allocation accounting, zero-copy views, host copies and fills. */

import assert from "node:assert/strict";
import { STATUS } from "../../mod.ts";
import { deviceTest } from "./devices.ts";

deviceTest("10,000 allocate/free rounds with `using` leave the live-bytes counter where it was", (dev) => {
  const before = dev.liveBytes();
  for (let i = 0; i < 10_000; i++) {
    using t = dev.empty(i % 2 ? "f32" : "bf16", [1 + (i % 97), 3]);
    assert.equal(dev.liveBytes(), before + t.byteLength);
  }
  assert.equal(dev.liveBytes(), before);
});

deviceTest("live bytes count exactly what is allocated", (dev) => {
  const before = dev.liveBytes();
  using a = dev.empty("f32", [3, 5]);
  using b = dev.empty("f16", [7]);
  assert.equal(a.byteLength + b.byteLength, 60 + 14);
  assert.equal(dev.liveBytes(), before + 74);
  b.close();
  assert.equal(dev.liveBytes(), before + 60);
});

deviceTest(
  "memoryInfo reports the peak of lukv allocations since a reset, and the device's memory",
  (dev) => {
    const start = dev.memoryInfo({ resetPeak: true });
    {
      using _big = dev.empty("f32", [1 << 18]);
      using _small = dev.empty("f32", [1000]);
    }
    using _kept = dev.empty("f32", [1 << 16]);
    const info = dev.memoryInfo();
    assert.equal(info.liveBytes, start.liveBytes + (1 << 18));
    assert.equal(info.peakBytes, start.liveBytes + (1 << 20) + 4000);
    assert.ok(info.deviceTotalBytes > 0 && info.deviceFreeBytes >= 0, JSON.stringify(info));
    assert.ok(info.deviceFreeBytes <= info.deviceTotalBytes, JSON.stringify(info));
    dev.memoryInfo({ resetPeak: true });
    assert.equal(dev.memoryInfo().peakBytes, info.liveBytes, "a reset restarts the peak at the live bytes");
  },
);

deviceTest("copyFrom and toHost round-trip every dtype; toHost is a copy", (dev) => {
  const cases = [
    ["f32", Float32Array.from([1.5, -2, 3e-8])],
    ["i32", Int32Array.from([7, -2_000_000_000, 0])],
    ["f16", Uint16Array.from([0x3c00, 0x8001, 0x7bff])],
    ["bf16", Uint16Array.from([0x3f80, 0xc000, 0x0001])],
  ] as const;
  for (const [dtype, data] of cases) {
    using t = dev.fromArray(dtype as "f32", data as Float32Array);
    const host = t.toHost();
    assert.deepEqual(host, data, dtype);
    host[0] = 99;
    assert.deepEqual(t.toHost(), data, `${dtype}: changing the copy leaves the tensor alone`);
  }
  using t = dev.empty("f32", [3]);
  assert.throws(() => t.copyFrom(new Float32Array(4)), { name: "LukvError", code: STATUS.SHAPE });
});

deviceTest("fill rounds to the dtype", (dev) => {
  using f = dev.empty("f32", [5]).fill(0.1);
  assert.deepEqual(f.toHost(), new Float32Array(5).fill(0.1));
  using h = dev.empty("f16", [2]).fill(1 / 3);
  assert.deepEqual(h.toHost(), new Uint16Array([0x3555, 0x3555]));
  using b = dev.empty("bf16", [2]).fill(-1);
  assert.deepEqual(b.toHost(), new Uint16Array([0xbf80, 0xbf80]));
  using i = dev.empty("i32", [2]).fill(-7.9);
  assert.deepEqual(i.toHost(), new Int32Array([-7, -7]));
});

deviceTest("view() is zero-copy on CPU and refused on CUDA", (dev) => {
  using t = dev.zeros("f32", [2, 3]);
  if (dev.kind !== "cpu") {
    assert.throws(() => t.view(), { name: "LukvError", code: STATUS.UNSUPPORTED, message: /toHost/ });
    return;
  }
  const view = t.view();
  assert.equal(view.length, 6);
  view[4] = 42;
  assert.equal(t.toHost()[4], 42, "a write through the view is in the tensor");
  t.fill(7);
  assert.equal(view[0], 7, "a native write shows through the view");
  assert.equal(Deno.UnsafePointer.value(Deno.UnsafePointer.of(view)), Deno.UnsafePointer.value(t.pointer));
});

deviceTest("reshape aliases the memory without owning it", (dev) => {
  const before = dev.liveBytes();
  const t = dev.fromArray("f32", Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const r = t.reshape([3, 2]);
  assert.deepEqual(r.shape, [3, 2]);
  r.fill(9);
  assert.deepEqual(t.toHost(), new Float32Array(6).fill(9), "writes through the alias reach the owner");
  r.close();
  assert.equal(dev.liveBytes(), before + 24, "closing the alias frees nothing");
  assert.deepEqual(t.reshape([6]).toHost(), new Float32Array(6).fill(9));
  assert.throws(() => t.reshape([4]), RangeError);
  const alias = t.reshape([6]);
  t.close();
  assert.equal(dev.liveBytes(), before);
  assert.ok(alias.closed);
  assert.throws(() => alias.toHost(), { name: "LukvError", code: STATUS.CLOSED });
});
