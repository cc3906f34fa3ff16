"""Natural English text for lukv's filler and training: the Jargon File 4.4.7 (public domain),
as Debian's dict-jargon package ships it (`apt-get install -y dict-jargon`).

Keeps the prose paragraphs of the definitions (no headwords, pronunciations, or cross-reference
braces), normalises typography to ASCII, and splits the paragraphs into three disjoint sets by a
fixed hash of their text, so membership never depends on order:
  train.txt  (about 80%): the training recipe's natural text
  calib.txt  (about 10%): filler of calibration samples (LU-KV profiling)
  eval.txt   (about 10%): filler of evaluation samples and the held-out perplexity text

Run: /usr/bin/python3 tools/text/extract_jargon.py   (writes src/eval/tasks/text/*.txt)
"""

import gzip
import hashlib
import pathlib
import re

SOURCE = pathlib.Path("/usr/share/dictd/jargon.dict.dz")
OUT = pathlib.Path(__file__).resolve().parents[2] / "src" / "eval" / "tasks" / "text"

ASCII = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ", "\u2013": "-",
         "\u2026": "...", "\u00b7": "", "\u00b4": "'", "\u00a0": " "}


def paragraphs(text: str):
    # Definitions are indented blocks separated by blank lines; headwords and their part of
    # speech sit at column 0 or 1 and are skipped.
    block = []
    for line in text.splitlines():
        if line.startswith("    "):
            block.append(line.strip())
        else:
            if block:
                yield " ".join(block)
            block = []
    if block:
        yield " ".join(block)


def clean(p: str) -> str | None:
    for k, v in ASCII.items():
        p = p.replace(k, v)
    p = re.sub(r"\{\s*([^}]*)\}", r"\1", p)  # cross-references keep their words
    p = re.sub(r"\s+", " ", p).strip()
    p = re.sub(r" ([,.;:!?])", r"\1", p)
    if p.startswith("[") and p.endswith("]"):
        return None
    if len(p) < 120 or not p.isascii() or sum(c.isalpha() for c in p) < 0.7 * len(p):
        return None  # fragments, tables, code listings, non-English
    return p


def main():
    text = gzip.decompress(SOURCE.read_bytes()).decode("utf-8")
    start = text.index("(TM)")  # skip the dictd header and the licence notice
    kept = [c for p in paragraphs(text[start:]) if (c := clean(p))]
    splits = {"train": [], "calib": [], "eval": []}
    for p in kept:
        bucket = hashlib.sha256(p.encode()).digest()[0] % 10
        splits["train" if bucket < 8 else "calib" if bucket == 8 else "eval"].append(p)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, ps in splits.items():
        (OUT / f"{name}.txt").write_text("\n".join(ps) + "\n", encoding="ascii")
        print(f"{name}: {len(ps)} paragraphs, {sum(len(p) for p in ps)} characters")


if __name__ == "__main__":
    main()
