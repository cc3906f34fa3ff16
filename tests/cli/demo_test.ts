/** The demo, as a first-time user runs it: its first sample streams, and LU-KV keeps the answer at 80% and 90%. */

import assert from "node:assert/strict";
import { runScript } from "./run_script.ts";

const DEMO = new URL("../../src/cli/demo.ts", import.meta.url).pathname;

Deno.test("the demo answers its default seed's first sample with lukv-expected-attention at 80% and 90%", async () => {
  const { code, stdout, stderr } = await runScript(DEMO, ["--samples", "1", "--device", "cpu"]);
  assert.equal(code, 0, stderr);
  // Before issue 21 the demo showed lukv at 80% answering 855655 for 855654 on this seed.
  for (const label of ["full cache", "lukv-expected-attention at 0.8", "lukv-expected-attention at 0.9"]) {
    assert.match(stdout, new RegExp(`\\[${label}\\][^\\n]*855654\\.[^\\n]*-> correct`), label);
  }
  assert.match(stdout, /^full\s+-\s+1\/1\s+\d+ KiB \(100%\)$/m, "the table's full-cache row");
  assert.match(stdout, /^lukv-expected-attention\s+80%\s+1\/1\s+\d+ KiB \(2\d%\)$/m, "KV bytes held at 80%");
});
