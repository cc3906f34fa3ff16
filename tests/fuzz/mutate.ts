/** Deterministic mutations for the fuzzer: a seeded PRNG, byte-level edits, JSON-structure edits and .npy header edits. */

/** A small seeded PRNG (mulberry32): the same seed gives the same mutations on every machine. */
export class Rng {
  #state: number;

  /** Seeds the generator from any number of integers or strings (e.g. run seed, parser, input index). */
  constructor(...parts: (number | string)[]) {
    let h = 0x811c9dc5;
    for (const part of parts) {
      for (const ch of String(part) + "\u0000") {
        h ^= ch.codePointAt(0)!;
        h = Math.imul(h, 0x01000193) >>> 0;
      }
    }
    this.#state = h;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Bytes that often mean something to a parser: delimiters, signs, digits, extremes. */
const INTERESTING_BYTES = [
  0x00,
  0xff,
  0x7f,
  0x80,
  0x22,
  0x7b,
  0x7d,
  0x5b,
  0x5d,
  0x2c,
  0x3a,
  0x39,
  0x2d,
  0x2e,
  0x65,
];

/**
 * Applies 1 to 3 byte-level mutations (bit flips, interesting bytes, insert, delete,
 * duplicate, truncate, append) and returns the bytes and a description of each edit.
 */
export function mutateBytes(rng: Rng, input: Uint8Array): { bytes: Uint8Array; steps: string[] } {
  let bytes = input;
  const steps: string[] = [];
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    const n = bytes.length;
    const at = rng.int(n + 1);
    const span = 1 + rng.int(rng.chance(0.7) ? 16 : Math.max(1, n >> 2));
    switch (rng.int(7)) {
      case 0: {
        if (n === 0) break;
        const i = Math.min(at, n - 1);
        const bit = rng.int(8);
        bytes = Uint8Array.from(bytes);
        bytes[i] ^= 1 << bit;
        steps.push(`flip bit ${bit} of byte ${i}`);
        break;
      }
      case 1: {
        if (n === 0) break;
        const i = Math.min(at, n - 1);
        const value = rng.pick(INTERESTING_BYTES);
        bytes = Uint8Array.from(bytes);
        bytes[i] = value;
        steps.push(`set byte ${i} to 0x${value.toString(16)}`);
        break;
      }
      case 2: {
        const insert = Uint8Array.from(
          { length: span },
          () => rng.chance(0.5) ? rng.int(256) : rng.pick(INTERESTING_BYTES),
        );
        bytes = concat(bytes.subarray(0, at), insert, bytes.subarray(at));
        steps.push(`insert ${span} random bytes at ${at}`);
        break;
      }
      case 3: {
        const end = Math.min(n, at + span);
        bytes = concat(bytes.subarray(0, at), bytes.subarray(end));
        steps.push(`delete bytes ${at}..${end}`);
        break;
      }
      case 4: {
        const end = Math.min(n, at + span);
        const to = rng.int(n + 1);
        const times = rng.chance(0.8) ? 1 : 1 + rng.int(64);
        const copies = Array.from({ length: times }, () => bytes.subarray(at, end));
        bytes = concat(bytes.subarray(0, to), ...copies, bytes.subarray(to));
        steps.push(`duplicate bytes ${at}..${end} ${times}x at ${to}`);
        break;
      }
      case 5: {
        bytes = bytes.subarray(0, at);
        steps.push(`truncate to ${at} bytes`);
        break;
      }
      default: {
        const extra = Uint8Array.from({ length: span }, () => rng.int(256));
        bytes = concat(bytes, extra);
        steps.push(`append ${span} random bytes`);
      }
    }
  }
  return { bytes, steps };
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** JSON text written verbatim by {@linkcode stringifyJson} (numbers JSON.stringify cannot write, such as 1e999). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** An object key written twice by {@linkcode stringifyJson}: JSON.parse keeps the second value. */
export class DuplicateKeys {
  constructor(readonly entries: [string, unknown][]) {}
}

/** Serialises a JSON value that may hold {@linkcode RawJson} and {@linkcode DuplicateKeys}. */
export function stringifyJson(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof DuplicateKeys) {
    return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${stringifyJson(v)}`).join(",")}}`;
  }
  if (Array.isArray(value)) return `[${value.map(stringifyJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${stringifyJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Numbers that break naive size arithmetic; raw text where JSON.stringify would write null. */
const INTERESTING_NUMBERS: (number | RawJson)[] = [
  0,
  -1,
  1,
  -0.0,
  new RawJson("-0"),
  0.5,
  1.5,
  -2.5,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  -(2 ** 31),
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  -1e308,
  5e-324,
  new RawJson("1e999"),
  new RawJson("-1e999"),
  new RawJson("1e-999"),
  new RawJson("123456789012345678901234567890"),
];

const WEIRD_STRINGS = [
  "",
  " ",
  "\u0000",
  "\ud800",
  "\uffff",
  "NaN",
  "Infinity",
  "-1",
  "1e308",
  "null",
  "__proto__",
  "constructor",
  "../../../../etc/passwd",
  "{{ x }}",
  "{% for %}",
  "<|eot_id|>",
  "<s>",
  "\u202e\u0645\u0631\u062d\u0628\u0627",
  "👩‍👩‍👧‍👦",
  'a\nb\tc\r"\\',
  "F32",
  "BF16",
  "I64",
  "<f8",
  "|O",
];

/** A JSON node reached by a path of keys and indices. */
type Path = (string | number)[];

function collectPaths(value: unknown, path: Path, out: Path[], depth: number): void {
  out.push(path);
  if (depth > 6 || value === null || typeof value !== "object") return;
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  // Long arrays: visit a few elements, not all (the mutation hits any of them equally).
  const step = Math.max(1, Math.floor(entries.length / 8));
  for (let i = 0; i < entries.length; i += step) {
    collectPaths(entries[i][1], [...path, entries[i][0]], out, depth + 1);
  }
}

function getAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) node = (node as Record<string | number, unknown>)[key];
  return node;
}

function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]] = value;
  return root;
}

function deepNest(depth: number, open: "[" | "{"): RawJson {
  return open === "["
    ? new RawJson("[".repeat(depth) + "]".repeat(depth))
    : new RawJson('{"a":'.repeat(depth) + "0" + "}".repeat(depth));
}

/** A replacement value; `big` when it is long or deep (no further edit is stacked on it). */
function replacement(rng: Rng, old: unknown): { value: unknown; what: string; big?: boolean } {
  const kind = rng.int(10);
  if (kind <= 2 || (typeof old === "number" && kind <= 5)) {
    const n = rng.pick(INTERESTING_NUMBERS);
    return { value: n, what: `number ${n instanceof RawJson ? n.text : Object.is(n, -0) ? "-0" : n}` };
  }
  if (kind <= 4 || typeof old === "string" && kind <= 6) {
    if (rng.chance(0.3)) {
      const length = rng.pick([1_000, 100_000, 1_000_000]);
      return { value: "a".repeat(length), what: `string of ${length} chars`, big: true };
    }
    const s = rng.pick(WEIRD_STRINGS);
    return { value: s, what: `string ${JSON.stringify(s)}` };
  }
  if (kind === 5) {
    const element = Array.isArray(old) && old.length > 0 ? old[0] : old;
    // Long arrays of small elements only: the input stays within a few megabytes.
    const small = (JSON.stringify(element) ?? "").length <= 64;
    const length = rng.pick(small ? [0, 0, 1, 1_000, 100_000] : [0, 0, 1, 100]);
    return {
      value: Array.from({ length }, () => element),
      what: `array of ${length} copies`,
      big: length > 1,
    };
  }
  if (kind === 6) {
    const depth = rng.pick([100, 10_000, 100_000]);
    const open = rng.pick(["[", "{"] as const);
    return { value: deepNest(depth, open), what: `${open} nested ${depth} deep`, big: true };
  }
  const other = rng.pick([null, true, false, {}, [], "0", 0, [old], { value: old }]);
  return { value: other, what: `type change to ${JSON.stringify(other)?.slice(0, 40)}` };
}

/**
 * Applies 1 to 3 structure-aware edits to a parsed JSON value (replace a node with an
 * interesting number, string, long or empty array, deep nesting or another type; delete,
 * duplicate or rename a key; drop or repeat array elements) and returns the new JSON text.
 */
export function mutateJson(rng: Rng, json: unknown): { text: string; steps: string[] } {
  let root = structuredClone(json);
  const steps: string[] = [];
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    const paths: Path[] = [];
    collectPaths(root, [], paths, 0);
    const path = paths.length > 1 ? paths[1 + rng.int(paths.length - 1)] : [];
    const where = path.length === 0 ? "(root)" : path.join(".");
    const parent = path.length === 0 ? undefined : getAt(root, path.slice(0, -1));
    const key = path[path.length - 1];
    const op = rng.int(10);
    if (op === 0 && parent !== null && typeof parent === "object" && !Array.isArray(parent)) {
      delete (parent as Record<string, unknown>)[key as string];
      steps.push(`delete key ${where}`);
    } else if (op === 1 && parent !== null && typeof parent === "object" && !Array.isArray(parent)) {
      const entries = Object.entries(parent);
      const { value, what } = replacement(rng, (parent as Record<string, unknown>)[key as string]);
      const dup = new DuplicateKeys([...entries, [key as string, value]]);
      root = setAt(root, path.slice(0, -1), dup);
      steps.push(`duplicate key ${where} with ${what}`);
      break; // A DuplicateKeys node cannot be walked further.
    } else if (op === 2 && parent !== null && typeof parent === "object" && !Array.isArray(parent)) {
      const record = parent as Record<string, unknown>;
      const renamed = `${key}${rng.pick(["_", "s", " ", "X"])}`;
      record[renamed] = record[key as string];
      delete record[key as string];
      steps.push(`rename key ${where} to ${JSON.stringify(renamed)}`);
    } else if (op === 3 && Array.isArray(parent)) {
      const index = key as number;
      if (rng.chance(0.5)) {
        parent.splice(index, 1);
        steps.push(`drop element ${where}`);
      } else {
        parent.splice(index, 0, parent[index]);
        steps.push(`repeat element ${where}`);
      }
    } else {
      const { value, what, big } = replacement(rng, getAt(root, path));
      root = setAt(root, path, value);
      steps.push(`replace ${where} with ${what}`);
      if (big || value instanceof RawJson) break; // Raw text cannot be walked; big values are not multiplied.
    }
  }
  return { text: stringifyJson(root), steps };
}

/** An .npy header as its parts, before it is written as a Python dict literal. */
export interface NpyParts {
  /** Format version bytes (major, minor). */
  version: [number, number];
  /** The header entries, as Python literal text. */
  entries: [string, string][];
  /** The array body. */
  body: Uint8Array;
}

/** Splits well-formed .npy bytes (a seed) into version, header entries and body. */
export function splitNpy(bytes: Uint8Array): NpyParts {
  const major = bytes[6];
  const headerLength = major === 1
    ? bytes[8] | bytes[9] << 8
    : new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const entries: [string, string][] = [];
  for (const m of header.matchAll(/'(\w+)': (\([^)]*\)|'[^']*'|\w+)/g)) entries.push([m[1], m[2]]);
  return { version: [major, bytes[7]], entries, body: bytes.subarray(start + headerLength) };
}

/** Writes .npy parts back as bytes; `padTo64` false leaves the header unaligned. */
export function joinNpy(parts: NpyParts, padTo64 = true): Uint8Array {
  const dict = `{${parts.entries.map(([k, v]) => `'${k}': ${v}`).join(", ")}, }`;
  const [major, minor] = parts.version;
  const prefix = major === 1 ? 10 : 12;
  let text = dict;
  if (padTo64) text += " ".repeat((64 - ((prefix + dict.length + 1) % 64)) % 64);
  text += "\n";
  const header = new TextEncoder().encode(text);
  const head = new Uint8Array(prefix);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, minor]);
  const view = new DataView(head.buffer);
  if (major === 1) view.setUint16(8, header.length & 0xffff, true);
  else view.setUint32(8, header.length, true);
  return concat(head, header, parts.body);
}

const NPY_SHAPES = [
  "()",
  "(0,)",
  "(-1, 4, 2)",
  "(99, -4, 2)",
  "(2147483648, 2, 2)",
  "(99, 4, 2, 1)",
  "(99, 4)",
  "(9007199254740993, 1, 1)",
  "(99, 4, 0)",
  "(1.5, 4, 2)",
  "(None, 4, 2)",
  "(99, 4, 2,,)",
  "(99 4 2)",
  "(65536, 65536, 65536)",
  "(4294967296, 4294967296)",
  "(99, 00004, 2)",
  "(1, 1, 1)",
  "(99, 1e3, 2)",
];
const NPY_DESCRS = [
  "'<f4'",
  "'<f8'",
  "'>f8'",
  "'<f2'",
  "'<i4'",
  "'|b1'",
  "'<c16'",
  "'|O'",
  "''",
  "'float64'",
  "'<f16'",
  "f8",
];
const NPY_ORDERS = ["True", "False", "1", "'False'", "None", "false"];

/**
 * Applies 1 to 3 .npy-aware edits: the header dict (shape, descr, fortran_order; missing,
 * extra or duplicated keys), the version bytes, header alignment and the body size.
 */
export function mutateNpy(rng: Rng, seed: Uint8Array): { bytes: Uint8Array; steps: string[] } {
  const parts = splitNpy(seed);
  const steps: string[] = [];
  let pad = true;
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    const op = rng.int(8);
    const entryOf = (key: string) => parts.entries.findIndex(([k]) => k === key);
    if (op <= 1) {
      const shape = rng.chance(0.7)
        ? rng.pick(NPY_SHAPES)
        : `(${Array.from({ length: 1 + rng.int(4) }, () => rng.int(300)).join(", ")})`;
      const i = entryOf("shape");
      if (i >= 0) parts.entries[i] = ["shape", shape];
      steps.push(`shape ${shape}`);
    } else if (op === 2) {
      const descr = rng.pick(NPY_DESCRS);
      const i = entryOf("descr");
      if (i >= 0) parts.entries[i] = ["descr", descr];
      steps.push(`descr ${descr}`);
    } else if (op === 3) {
      const order = rng.pick(NPY_ORDERS);
      const i = entryOf("fortran_order");
      if (i >= 0) parts.entries[i] = ["fortran_order", order];
      steps.push(`fortran_order ${order}`);
    } else if (op === 4) {
      const choice = rng.int(3);
      if (choice === 0 && parts.entries.length > 0) {
        const [key] = parts.entries.splice(rng.int(parts.entries.length), 1)[0];
        steps.push(`drop key ${key}`);
      } else if (choice === 1 && parts.entries.length > 0) {
        const entry = rng.pick(parts.entries);
        parts.entries.push([entry[0], entry[1]]);
        steps.push(`duplicate key ${entry[0]}`);
      } else {
        parts.entries.push(["extra", "1"]);
        steps.push("extra key");
      }
    } else if (op === 5) {
      parts.version = rng.pick([[1, 0], [2, 0], [3, 0], [0, 0], [4, 0], [1, 1]] as [number, number][]);
      steps.push(`version ${parts.version.join(".")}`);
    } else if (op === 6) {
      pad = false;
      steps.push("unaligned header");
    } else {
      const n = parts.body.length;
      const change = rng.pick([-1, -4, -8, 1, 8, -n, n, 7]);
      parts.body = change < 0
        ? parts.body.subarray(0, Math.max(0, n + change))
        : concat(parts.body, new Uint8Array(change));
      steps.push(`body ${change > 0 ? "+" : ""}${change} bytes`);
    }
  }
  // Values a table refuses (NaN, -1, 2) sometimes, so the value checks are reached too.
  if (rng.chance(0.15) && parts.body.length >= 8) {
    const body = Uint8Array.from(parts.body);
    const value = rng.pick([NaN, -1, 2, Infinity, -0]);
    const i = rng.int(body.length >> 3) * 8;
    new DataView(body.buffer).setFloat64(i, value, true);
    parts.body = body;
    steps.push(`body float64 at byte ${i} = ${value}`);
  }
  return { bytes: joinNpy(parts, pad), steps };
}
