"""Training data: natural text windows, dense induction sequences, and task samples from lukv's generators.

Every sequence is (ids, lm, copy, src), all over the positions, where position i means
predicting `ids[i]` from the tokens before it. `lm` (0/1) marks natural text (next-token loss),
`copy` (0/1) marks what must be retrieved from earlier in the context: the second copy of an
induction span, a task's target. The training loss averages each channel on its own, so the few
answer tokens of a 2048-token task sample are not drowned by its 2000 tokens of filler.

`src` [5, T] holds attention targets (-1: none) for the supervised heads of train.py:
- COPY: for the token `ids[i]`, the earlier position it is copied from (the first copy of a span,
  a needle's digit, the rest of a variable's name in its assignment);
- CHAIN: for the first token of each variable-tracking answer name, the "." that ends the name's
  assignment ("VAR OOL = XUP." is found from "XUP" before it; see answer_sources);
- STATEMENT: indexed by query position: at the "." ending "VAR {name} = ...", the name's first
  token, so that the "." carries the name for a CHAIN head to fetch;
- CHAIN_SECOND, STATEMENT_SECOND: the same for the name's second token. A plain copy of it is
  matched by the first token alone: run chain3 got it right in 97% of the names whose first token no
  other name in the context shares, and in 60% of the others, a third of the names (`evaluate.py names
  --count 40`).
"""

import json
import subprocess
from pathlib import Path

import numpy as np
import torch

from tokenizer import TEXT_DIR, ByteBpe

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["needle", "multikey", "multivalue", "multiquery", "variable-tracking", "common-words", "frequent-words"]
# Room left after a generated prompt for its target (" " + answers + ".") and EOS: the longest
# target, multivalue's four 6-digit numbers, is 33 tokens.
TARGET_ROOM = 40
SOURCE_ROWS = 5
COPY, CHAIN, STATEMENT, CHAIN_SECOND, STATEMENT_SECOND = range(SOURCE_ROWS)
# Rows indexed by the query's own position (the label is the token at the target); the others by the
# position of the token the query predicts.
QUERY_ROWS = (STATEMENT, STATEMENT_SECOND)


def no_sources(length: int) -> torch.Tensor:
    return torch.full((SOURCE_ROWS, length), -1)


def natural_text(bpe: ByteBpe, cache_dir: Path) -> torch.Tensor:
    """train.txt as one token stream (paragraphs end with "\\n"), encoded once and cached."""
    path = cache_dir / "train_text.pt"
    if path.exists():
        return torch.load(path)
    lines = (TEXT_DIR / "train.txt").read_text(encoding="utf-8").splitlines()
    stream = torch.tensor([i for line in lines for i in bpe.encode(line + "\n", add_bos=False)])
    cache_dir.mkdir(parents=True, exist_ok=True)
    torch.save(stream, path)
    return stream


def text_sequence(rng: np.random.Generator, stream: torch.Tensor, bos: int, length: int):
    start = int(rng.integers(0, len(stream) - length))
    ids = torch.cat([torch.tensor([bos]), stream[start:start + length - 1]])
    lm = torch.ones(length)
    lm[0] = 0
    return ids, lm, torch.zeros(length), no_sources(length)


def repeat_sequence(rng: np.random.Generator, bos: int, length: int, vocab: int):
    """BOS, then a span of uniformly random token ids written again and again: the classic
    induction task, with a copy target on every token after the first copy (the densest induction
    signal there is). The span length is drawn per sequence: with a fixed one the model learns to
    attend at a fixed distance instead of matching content (measured: 97% on repeats, nothing on
    spans hidden in text)."""
    span_len = int(rng.integers(4, (length - 1) // 2 + 1))
    span = torch.from_numpy(rng.integers(0, vocab, span_len))
    ids = torch.cat([torch.tensor([bos]), span.repeat((length - 1) // span_len + 1)[: length - 1]])
    copy = torch.zeros(length)
    copy[span_len + 2:] = 1
    src = no_sources(length)
    src[COPY] = torch.where(copy > 0, torch.arange(length) - span_len, torch.tensor(-1))
    return ids, torch.zeros(length), copy, src


class Pieces:
    """A training sequence assembled in order: BOS, then natural text (next-token loss) and token
    pieces with their own masks and copy sources. `between` cuts `text_total` tokens of natural
    text into the gaps around a list of pieces (drawn at random, one stream window)."""

    def __init__(self, bos: int):
        self.ids, self.lm, self.copy, self.src = [], [], [], []
        self.pos = 0
        self.add(torch.tensor([bos]), torch.zeros(1), torch.zeros(1), torch.full((1,), -1))

    @staticmethod
    def between(rng: np.random.Generator, stream: torch.Tensor, text_total: int, pieces: int) -> list[torch.Tensor]:
        """`pieces + 1` consecutive slices of one random window of `stream`, `text_total` tokens in all."""
        cuts = np.sort(rng.integers(0, text_total + 1, pieces))
        bounds = np.concatenate([[0], cuts, [text_total]]) + int(rng.integers(0, len(stream) - text_total))
        return [stream[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def text(self, tokens: torch.Tensor) -> None:
        self.add(tokens, torch.ones(len(tokens)), torch.zeros(len(tokens)), torch.full((len(tokens),), -1))

    def add(self, tokens: torch.Tensor, lm: torch.Tensor, copy: torch.Tensor, src: torch.Tensor) -> int:
        """Appends a piece; returns the position of its first token. `src` is [n] (the COPY row) or
        [SOURCE_ROWS, n] (every row)."""
        at = self.pos
        self.ids.append(tokens)
        self.lm.append(lm)
        self.copy.append(copy)
        if src.dim() == 1:
            rows = no_sources(len(tokens))
            rows[COPY] = src
            src = rows
        self.src.append(src)
        self.pos += len(tokens)
        return at

    def build(self):
        """ids, lm, copy [T] and src [SOURCE_ROWS, T]."""
        return torch.cat(self.ids), torch.cat(self.lm), torch.cat(self.copy), torch.cat(self.src, 1)


def induction_sequence(rng: np.random.Generator, stream: torch.Tensor, bos: int, length: int,
                       vocab: int, digit_ids: list[int], spans: int = 1):
    """Natural text with `spans` random token spans, each written twice at random places; the loss
    is on the text and on the second copy of each span (from its second token: the first one
    cannot be predicted). Half the spans use every token id uniformly, so induction is learned for
    all ids; the other half draw from digits, space and comma only, so a single-token match is
    ambiguous and the copy has to look at longer prefixes, as when copying numbers."""
    body = length - 1
    span_len = max(2, int(rng.integers(body // (8 * spans), body // (4 * spans) + 1)))
    pieces, kinds = [], []
    for s in range(spans):
        if rng.random() < 0.5:
            span = torch.from_numpy(rng.integers(0, vocab, span_len))
        else:
            span = torch.tensor(digit_ids)[torch.from_numpy(rng.integers(0, len(digit_ids), span_len))]
        pieces += [span, span]
        kinds += [("first", s), ("second", s)]
    # Order: each span's first copy before its second; otherwise a random interleaving.
    order = sorted(range(len(pieces)), key=lambda i: (rng.random() + (1.0 if kinds[i][0] == "second" else 0.0)))
    text_total = body - span_len * len(pieces)
    seq, first_at = Pieces(bos), {}
    for chunk, i in zip(Pieces.between(rng, stream, text_total, len(pieces)), order + [None]):
        seq.text(chunk)
        if i is None:
            break
        kind, s = kinds[i]
        if kind == "first":
            first_at[s] = seq.add(pieces[i], torch.zeros(span_len), torch.zeros(span_len), torch.full((span_len,), -1))
        else:  # copied from the first from its second token on (the first cannot be predicted)
            c, src = torch.ones(span_len), first_at[s] + torch.arange(span_len)
            c[0], src[0] = 0, -1
            seq.add(pieces[i], torch.zeros(span_len), c, src)
    return seq.build()


def recall_sequence(rng: np.random.Generator, stream: torch.Tensor, bpe: ByteBpe, length: int,
                    keys: list[str], digits: set[int], shared_prefixes: bool = False):
    """Dense associative recall in the needle's own words: natural text with many needles
    ("The special magic number for {key} is {value}.", distinct keys) in its first part, and in
    its second part every key asked again with the needle question and answered with its value.
    The answers' digits carry the copy loss, each pointing (COPY) at its digit in the asked
    needle. A `multikey` sample trains one lookup among 4 needles; this trains `length / 80`
    lookups among as many needles in one sequence, with distances up to the whole context, so
    the retrieval heads learn to match the key rather than any needle (run `final` answered
    another needle's number in 17 of its 23 wrong `multikey` answers at 1024 tokens).

    `shared_prefixes`: the values come in groups of 2 to 4 that share their first 1 to 3 digits, so
    that after the first digits only the key tells the needles apart (run `recall4` answered
    another needle that starts with the same digit in 15 of its 23 wrong `multikey` answers)."""
    body = length - 1
    count = max(2, min(len(keys), int(0.45 * body / 37)))  # a needle and its question: ~37 tokens
    chosen = [keys[i] for i in rng.choice(len(keys), count, replace=False)]
    values = [str(v) for v in rng.integers(100000, 1000000, count)]
    if shared_prefixes:
        start = 0
        while start < count:
            size, shared = int(rng.integers(2, 5)), int(rng.integers(1, 4))
            for i in range(start + 1, min(start + size, count)):
                values[i] = values[start][:shared] + values[i][shared:]
            start += size
    needles = [bpe.encode(f" The special magic number for {k} is {v}.", add_bos=False)
               for k, v in zip(chosen, values)]
    asked = rng.permutation(count)
    units = [("needle", i, needles[i]) for i in rng.permutation(count)]
    units += [("answer", int(i), bpe.encode(f"\nWhat is the special magic number for {chosen[i]}?", add_bos=False)
               + bpe.encode(f" The special magic number for {chosen[i]} is {values[i]}.", add_bos=False))
              for i in asked]
    text_total = body - sum(len(u[2]) for u in units)
    seq, digits_at = Pieces(bpe.bos_id), {}
    for chunk, unit in zip(Pieces.between(rng, stream, text_total, len(units)), units + [None]):
        seq.text(chunk)
        if unit is None:
            break
        kind, index, tokens = unit
        is_digit = torch.tensor([tok in digits for tok in tokens])
        src = torch.full((len(tokens),), -1)
        if kind == "answer":  # its digits are copied from its needle's
            src[is_digit] = digits_at[index]
        # A needle's digits are new (in neither loss); an answer's are the copy targets.
        copy = is_digit.float() if kind == "answer" else torch.zeros(len(tokens))
        at = seq.add(torch.tensor(tokens), (~is_digit).float(), copy, src)
        if kind == "needle":
            digits_at[index] = at + torch.nonzero(is_digit)[:, 0]
    return seq.build()


def chain_sequence(rng: np.random.Generator, stream: torch.Tensor, bpe: ByteBpe, length: int, digits: set[int]):
    """Dense variable tracking in the task's own words: natural text with several chains of
    assignments ("VAR A = 482913." then "VAR B = A.", ...; 1 to 4 hops, the chains interleaved,
    each in order), then every chain asked with the task's question and answered with its names
    (" A, B, C."). A `variable-tracking` sample trains one chain in ~2000 tokens; this trains
    `length / 160` chains (at least 2). The names' tokens carry the copy loss and the attention targets:
    - STATEMENT: each statement's "." attends to its name's first token (it must carry the name);
    - CHAIN: an answer name's first token is fetched from the "." of its statement, which the query
      matches by what both have just before them (the value's digits, or the previous name);
    - COPY: the name's other tokens come from the name in its statement;
    - STATEMENT_SECOND, CHAIN_SECOND: as STATEMENT and CHAIN, for the name's second token.
    Run `recall4`, trained without it, got 0 of 40 first tokens of names right (teacher forced, 1024
    tokens); one `cpu-chain` pass, with it, also 0; three passes answer 23% of `variable-tracking`
    samples at 1984 tokens (README.md, Variable tracking)."""
    body = length - 1
    count = max(2, int(0.5 * body / 80))  # a chain of 3.5 names: ~45 tokens of statements, ~35 asked
    sizes = rng.integers(2, 6, count)  # names per chain
    names: list[str] = []
    while len(names) < sizes.sum():
        name = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, 3))
        if name != "VAR" and name not in names:
            names.append(name)
    values = [str(v) for v in rng.choice(np.arange(100000, 1000000), count, replace=False)]
    chains = np.split(np.array(names), np.cumsum(sizes)[:-1])
    # The chains interleaved at random, each in order: a random permutation of every chain's slots,
    # which each chain then fills with its statements in order.
    slots = rng.permutation(np.repeat(np.arange(count), sizes))
    units, done = [], [0] * count
    for c in slots:
        units.append(("statement", int(c), done[c]))
        done[c] += 1
    units += [("answer", int(c), 0) for c in rng.permutation(count)]
    encode = lambda text: bpe.encode(text, add_bos=False)  # noqa: E731
    pieces = []
    for kind, c, step in units:
        if kind == "statement":
            rhs = values[c] if step == 0 else chains[c][step - 1]
            pieces.append([encode(" VAR"), encode(" " + chains[c][step]), encode(" ="), encode(" " + rhs), encode(".")])
        else:
            value = values[c]
            parts = [encode(f"\nWhich variables hold the value {value}? The variables that hold the value {value} are")]
            for i, name in enumerate(chains[c]):
                parts += ([encode(",")] if i else []) + [encode(" " + name)]
            pieces.append(parts + [encode(".")])
    text_total = body - sum(len(t) for parts in pieces for t in parts)
    seq = Pieces(bpe.bos_id)
    name_at: dict[str, int] = {}  # a name's first token in its statement
    end_at: dict[str, int] = {}  # the "." ending its statement
    for chunk, unit, parts in zip(Pieces.between(rng, stream, text_total, len(units)), units + [None], pieces + [None]):
        seq.text(chunk)
        if unit is None:
            break
        kind, c, step = unit
        tokens = torch.tensor([t for part in parts for t in part])
        n = len(tokens)
        src, copy = no_sources(n), torch.zeros(n)
        # Random names and digits are in neither loss where they are new; the template is text.
        lm = torch.tensor([t not in digits for t in tokens.tolist()]).float()
        if kind == "statement":
            name, first = chains[c][step], seq.pos + len(parts[0])
            lm[len(parts[0]):len(parts[0]) + len(parts[1])] = 0
            lm[len(parts[0]) + len(parts[1]) + 1:n - 1] = 0
            src[STATEMENT, n - 1] = first
            if len(parts[1]) > 1:  # a name of one token has no second (none of 2,000 random names is one)
                src[STATEMENT_SECOND, n - 1] = first + 1
            end_at[name] = seq.add(tokens, lm, copy, src) + n - 1
            name_at[name] = first
            continue
        offset = len(parts[0])
        for i, name in enumerate(chains[c]):
            offset += 1 if i else 0  # the comma
            run = len(encode(" " + name))
            copy[offset:offset + run] = 1
            src[COPY, offset + 1:offset + run] = torch.arange(name_at[name] + 1, name_at[name] + run)
            src[CHAIN, offset] = end_at[name]
            if run > 1:
                src[CHAIN_SECOND, offset + 1] = end_at[name]
            offset += run
        seq.add(tokens, lm * (1 - copy), copy, src)
    return seq.build()


def generate_tasks(task: str, length: int, count: int, seed: int, split: str = "train") -> list[dict]:
    """Samples from lukv's generators (`deno task tasks`), prompts at most `length` tokens."""
    cmd = ["deno", "task", "-q", "tasks", "--task", task, "--length", str(length), "--count", str(count),
           "--seed", str(seed), "--split", split, "--model", "models/tiny"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def encode_sample(bpe: ByteBpe, sample: dict) -> tuple[torch.Tensor, int]:
    """ids of prompt + target + EOS, and the prompt's length (the first target token's index). The
    prompt ends in a word and the target starts with a space, so the two encode independently."""
    prompt = sample["context"] + sample["question"] + sample["answerPrefix"]
    prompt_ids = bpe.encode(prompt)
    assert len(prompt_ids) == sample["tokens"], "the Python encoder disagrees with lukv's tokenizer"
    return torch.tensor(prompt_ids + bpe.encode(sample["target"], add_bos=False) + [bpe.eos_id]), len(prompt_ids)


def find_run(haystack: list[int], run: list[int], start: int = 0, followed_by: int | None = None) -> int:
    """Index of the first occurrence of `run` at or after `start` (optionally followed by a given token)."""
    for i in range(start, len(haystack) - len(run) + 1):
        if haystack[i:i + len(run)] == run and (followed_by is None or haystack[i + len(run)] == followed_by):
            return i
    raise ValueError("run not found")


def assignments(bpe: ByteBpe, prompt: list[int]) -> dict[int, int]:
    """The "VAR {name} = {value}." statements of a prompt: position of the name's first token ->
    position of the "." that ends the statement."""
    var_ids = {bpe.vocab["VAR"], bpe.vocab["ĠVAR"]}
    equals = bpe.vocab["Ġ="]
    found = {}
    for i, token in enumerate(prompt[:-1]):
        if token in var_ids:
            eq = next(j for j in range(i + 2, len(prompt)) if prompt[j] == equals)
            end = next(j for j in range(eq + 1, len(prompt)) if bpe.id_to_token[prompt[j]].startswith("."))
            found[i + 1] = end
    return found


def answer_sources(bpe: ByteBpe, ids: torch.Tensor, prompt_len: int, sample: dict) -> torch.Tensor:
    """src [SOURCE_ROWS, T] of a task sample (see the module doc). Numeric answers: each digit comes from
    that digit in the number's needle. Variable names: the name's other tokens come from its
    assignment; its first token is found through the assignment's "." (CHAIN), which the query
    can match by what both have just before them: the value's last digits (" ... value 878085
    are" / "VAR XUP = 878085.") or the previous name (" XUP," / "VAR OOL = XUP."); its second
    token the same way (CHAIN_SECOND), and by a copy too. Common and frequent words have no single
    source."""
    src = no_sources(len(ids))
    numeric = all(a.isdigit() for a in sample["answers"])
    names = all(a.isalpha() and a.isupper() for a in sample["answers"])
    if not (numeric or names):
        return src
    seq, prompt = ids.tolist(), ids[:prompt_len].tolist()
    equals = bpe.vocab["Ġ="]
    statements = assignments(bpe, prompt) if names else {}
    for name_at, end in statements.items():
        src[STATEMENT, end] = name_at
        if prompt[name_at + 1] != equals:  # the name has a second token
            src[STATEMENT_SECOND, end] = name_at + 1
    at_target = prompt_len
    for answer in sample["answers"]:
        run = bpe.encode(" " + answer, add_bos=False)
        if numeric:
            run = run[1:]  # " 482913" is "Ġ" then the digits; the space is a template token
        at_target = find_run(seq, run, at_target)
        at_prompt = find_run(prompt, run, 0, equals if names else None)
        src[COPY, at_target:at_target + len(run)] = torch.arange(at_prompt, at_prompt + len(run))
        if names:
            # What identifies a name's assignment, its value, comes after the name, so its first
            # token is no plain copy: COPY leaves it out, CHAIN points at the assignment's ".".
            src[COPY, at_target] = -1
            src[CHAIN, at_target] = statements[at_prompt]
            if len(run) > 1:
                src[CHAIN_SECOND, at_target + 1] = statements[at_prompt]
        at_target += len(run)
    return src


def task_pool(bpe: ByteBpe, cache_dir: Path, task: str, length: int, count: int, seed: int,
              split: str = "train") -> list[tuple[torch.Tensor, int, dict]]:
    """`count` encoded samples of prompts up to `length - TARGET_ROOM` tokens, generated once and
    cached on disk: [(ids, prompt_len, sample)]."""
    path = cache_dir / f"tasks5_{split}_{task}_{length}_{count}_{seed}.pt"  # 5: the *_SECOND rows
    if path.exists():
        return torch.load(path)
    samples = generate_tasks(task, length - TARGET_ROOM, count, seed, split)
    pool = []
    for s in samples:
        ids, prompt_len = encode_sample(bpe, s)
        pool.append((ids, prompt_len, {"answers": s["answers"], "src": answer_sources(bpe, ids, prompt_len, s)}))
    cache_dir.mkdir(parents=True, exist_ok=True)
    torch.save(pool, path)
    return pool


def task_sequence(pool, index: int):
    """A task sample as a training sequence: next-token loss on the prompt (mostly natural
    filler), copy loss on the target and EOS."""
    ids, prompt_len, info = pool[index]
    lm, copy = torch.ones(len(ids)), torch.zeros(len(ids))
    lm[0] = 0
    lm[prompt_len:] = 0
    copy[prompt_len:] = 1
    return ids, lm, copy, info["src"]


def collate(sequences, pad: int):
    """Right-pads to the longest sequence (padding is in neither mask) -> ids, lm, copy [B, T],
    src [B, SOURCE_ROWS, T]."""
    t = max(len(s[0]) for s in sequences)
    ids = torch.full((len(sequences), t), pad, dtype=torch.long)
    lm, copy = torch.zeros(len(sequences), t), torch.zeros(len(sequences), t)
    src = torch.full((len(sequences), SOURCE_ROWS, t), -1, dtype=torch.long)
    for b, (i, l, c, s) in enumerate(sequences):
        ids[b, :len(i)] = i
        lm[b, :len(l)] = l
        copy[b, :len(c)] = c
        src[b, :, :s.shape[1]] = s
    return ids, lm, copy, src
