/** The symbol table must mirror ffi/lukv.h: names, arity, type widths and the C-type comments. */

import assert from "node:assert/strict";
import { SYMBOLS } from "../../src/backend/symbols.ts";

interface CFunction {
  name: string;
  result: string;
  /** Each parameter as written in the header, whitespace collapsed, e.g. "int64_t bytes". */
  params: string[];
}

const header = await Deno.readTextFile(new URL("../../ffi/lukv.h", import.meta.url));
const table = await Deno.readTextFile(new URL("../../src/backend/symbols.ts", import.meta.url));

function parseHeader(text: string): CFunction[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const found: CFunction[] = [];
  for (const match of code.matchAll(/LUKV_API\s+([\w\s*]+?)\s*\b(lukv_\w+)\s*\(([^)]*)\)\s*;/g)) {
    const params = match[3].trim() === "void"
      ? []
      : match[3].split(",").map((p) => p.trim().replace(/\s+/g, " "));
    found.push({ name: match[2], result: match[1].trim().replace(/\s+/g, " "), params });
  }
  return found;
}

/** The Deno FFI type a C parameter or result must have. */
function denoType(c: string): string {
  if (c.startsWith("LUKV_HOST ")) return "buffer";
  if (c.includes("*")) return "pointer";
  const type = c.replace(/^const /, "").split(" ")[0];
  const widths: Record<string, string> = {
    int: "i32",
    int32_t: "i32",
    int64_t: "i64",
    uint64_t: "u64",
    float: "f32",
    double: "f64",
  };
  if (!(type in widths)) throw new Error(`header uses a type the test does not know: ${c}`);
  return widths[type];
}

const functions = parseHeader(header);

Deno.test("header declares the ABI the symbol table knows, and only that", () => {
  assert.ok(functions.length >= 20, `parsed only ${functions.length} functions from lukv.h`);
  assert.deepEqual(functions.map((f) => f.name).sort(), Object.keys(SYMBOLS).sort());
});

Deno.test("every symbol has the header's arity and type widths", () => {
  const symbols = SYMBOLS as Record<string, { parameters: readonly string[]; result: string }>;
  for (const f of functions) {
    const symbol = symbols[f.name];
    assert.equal(symbol.result, denoType(`${f.result} r`), `${f.name}: result`);
    assert.deepEqual([...symbol.parameters], f.params.map(denoType), `${f.name}: parameters`);
  }
});

Deno.test("each symbol parameter is commented with its C declaration", () => {
  for (const f of functions) {
    const block = table.match(new RegExp(`${f.name}: \\{\\s*parameters: \\[([\\s\\S]*?)\\]`));
    assert.ok(block, `${f.name} not found in symbols.ts`);
    const comments = [...block[1].matchAll(/\/\/ (.*)$/gm)].map((m) => m[1].trim());
    if (f.params.length === 0) continue;
    assert.deepEqual(comments, f.params, `${f.name}: comments`);
  }
});

Deno.test("the parser is not vacuous: it reads a known declaration exactly", () => {
  const alloc = functions.find((f) => f.name === "lukv_alloc");
  assert.deepEqual(alloc, {
    name: "lukv_alloc",
    result: "int",
    params: ["int64_t bytes", "LUKV_HOST void** out_ptr"],
  });
  assert.equal(denoType("const char* r"), "pointer");
});
