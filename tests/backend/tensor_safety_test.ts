/** Tensor safety (issue 22 item 4): views cannot outlive their memory; dtypes and host arrays are checked at the API boundary. */

import assert from "node:assert/strict";
import { openDevice } from "../../src/backend/device.ts";
import { STATUS } from "../../src/backend/errors.ts";
import { deviceTest } from "./devices.ts";

/** Asserts that a view is detached: nothing to read, writes go nowhere. */
function assertDetached(
  view: ArrayLike<number> & { [i: number]: number; byteLength: number },
  label: string,
) {
  assert.equal(view.length, 0, `${label}: length`);
  assert.equal(view.byteLength, 0, `${label}: byteLength`);
  assert.equal(view[0], undefined, `${label}: read`);
  view[0] = 123;
  assert.equal(view[0], undefined, `${label}: write`);
}

Deno.test("a view kept after close() cannot read or write the freed memory, nor a tensor allocated there", async () => {
  using dev = await openDevice("cpu");
  // Same size, allocated right after the free: malloc hands the same block back.
  const size = 4096;
  const t = dev.fromArray("f32", Float32Array.from({ length: size }, (_, i) => i));
  const view = t.view(), tail = view.subarray(100);
  assert.equal(view[7], 7);
  t.close();
  using next = dev.zeros("f32", [size]);
  assertDetached(view, "view");
  assertDetached(tail, "subarray of the view");
  for (let i = 0; i < size; i += 97) view[i] = 9;
  assert.throws(() => view.fill(9), TypeError, "bulk methods on a detached view throw");
  assert.deepEqual(next.toHost(), new Float32Array(size), "the new tensor is untouched");
  assert.throws(() => t.view(), { name: "LukvError", code: STATUS.CLOSED });
});

Deno.test("views of reshapes and rows (and rows of rows) share the owner's memory and die with it", async () => {
  using dev = await openDevice("cpu");
  const t = dev.fromArray("i32", Int32Array.from({ length: 24 }, (_, i) => i), [6, 4]);
  const whole = t.view();
  const reshaped = t.reshape([4, 6]).view();
  const rows = t.rows(2, 3).view();
  const rowOfRows = t.rows(1, 4).rows(2, 1).view();
  assert.deepEqual([...rows], [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  assert.deepEqual([...rowOfRows], [12, 13, 14, 15]);
  rowOfRows[0] = -1;
  assert.equal(whole[12], -1, "a write through a row view reaches the owner");
  assert.equal(reshaped[12], -1);
  assert.equal(
    Deno.UnsafePointer.value(Deno.UnsafePointer.of(rowOfRows)),
    Deno.UnsafePointer.value(t.rows(3, 1).pointer),
    "zero copy: the row view is the row's own memory",
  );

  // Closing an alias frees nothing: its views stay valid while the owner is open.
  const alias = t.rows(5, 1);
  const aliasView = alias.view();
  alias.close();
  assert.deepEqual([...aliasView], [20, 21, 22, 23]);
  assert.throws(() => alias.view(), { name: "LukvError", code: STATUS.CLOSED });

  t.close();
  for (const [label, view] of Object.entries({ whole, reshaped, rows, rowOfRows, aliasView })) {
    assertDetached(view, label);
  }
});

Deno.test("closing the device detaches the views of the tensors it frees", async () => {
  const dev = await openDevice("cpu");
  const t = dev.zeros("bf16", [8]);
  const view = t.rows(2, 4).view();
  assert.equal(view.length, 4);
  dev.close();
  assertDetached(view, "view of a tensor freed by device.close()");
});

deviceTest("fromArray and copyFrom take only the dtype's host array type, of the shape's size", (dev) => {
  const before = dev.liveBytes();
  const wrong: [string, unknown, RegExp][] = [
    ["f32", new Int32Array(4), /a f32 tensor takes a Float32Array, got Int32Array/],
    ["f32", new Float64Array(4), /a f32 tensor takes a Float32Array, got Float64Array/],
    ["f32", [1, 2, 3, 4], /a f32 tensor takes a Float32Array, got Array/],
    ["i32", new Float32Array(4), /a i32 tensor takes a Int32Array, got Float32Array/],
    ["f16", new Float32Array(4), /a f16 tensor takes a Uint16Array, got Float32Array/],
    ["bf16", new Int16Array(4), /a bf16 tensor takes a Uint16Array, got Int16Array/],
    ["bf16", null, /a bf16 tensor takes a Uint16Array, got null/],
  ];
  for (const [dtype, data, message] of wrong) {
    assert.throws(() => dev.fromArray(dtype as "f32", data as Float32Array, [4]), {
      name: "TypeError",
      message,
    });
    assert.throws(() => dev.fromArray(dtype as "f32", data as Float32Array), { name: "TypeError", message });
  }
  assert.throws(() => dev.fromArray("f32", new Float32Array(6), [2, 2]), {
    name: "RangeError",
    message: /shape \[2,2\] holds 4 elements but the Float32Array has 6/,
  });
  assert.throws(() => dev.fromArray("f32", new Float32Array(4), [2, 0]), /positive integers/);
  using t = dev.zeros("f16", [4]);
  assert.throws(() => t.copyFrom(new Float32Array(4) as unknown as Uint16Array), {
    name: "TypeError",
    message: /tensor\.copyFrom: a f16 tensor takes a Uint16Array, got Float32Array/,
  });
  assert.deepEqual(t.toHost(), new Uint16Array(4), "a refused copy writes nothing");
  assert.equal(dev.liveBytes(), before + 8, "a refused fromArray allocates nothing");
  using ok = dev.fromArray("bf16", new Uint16Array([0x3f80, 0xbf80]));
  assert.deepEqual(ok.toHost(), new Uint16Array([0x3f80, 0xbf80]));
});

deviceTest("an unknown dtype is a TypeError naming the dtypes accepted, at every creation path", (dev) => {
  const before = dev.liveBytes();
  for (const dtype of ["f64", "F32", "toString", "__proto__", "constructor", 3, undefined]) {
    const bad = dtype as "f32";
    const message = /unknown dtype .*; expected f32, f16, bf16 or i32/;
    assert.throws(() => dev.empty(bad, [2]), { name: "TypeError", message }, String(dtype));
    assert.throws(() => dev.zeros(bad, [2]), { name: "TypeError", message }, String(dtype));
    assert.throws(
      () => dev.fromArray(bad, new Float32Array(2)),
      { name: "TypeError", message },
      String(dtype),
    );
  }
  assert.equal(dev.liveBytes(), before);
});

Deno.test("a live view keeps its dropped tensor's memory from the leak net; dropping the view frees it", async () => {
  // Garbage collection on demand needs --expose-gc, hence a child process.
  const device = new URL("../../src/backend/device.ts", import.meta.url).href;
  const script = `
    import { openDevice } from "${device}";
    const dev = await openDevice("cpu");
    const settle = async () => { for (let i = 0; i < 5; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); } };
    let view = (() => dev.fromArray("f32", new Float32Array(4096).fill(3)).view())();
    await settle();
    const held = [dev.liveBytes(), view[4095]];
    view = null;
    await settle();
    console.log(JSON.stringify([...held, dev.liveBytes()]));
  `;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
  }).output();
  const text = new TextDecoder();
  assert.equal(code, 0, text.decode(stderr));
  assert.deepEqual(JSON.parse(text.decode(stdout)), [16384, 3, 0]);
});
