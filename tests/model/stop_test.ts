/** Stop strings: matches across pieces, held-back partial matches, overlapping stops, and split-independence. */

import assert from "node:assert/strict";
import { StopStrings } from "../../src/model/stop.ts";

/** Pushes every piece, then flushes; the emitted texts, whether it stopped, and their concatenation. */
function run(stops: readonly string[], pieces: readonly string[]) {
  const watcher = new StopStrings(stops);
  const texts: string[] = [];
  let stopped = false;
  for (const piece of pieces) {
    const result = watcher.push(piece);
    texts.push(result.text);
    stopped ||= result.stopped;
  }
  const flushed = watcher.flush();
  return { texts, flushed, stopped, output: texts.join("") + flushed };
}

/** Every way of cutting `text` into non-empty pieces. */
function* splits(text: string): Generator<string[]> {
  for (let mask = 0; mask < 2 ** (text.length - 1); mask++) {
    const pieces = [];
    let start = 0;
    for (let i = 1; i < text.length; i++) {
      if (mask & (1 << (i - 1))) {
        pieces.push(text.slice(start, i));
        start = i;
      }
    }
    pieces.push(text.slice(start));
    yield pieces;
  }
}

Deno.test("a stop string spanning three pieces ends the stream; later pushes are ignored", () => {
  const watcher = new StopStrings(["<|end|>"]);
  assert.deepEqual(watcher.push("Hello <|"), { text: "Hello ", stopped: false });
  assert.deepEqual(watcher.push("en"), { text: "", stopped: false });
  assert.deepEqual(watcher.push("d|> and more"), { text: "", stopped: true });
  assert.deepEqual(watcher.push("ignored"), { text: "", stopped: true });
  assert.equal(watcher.flush(), "");

  const before = run(["STOP"], ["one ST", "O", "Ptwo"]);
  assert.deepEqual(before.texts, ["one ", "", ""]);
  assert.ok(before.stopped);
  const inside = run(["STOP"], ["ab", "cSTOPde"]);
  assert.deepEqual(inside.texts, ["ab", "c"]);
});

Deno.test("a partial match that fails is emitted later, nothing lost", () => {
  const watcher = new StopStrings(["STOP"]);
  assert.deepEqual(watcher.push("aS"), { text: "a", stopped: false });
  assert.deepEqual(watcher.push("T"), { text: "", stopped: false });
  assert.deepEqual(watcher.push("Ob"), { text: "STOb", stopped: false });
  assert.deepEqual(watcher.push("STO"), { text: "", stopped: false });
  assert.equal(watcher.flush(), "STO");

  // "SSTOP": the first S fails but the second starts the real match.
  const restart = run(["STOP"], ["S", "S", "T", "O", "P", "x"]);
  assert.equal(restart.output, "S");
  assert.ok(restart.stopped);

  const text = "a STO STOP b";
  for (const pieces of splits("xx STO STOx ST")) {
    const result = run(["STOP"], pieces);
    assert.equal(result.output, "xx STO STOx ST", pieces.join("|"));
    assert.ok(!result.stopped);
  }
  for (const pieces of splits(text)) {
    const result = run(["STOP", " b"], pieces);
    assert.equal(result.output, "a STO ", pieces.join("|"));
    assert.ok(result.stopped);
  }
});

Deno.test("overlapping stops: the first to complete wins, then the earliest start", () => {
  assert.equal(run(["abc", "ab"], ["xabcd"]).output, "x");
  assert.deepEqual(run(["abc", "ab"], ["x", "a", "b", "c"]).texts, ["x", "", "", ""]);
  // "bc" completes (at "c") before "abcd" could; on the same last character the earlier start wins.
  for (const pieces of splits("xabcd")) {
    assert.equal(run(["abcd", "bc"], pieces).output, "xa", pieces.join("|"));
    assert.equal(run(["bc", "abc"], pieces).output, "x", pieces.join("|"));
  }
  // Held back while any stop could still match.
  const watcher = new StopStrings(["<eos>", "<end_of_turn>"]);
  assert.deepEqual(watcher.push("hi <e"), { text: "hi ", stopped: false });
  assert.deepEqual(watcher.push("nd_of"), { text: "", stopped: false });
  assert.deepEqual(watcher.push("_turn>"), { text: "", stopped: true });
});

Deno.test("a stop at the very start emits nothing", () => {
  assert.deepEqual(new StopStrings(["###"]).push("### rest"), { text: "", stopped: true });
  const split = run(["###"], ["#", "#", "#", "rest"]);
  assert.deepEqual(split.texts, ["", "", "", ""]);
  assert.equal(split.output, "");
  assert.ok(split.stopped);
});

Deno.test("unicode: stops and pieces with CJK, emoji, and surrogate pairs split across pieces", () => {
  assert.deepEqual(run(["。\n"], ["你好", "世界。", "\n再见"]).texts, ["你好", "世界", ""]);
  const emoji = "🛑";
  assert.deepEqual(run([emoji], ["go 🚀 ", emoji[0], emoji[1] + " no"]).texts, ["go 🚀 ", "", ""]);
  const partial = run(["👋🏽bye"], ["hi 👋🏽", "by", "e!"]);
  assert.equal(partial.output, "hi ");
  const missed = run(["👋🏽bye"], ["hi 👋🏽", "by", "!"]);
  assert.deepEqual(missed.texts, ["hi ", "", "👋🏽by!"]);
  assert.equal(missed.output, "hi 👋🏽by!");
  for (const pieces of splits("é→🙂x🙂")) {
    assert.equal(run(["🙂x"], pieces).output, "é→", pieces.join("|"));
  }
});

Deno.test("no stops passes pieces through; empty stop strings are RangeErrors", () => {
  const watcher = new StopStrings([]);
  assert.deepEqual(watcher.push("anything <|end|>"), { text: "anything <|end|>", stopped: false });
  assert.deepEqual(watcher.push(""), { text: "", stopped: false });
  assert.equal(watcher.flush(), "");
  assert.throws(() => new StopStrings(["ok", ""]), { name: "RangeError", message: /stop string 1 is empty/ });
  assert.throws(() => new StopStrings([42 as unknown as string]), TypeError);
});
