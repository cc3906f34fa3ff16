/** .npy round trips, NumPy's own header bytes, and the errors for files lukv cannot take. */

import assert from "node:assert/strict";
import { STATUS } from "../../src/backend/errors.ts";
import { readNpy, writeNpy } from "../../src/lukv/npy.ts";

/** Builds an .npy file the way NumPy writes it (format 1.0, header padded to 64). */
function npy(header: string, payload: Uint8Array, major = 1): Uint8Array {
  const lengthBytes = major === 1 ? 2 : 4;
  const pad = (64 - ((8 + lengthBytes + header.length + 1) % 64)) % 64;
  const text = header + " ".repeat(pad) + "\n";
  const out = new Uint8Array(8 + lengthBytes + text.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(new TextEncoder().encode(text), 8 + lengthBytes);
  out.set(payload, 8 + lengthBytes + text.length);
  return out;
}

Deno.test("float32 and float64 arrays round-trip with their shape", () => {
  const f32 = { shape: [2, 3, 4], data: Float32Array.from({ length: 24 }, (_, i) => i / 7) };
  const f64 = { shape: [99, 2, 1], data: Float64Array.from({ length: 198 }, (_, i) => Math.sin(i)) };
  for (const array of [f32, f64]) {
    const bytes = writeNpy(array);
    assert.equal((bytes.length - array.data.byteLength) % 64, 0, "header padded to 64 bytes");
    assert.deepEqual(readNpy(bytes), array);
  }
  assert.deepEqual(readNpy(writeNpy({ shape: [3], data: new Float64Array([1, 2, 3]) })).shape, [3]);
});

Deno.test("reads a header written as NumPy does, in formats 1.0 and 2.0", () => {
  const payload = new Uint8Array(new Float64Array([0.5, -1.25]).buffer);
  for (const major of [1, 2]) {
    const { shape, data } = readNpy(
      npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", payload, major),
    );
    assert.deepEqual(shape, [1, 2]);
    assert.deepEqual(data, new Float64Array([0.5, -1.25]));
  }
});

Deno.test("refuses what it cannot read, saying why", () => {
  const four = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array([1, 2, 3]), /magic/],
    [npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four), /Fortran order/],
    [npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", four), /<i4 is not supported/],
    [npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", four), />f4 is not supported/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", four), /holds 16 bytes .* needs 24/],
    [npy("{'descr': '<f4', 'shape': (4,), }", four), /malformed .npy header/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four).subarray(0, 20), /truncated/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => readNpy(bytes), { name: "LukvError", code: STATUS.FORMAT, message });
  }
  assert.throws(() => writeNpy({ shape: [2, 2], data: new Float32Array(3) }), RangeError);
});
