/** Device.mapFile: a tensor over a file's bytes, copy-on-write, freed like any tensor; CPU only. */

import assert from "node:assert/strict";
import { LukvError, openDevice } from "../../mod.ts";
import { cudaTest } from "./devices.ts";

/** A temporary file of `header` bytes then `values` as f32. */
async function withFile(header: number, values: number[], fn: (path: string) => Promise<void> | void) {
  const path = await Deno.makeTempFile({ prefix: "lukv_map_test_" });
  try {
    const bytes = new Uint8Array(header + values.length * 4);
    bytes.set(new Uint8Array(new Float32Array(values).buffer), header);
    await Deno.writeFile(path, bytes);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("mapFile maps a file's bytes at any aligned offset, even across a page boundary", async () => {
  using dev = await openDevice("cpu");
  const values = Array.from({ length: 3000 }, (_, i) => i * 0.5 - 7);
  await withFile(4092, values, (path) => {
    const live = dev.liveBytes();
    using t = dev.mapFile(path, 4092, "f32", [1000, 3]);
    assert.deepEqual([...t.toHost()], values);
    assert.equal(dev.liveBytes(), live + 12000, "a mapping counts as live lukv memory");
    using tail = dev.mapFile(path, 4092 + 4 * 2999, "f32", [1]);
    assert.deepEqual([...tail.toHost()], [values[2999]]);
    t.close();
    tail.close();
    assert.equal(dev.liveBytes(), live, "closing unmaps");
  });
});

Deno.test("a write to a mapped tensor changes this process's copy, never the file", async () => {
  using dev = await openDevice("cpu");
  await withFile(8, [1, 2, 3, 4], async (path) => {
    const before = await Deno.readFile(path);
    using t = dev.mapFile(path, 8, "f32", [4]);
    t.fill(9);
    assert.deepEqual([...t.toHost()], [9, 9, 9, 9]);
    assert.deepEqual(await Deno.readFile(path), before);
    using again = dev.mapFile(path, 8, "f32", [4]);
    assert.deepEqual([...again.toHost()], [1, 2, 3, 4], "another mapping sees the file");
  });
});

Deno.test("mapFile refuses unaligned offsets, missing files and ranges past the end", async () => {
  using dev = await openDevice("cpu");
  await withFile(8, [1, 2], (path) => {
    assert.throws(() => dev.mapFile(path, 6, "f32", [1]), { name: "RangeError", message: /multiple of 4/ });
    assert.throws(() => dev.mapFile(path, -4, "f32", [1]), RangeError);
    assert.throws(() => dev.mapFile(path, 8, "f32", [0]), {
      name: "RangeError",
      message: /positive integers/,
    });
    assert.throws(
      () => dev.mapFile(path, 8, "f32", [3]),
      (e: unknown) =>
        e instanceof LukvError && e.code === 8 && /lie past the end of .*\(16 bytes\)/.test(e.message),
    );
    assert.throws(
      () => dev.mapFile(`${path}.missing`, 0, "f32", [1]),
      (e: unknown) => e instanceof LukvError && e.code === 8 && /cannot open .*\.missing/.test(e.message),
    );
  });
});

cudaTest("CUDA cannot map files (it reads them instead)", async (dev) => {
  await withFile(0, [1], (path) => {
    assert.throws(
      () => dev.mapFile(path, 0, "f32", [1]),
      (e: unknown) => e instanceof LukvError && e.code === 6,
    );
  });
});
