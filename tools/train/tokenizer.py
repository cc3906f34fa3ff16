#!/usr/bin/python3
"""Trains the byte-level BPE tokenizer of models/tiny and writes tokenizer.json + tokenizer_config.json.

Same format as tools/reference (GPT-2 byte mapping and pre-tokenizer, ByteLevel decoder, a
TemplateProcessing post-processor that prepends BOS like Llama 3), so @huggingface/tokenizers
0.2.0 loads it and lukv's Tokenizer runs it. Two choices are specific to this model:

- Digits are never merged with anything: number pieces (" ?\\p{N}+") are left out of merge
  training, so every digit stays one token and numbers are copied digit by digit (a
  retrieval head then needs one induction step per digit, not a lookup in a number vocab).
- The words of the evaluation task templates ("special", "magic", "number", "VAR", ...) and
  every needle key of src/eval/tasks/words.ts (with its leading space, as it follows "for")
  are weighted up so they are single tokens: a one-token key makes retrieval a one-token
  match, which a tiny model learns far more easily than a multi-token one.

Run: /usr/bin/python3 tools/train/tokenizer.py [MAX_LENGTH]   (deterministic; rewrites models/tiny/tokenizer*.json)
     /usr/bin/python3 tools/train/tokenizer.py --check-cases FILE   (ids for check_tokenizer.ts)
"""

import heapq
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "reference"))
# The GPT-2 byte table, the hand-written pre-tokenizer (Python's `re` has no \p{L}), BPE merge
# application and deno-fmt JSON layout are shared with the independent reference.
from make_fixtures import (  # noqa: E402
    BYTE_CHARS,
    CHAR_BYTES,
    apply_merges,
    char_class,
    format_json,
    pretokenize,
    split_keep,
    to_byte_chars,
    tokenizer_json,
)

TEXT_DIR = ROOT / "src" / "eval" / "tasks" / "text"
WORDS_TS = ROOT / "src" / "eval" / "tasks" / "words.ts"
MODEL_DIR = ROOT / "models" / "tiny"
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
SPECIAL_TOKENS = [BOS, EOS]
VOCAB_SIZE = 2048
MERGE_COUNT = VOCAB_SIZE - 256 - len(SPECIAL_TOKENS)

# The sentences of the task templates (src/eval/tasks/templates.ts), counted TEMPLATE_WEIGHT times
# each so that their words become single tokens even when the Jargon File rarely uses them.
TEMPLATE_TEXT = """\
The special magic number for key is 123456.
What is the special magic number for key? The special magic number for key is 123456.
What are the special magic numbers for key, key? The special magic numbers for key, key are 1, 2.
VAR ABC = 123456. VAR DEF = ABC.
Which variables hold the value 123456? The variables that hold the value 123456 are ABC, DEF.
Below is a list of words. Some words appear more often than others.
What are the 5 most common words in the list? The 5 most common words in the list are a, b.
Below is a coded text. Some coded words appear more often than others.
What are the 3 most frequent coded words in the text? The 3 most frequent coded words in the text are a, b.
"""
TEMPLATE_WEIGHT = 200
# Checked after training: these must each be one token (with and without a leading space where used).
REQUIRED_TOKENS = [
    " special", " magic", " number", " numbers", " is", " for", " the", " The", "The", "What", " are",
    " VAR", "VAR", " =", " variables", " hold", " value", "Which", "Below", " list", " words", " most",
    " common", " coded", " frequent", " text", " appear", " often", " than", " others", " Some",
]


def needle_keys() -> list[str]:
    """The KEYS list of the task generators (a template literal of space-separated words)."""
    source = WORDS_TS.read_text(encoding="utf-8")
    match = re.search(r"export const KEYS: readonly string\[\] = `([^`]*)`", source)
    assert match, f"KEYS not found in {WORDS_TS}"
    return match.group(1).split()


def training_pieces(text: str) -> dict[tuple[str, ...], int]:
    """Pre-tokenized pieces (as byte characters) and their counts; number pieces are left out so
    that no merge ever involves a digit."""
    counts: dict[tuple[str, ...], int] = {}
    for piece in pretokenize(text):
        if any(char_class(c) == "number" for c in piece):
            continue
        key = tuple(to_byte_chars(piece))
        if len(key) > 1:
            counts[key] = counts.get(key, 0) + 1
    return counts


def train_merges(counts: dict[tuple[str, ...], int], merge_count: int) -> list[tuple[str, str]]:
    """BPE with incremental pair counts (a lazy max-heap), so ~1800 merges over the corpus take
    seconds. Ties go to the lexicographically smallest pair, as in tools/reference, so the result
    is fixed."""
    words = [list(w) for w in counts]
    freqs = list(counts.values())
    pair_counts: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}
    for i, word in enumerate(words):
        for pair in zip(word, word[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + freqs[i]
            where.setdefault(pair, set()).add(i)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    def add(pair, delta, i):
        pair_counts[pair] = pair_counts.get(pair, 0) + delta
        if delta > 0:
            where.setdefault(pair, set()).add(i)
        heapq.heappush(heap, (-pair_counts[pair], pair))

    merges: list[tuple[str, str]] = []
    while len(merges) < merge_count and heap:
        neg, best = heapq.heappop(heap)
        if pair_counts.get(best, 0) != -neg or neg == 0:
            continue  # stale heap entry
        merges.append(best)
        ranks = {best: 0}
        for i in sorted(where.pop(best, ())):
            word, f = words[i], freqs[i]
            if best not in zip(word, word[1:]):
                continue
            for pair in zip(word, word[1:]):
                add(pair, -f, i)
            word = apply_merges(word, ranks)
            words[i] = word
            for pair in zip(word, word[1:]):
                add(pair, f, i)
        pair_counts.pop(best, None)
    return merges


class ByteBpe:
    """Encoder/decoder with exactly the semantics of the tokenizer.json written below (checked
    against @huggingface/tokenizers by tools/train/check_tokenizer.ts). Pieces are memoised, so
    encoding the whole corpus is fast."""

    def __init__(self, merges: list[tuple[str, str]]):
        self.merges = merges
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        tokens = [BYTE_CHARS[b] for b in range(256)] + [a + b for a, b in merges]
        assert len(set(tokens)) == len(tokens), "a merge produced a token twice"
        self.vocab = {tok: i for i, tok in enumerate(tokens)}
        self.special_ids = {tok: len(tokens) + i for i, tok in enumerate(SPECIAL_TOKENS)}
        self.id_to_token = {i: t for t, i in {**self.vocab, **self.special_ids}.items()}
        self.bos_id = self.special_ids[BOS]
        self.eos_id = self.special_ids[EOS]
        self.size = len(self.id_to_token)
        self._piece_cache: dict[str, list[int]] = {}

    def encode_piece(self, piece: str) -> list[int]:
        ids = self._piece_cache.get(piece)
        if ids is None:
            ids = [self.vocab[t] for t in apply_merges(list(to_byte_chars(piece)), self.ranks)]
            self._piece_cache[piece] = ids
        return ids

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        ids = [self.bos_id] if add_bos else []
        for section in split_keep(text, SPECIAL_TOKENS):
            if section in self.special_ids:
                ids.append(self.special_ids[section])
                continue
            for piece in pretokenize(section):
                ids += self.encode_piece(piece)
        return ids

    def decode(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            token = self.id_to_token[i]
            out += token.encode() if token in self.special_ids else bytes(CHAR_BYTES[c] for c in token)
        return out.decode("utf-8", errors="replace")

    @staticmethod
    def load(model_dir: Path = MODEL_DIR) -> "ByteBpe":
        import json

        data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
        return ByteBpe([tuple(m.split(" ")) for m in data["model"]["merges"]])


def tokenizer_config(bpe: ByteBpe, max_length: int) -> dict:
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": {
            str(bpe.special_ids[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                      "single_word": False, "special": True}
            for t in SPECIAL_TOKENS
        },
        "bos_token": BOS,
        # False so that decode(encode(text)) is exact (the JS port defaults it to true).
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": max_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    return dict(sorted(config.items()))


def write_json(path: Path, value) -> None:
    path.write_text(format_json(value) + "\n", encoding="utf-8")


def write_tokenizer(bpe: ByteBpe, model_dir: Path, max_length: int) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    write_json(model_dir / "tokenizer.json", tokenizer_json(bpe))
    write_json(model_dir / "tokenizer_config.json", tokenizer_config(bpe, max_length))


def train_tokenizer() -> ByteBpe:
    counts = training_pieces((TEXT_DIR / "train.txt").read_text(encoding="utf-8"))
    keys = needle_keys()
    for piece, c in training_pieces(TEMPLATE_TEXT + " ".join(f" {k}" for k in keys)).items():
        counts[piece] = counts.get(piece, 0) + c * TEMPLATE_WEIGHT
    bpe = ByteBpe(train_merges(counts, MERGE_COUNT))
    assert bpe.size == VOCAB_SIZE, bpe.size
    missing = [t for t in REQUIRED_TOKENS + [f" {k}" for k in keys] if len(bpe.encode(t, add_bos=False)) != 1]
    assert not missing, f"not single tokens: {missing}"
    digits = [bpe.encode(f" {n}", add_bos=False) for n in ("123456", "7890")]
    assert all(len(d) == len(s) + 1 for d, s in zip(digits, ("123456", "7890"))), "digits merged"
    return bpe


def write_check_cases(path: Path, every: int = 1) -> None:
    """Every `every`-th paragraph of train.txt plus awkward strings, with this encoder's ids, for
    tools/train/check_tokenizer.ts to compare with @huggingface/tokenizers."""
    import json

    bpe = ByteBpe.load()
    lines = (TEXT_DIR / "train.txt").read_text(encoding="utf-8").split("\n")[::every]
    extra = [TEMPLATE_TEXT, "  two  spaces\n\nand \U0001f642 \u00e9moji 1234567890", "x = 0.5e-3; VAR QWERT = 77"]
    cases = [{"text": t, "ids": bpe.encode(t)} for t in lines + extra]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cases), encoding="utf-8")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--check-cases":
        write_check_cases(Path(sys.argv[2]))
        return
    max_length = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    bpe = train_tokenizer()
    write_tokenizer(bpe, MODEL_DIR, max_length)
    sample = "The special magic number for pebble is 402917."
    print(f"vocab {bpe.size}, {len(bpe.merges)} merges; {sample!r} -> "
          f"{[bpe.id_to_token[i] for i in bpe.encode(sample)]}")


if __name__ == "__main__":
    main()
