/** The README and the docs link only to files inside the repository, and every link resolves. */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const PAGES = ["README.md", "docs/architecture.md", "models/tiny/README.md", "docs/results/tiny/NOTES.md"];

Deno.test("every Markdown link of the README and docs points at a file of this repository", () => {
  let links = 0;
  for (const page of PAGES) {
    const text = Deno.readTextFileSync(new URL(page, ROOT));
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      links++;
      assert.doesNotMatch(target, /^[a-z]+:/i, `${page} links outside the repository: ${target}`);
      const file = new URL(target.split("#")[0], new URL(page, ROOT));
      assert.ok(file.href.startsWith(ROOT.href), `${page}: ${target} leaves the repository`);
      assert.ok(Deno.statSync(file), `${page}: ${target} does not exist`);
    }
  }
  assert.ok(links > 5, `only ${links} links found: the scan is broken`);
});
