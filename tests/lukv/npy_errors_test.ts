/** Malformed .npy files (issue 22 item 3): every one is a LukvError FORMAT that names the file and says what is wrong. */

import assert from "node:assert/strict";
import { STATUS } from "../../src/backend/errors.ts";
import { readNpy, writeNpy } from "../../src/lukv/npy.ts";
import { readBudgetNpy, readHeadTableNpy, writeHeadTableNpy } from "../../src/lukv/table_npy.ts";

const NAME = "dir/input.npy";

/** An .npy file with this header text and payload, the header padded as NumPy does. */
function npy(header: string, payload: Uint8Array, version: [number, number] = [1, 0]): Uint8Array {
  const lengthBytes = version[0] === 1 ? 2 : 4;
  const pad = (64 - ((8 + lengthBytes + header.length + 1) % 64)) % 64;
  const text = new TextEncoder().encode(header + " ".repeat(pad) + "\n");
  const out = new Uint8Array(8 + lengthBytes + text.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, ...version]);
  const view = new DataView(out.buffer);
  if (lengthBytes === 2) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, 8 + lengthBytes);
  out.set(payload, 8 + lengthBytes + text.length);
  return out;
}

const f4 = (...values: number[]) => new Uint8Array(new Float32Array(values).buffer);
const header = (shape: string, descr = "<f4", fortran = "False") =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

/** Asserts a LukvError FORMAT whose message names NAME and matches `message`. */
function assertFormat(run: () => unknown, message: RegExp, label: string): void {
  assert.throws(run, (e: unknown) => {
    assert.equal((e as Error).name, "LukvError", `${label}: ${e}`);
    assert.equal((e as { code: number }).code, STATUS.FORMAT, label);
    assert.ok((e as Error).message.includes(NAME), `${label}: "${(e as Error).message}" names the file`);
    assert.match((e as Error).message, message, label);
    return true;
  });
}

Deno.test("every malformed header, shape and data size is a FORMAT error naming the file", () => {
  const four = f4(1, 2, 3, 4);
  const good = npy(header("(2, 2)"), four);
  const withLength = (bytes: Uint8Array, length: number) => {
    const out = new Uint8Array(bytes);
    new DataView(out.buffer).setUint16(8, length, true);
    return out;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["short file", new Uint8Array([1, 2, 3]), /magic/],
    ["bad magic", Uint8Array.from(good, (b, i) => i === 1 ? 0x4f : b), /magic/],
    ["version 4.0", npy(header("(2, 2)"), four, [4, 0]), /format version 4\.0/],
    ["version 1.1", npy(header("(2, 2)"), four, [1, 1]), /format version 1\.1/],
    ["version 2.0 cut in its length", npy(header("(2, 2)"), four, [2, 0]).subarray(0, 11), /header length/],
    ["header length beyond the file", withLength(good, 60000), /truncated inside its header: 60000/],
    ["header not a dict", npy(`[1, 2]`, four), /not a Python dict literal/],
    ["header with garbage after it", npy(header("(2, 2)") + " x", four), /not a Python dict literal/],
    ["unquoted key", npy(`{descr: '<f4', 'fortran_order': False, 'shape': (4,)}`, four), /not a Python dict/],
    ["descr not a string", npy(header("(4,)").replace("'<f4'", "1"), four), /not a Python dict literal/],
    ["missing key", npy(`{'descr': '<f4', 'shape': (4,), }`, four), /missing 'fortran_order'/],
    ["extra key", npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 'y'}`, four), /'x'/],
    [
      "repeated key",
      npy(`{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}`, four),
      /repeats/,
    ],
    ["fortran_order not a boolean", npy(header("(4,)", "<f4", "'no'"), four), /True or False/],
    ["Fortran order", npy(header("(2, 2)", "<f4", "True"), four), /Fortran order/],
    ["integer dtype", npy(header("(2, 2)", "<i4"), four), /<i4 is not supported/],
    ["big-endian", npy(header("(2, 2)", ">f4"), four), />f4 is not supported \(big-endian/],
    ["shape not a tuple", npy(header("4"), four), /not a Python dict literal/],
    ["shape (4) is an int in Python", npy(header("(4)"), four), /trailing comma/],
    ["non-integer extent", npy(header("(2.0, 2)"), four), /shape entry "2\.0"/],
    ["negative extent", npy(header("(-2, -2)"), four), /shape entry "-2"/],
    ["unsafe extent", npy(header("(99999999999999999999,)"), four), /shape entry "99999999999999999999"/],
    ["product overflow", npy(header("(4294967296, 4294967296)"), four), /more than 2\^53 - 1 elements/],
    ["shape beyond the bytes present", npy(header("(1000000000, 1000)"), four), /truncated.*holds 16 bytes/],
    ["data too short", npy(header("(2, 3)"), four), /truncated: it holds 16 bytes .* needs 24/],
    ["trailing bytes", npy(header("(3,)"), four), /needs 12: 4 trailing bytes/],
  ];
  for (const [label, bytes, message] of cases) {
    assertFormat(() => readNpy(bytes, { name: NAME }), message, label);
  }
  // The same files read as tables name the file too.
  for (const [label, bytes, message] of cases) {
    assertFormat(() => readHeadTableNpy(bytes, { name: NAME }), message, `head table: ${label}`);
    assertFormat(() => readBudgetNpy(bytes, { name: NAME }), message, `budget table: ${label}`);
  }
});

Deno.test("headers NumPy writes in other legal spellings are read", () => {
  const payload = f4(1, 2, 3, 4);
  const spellings = [
    `{"descr": "<f4", "fortran_order": False, "shape": (2, 2)}`,
    `{'shape': (2,2),'fortran_order':False,'descr':'<f4'}`,
    `{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }`,
  ];
  for (const text of spellings) {
    for (const version of [[1, 0], [2, 0], [3, 0]] as [number, number][]) {
      const { shape, data } = readNpy(npy(text, payload, version), { name: NAME });
      assert.deepEqual(shape, [2, 2], text);
      assert.deepEqual(data, new Float32Array([1, 2, 3, 4]));
    }
  }
  assert.deepEqual(readNpy(npy(header("()"), f4(7))).shape, [], "a 0-d array");
  assert.deepEqual(readNpy(npy(header("(0, 5)"), new Uint8Array(0))).data, new Float32Array(0));
});

Deno.test("head tables refuse NaN and infinities, and negative oracle utilities", () => {
  const table = (values: number[]) =>
    writeHeadTableNpy({ layers: 1, heads: 2, length: 3, data: Float64Array.from(values) });
  const ok = [0, 1, 2, 3, 4, 5];
  assert.deepEqual(readHeadTableNpy(table(ok), { name: NAME, kind: "oracle" }).data, Float64Array.from(ok));
  const negative = [0, 1, 2, 3, -4, 5];
  assert.deepEqual(readHeadTableNpy(table(negative), { kind: "scores" }).data, Float64Array.from(negative));
  assert.deepEqual(readHeadTableNpy(table(negative)).data, Float64Array.from(negative), "no kind: any sign");
  assertFormat(
    () => readHeadTableNpy(table(negative), { name: NAME, kind: "oracle" }),
    /value \[0, 1, 1\] is -4; oracle utilities must be finite and >= 0/,
    "negative oracle",
  );
  for (const bad of [NaN, Infinity, -Infinity]) {
    const values = [0, 1, 2, 3, 4, bad];
    for (const kind of ["oracle", "scores", undefined] as const) {
      assertFormat(
        () => readHeadTableNpy(table(values), { name: NAME, kind }),
        new RegExp(`value \\[0, 1, 2\\] is ${bad}; .*must be finite`),
        `${bad} in ${kind}`,
      );
    }
  }
  assertFormat(
    () => readHeadTableNpy(writeNpy({ shape: [2, 3], data: new Float32Array(6) }), { name: NAME }),
    /expected shape \[num_layers, num_kv_heads, T\], got \[2, 3\]/,
    "2-d",
  );
  assertFormat(
    () => readHeadTableNpy(writeNpy({ shape: [1, 0, 3], data: new Float32Array(0) }), { name: NAME }),
    /shape \[1, 0, 3\] .* positive integers/,
    "empty extent",
  );
  const bad = "weights" as "oracle";
  assert.throws(() => readHeadTableNpy(table(ok), { kind: bad }), TypeError);
  const oldStyle = "oracle.npy" as unknown as { name: string };
  assert.throws(() => readHeadTableNpy(table(ok), oldStyle), {
    name: "TypeError",
    message: /\{ name\?, kind\? \}/,
  });
});

Deno.test("budget tables refuse prune ratios outside [0, 1], NaN and infinities included", () => {
  const budgets = (value: number) => {
    const data = new Float64Array(99 * 2).fill(0.5);
    data[2 * 10 + 1] = value;
    return writeNpy({ shape: [99, 1, 2], data });
  };
  for (const value of [0, 1]) assert.equal(readBudgetNpy(budgets(value)).prune[21], value);
  for (const value of [-0.01, 1.01, NaN, Infinity, -Infinity]) {
    assertFormat(
      () => readBudgetNpy(budgets(value), { name: NAME }),
      new RegExp(`prune ratio \\[10, 0, 1\\] is ${value}; prune ratios lie in \\[0, 1\\]`),
      `prune ${value}`,
    );
  }
  assertFormat(
    () => readBudgetNpy(writeNpy({ shape: [98, 1, 2], data: new Float64Array(98 * 2) }), { name: NAME }),
    /this one is \[98, 1, 2\]/,
    "98 rows",
  );
});
