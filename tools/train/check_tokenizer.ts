/** Checks models/tiny's tokenizer in lukv: round trips, and ids identical to tools/train/tokenizer.py's encoder. */

import assert from "node:assert/strict";
import { Tokenizer } from "../../src/model/tokenizer.ts";

const CASES = "tools/train/runs/tokenizer_cases.json";
const python = new Deno.Command("/usr/bin/python3", {
  args: ["tools/train/tokenizer.py", "--check-cases", CASES],
});
const { success, stderr } = await python.output();
assert.ok(success, new TextDecoder().decode(stderr));

const tokenizer = await Tokenizer.load("models/tiny");
const cases: { text: string; ids: number[] }[] = JSON.parse(await Deno.readTextFile(CASES));
let tokens = 0;
for (const { text, ids } of cases) {
  const got = tokenizer.encode(text);
  assert.deepEqual([...got], ids, `encode(${JSON.stringify(text.slice(0, 80))})`);
  assert.equal(tokenizer.decode(got, { skipSpecialTokens: true }), text);
  tokens += got.length;
}
assert.equal(tokenizer.vocabSize, 2048);
for (const digit of "0123456789") {
  assert.equal(tokenizer.encode(digit, { addSpecialTokens: false }).length, 1);
}
console.log(`ok: ${cases.length} texts, ${tokens} tokens identical to the Python encoder and round-tripped`);
