#!/usr/bin/python3
"""Measures an exported model folder (default models/tiny) in PyTorch, from its files alone.

  evaluate.py logits OUT_DIR [--model DIR]     reference logits for tools/train/check_model.ts
  evaluate.py tasks [--length N] [--count C]   greedy task accuracy on fresh eval-split samples
  evaluate.py heads [--length N] [--count C]   per-(layer, head) retrieval scores
  evaluate.py names [--length N] [--count C]   variable tracking's names, token by token
  evaluate.py carried [--count C]              is a statement's name readable at its "." (linear probes)
  evaluate.py misses RESULTS                   where lukv's greedy variable-tracking answers go wrong
  evaluate.py perplexity                       held-out perplexity of eval.txt
  evaluate.py randomize DIR                    a copy of the model with every weight perturbed

All run on the weights as stored (f32, or bf16 upcast), so they describe the shipped file.
"""

import argparse
import json
import math
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import (STATEMENT, STATEMENT_SECOND, TARGET_ROOM, TASKS, assignments, chain_sequence,  # noqa: E402
                  encode_sample, find_run, generate_tasks, natural_text)
from model import TinyConfig, TinyLlama, read_safetensors, write_safetensors  # noqa: E402
from tokenizer import TEXT_DIR, ByteBpe  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EVAL_SEED = 0


def load(model_dir: Path) -> TinyLlama:
    config = json.loads((model_dir / "config.json").read_text())
    fields = {k: config[k] for k in TinyConfig.__dataclass_fields__}
    model = TinyLlama(TinyConfig(**fields))
    model.load_state_dict(read_safetensors(model_dir / "model.safetensors"))
    return model.eval()


def reference_logits(model: TinyLlama, bpe: ByteBpe, out_dir: Path) -> None:
    """Logits of a short text, a needle prompt, and a window of eval.txt filling the context (so
    RoPE at every position is compared), as .npy files plus cases.json with their ids."""
    lines = (TEXT_DIR / "eval.txt").read_text(encoding="utf-8").splitlines()
    long_ids = bpe.encode("\n".join(lines))[: model.cfg.max_position_embeddings]
    texts = ["Hello world", "The special magic number for pebble is 402917.\nWhat is the special magic "
             "number for pebble? The special magic number for pebble is"]
    cases = [{"ids": bpe.encode(t)} for t in texts] + [{"ids": long_ids}]
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for i, case in enumerate(cases):
            logits = model(torch.tensor([case["ids"]]))[0].numpy().astype("<f4")
            case["logits"] = f"logits_{i}.npy"
            np.save(out_dir / case["logits"], logits)
    (out_dir / "cases.json").write_text(json.dumps(cases))


def greedy_accuracy(model: TinyLlama, bpe: ByteBpe, task: str, length: int, count: int, log=None) -> float:
    """Share of eval-split samples whose greedy continuation contains every answer (the harness's
    rule). Prompts use the whole `length` but the room a full answer needs."""
    samples = generate_tasks(task, length - TARGET_ROOM, count, EVAL_SEED, split="eval")
    correct = 0
    for s in samples:
        ids, prompt_len = encode_sample(bpe, s)
        new = model.greedy(ids[:prompt_len].tolist(), len(ids) - prompt_len + 4, bpe.eos_id)
        text = bpe.decode([i for i in new if i != bpe.eos_id])
        ok = all(a in text for a in s["answers"])
        correct += ok
        if log is not None and not ok:
            log.append({"task": task, "want": s["target"], "got": text})
    return correct / len(samples)


@torch.no_grad()
def head_retrieval_scores(model: TinyLlama, bpe: ByteBpe, length: int, count: int) -> np.ndarray:
    """[layers, heads]: for needle samples, the share of attention that the positions predicting the
    answer's digits pay to the needle sentence's value tokens in the context (teacher forced)."""
    samples = generate_tasks("needle", length - TARGET_ROOM, count, EVAL_SEED + 1, split="eval")
    cfg = model.cfg
    scores = np.zeros((cfg.num_hidden_layers, cfg.num_attention_heads))
    for s in samples:
        ids, prompt_len = encode_sample(bpe, s)
        value = bpe.encode(" " + s["answers"][0], add_bos=False)
        # The needle's value tokens: the first occurrence of the value's token run in the prompt.
        prompt = ids[:prompt_len].tolist()
        start = next(i for i in range(prompt_len) if prompt[i:i + len(value)] == value)
        needle = list(range(start, start + len(value)))
        # Positions whose next token is a digit of the answer: prompt_len - 1 ... (target " ddddd d").
        queries = list(range(prompt_len - 1, prompt_len - 1 + len(value)))
        _, maps = model.trace(ids[None, :prompt_len + len(value) - 1])
        for layer, probs in enumerate(maps):
            scores[layer] += probs[0][:, queries][:, :, needle].sum(-1).mean(-1).numpy()
    return scores / len(samples)


@torch.no_grad()
def name_tokens(model: TinyLlama, bpe: ByteBpe, length: int, count: int) -> dict:
    """Teacher-forced variable tracking, per answer name (hop 0 to 4): is its first token the argmax, and
    its second? The second is counted apart for names whose first token another assigned name in the
    context shares ("shared": a copy matched by the first token alone has two places to go) and the others
    ("unique"). -> {"first": [hits per hop], "second unique": [...], "second shared": [...], "... n": [...]}"""
    samples = generate_tasks("variable-tracking", length - TARGET_ROOM, count, EVAL_SEED, split="eval")
    hops = len(samples[0]["answers"])
    result = {k: [0] * hops for k in ("first", "second unique", "second shared", "second unique n",
                                      "second shared n")}
    for s in samples:
        ids, prompt_len = encode_sample(bpe, s)
        seq, prompt = ids.tolist(), ids[:prompt_len].tolist()
        first_tokens = [prompt[at] for at in assignments(bpe, prompt)]
        pred = model(ids[None, :-1])[0].argmax(-1).tolist()  # pred[i - 1] is the guess for seq[i]
        at = prompt_len
        for hop, name in enumerate(s["answers"]):
            run = bpe.encode(" " + name, add_bos=False)
            at = find_run(seq, run, at)
            result["first"][hop] += pred[at - 1] == run[0]
            kind = "shared" if first_tokens.count(run[0]) > 1 else "unique"
            result[f"second {kind}"][hop] += pred[at] == run[1]
            result[f"second {kind} n"][hop] += 1
            at += len(run)
    result["samples"] = len(samples)
    return result


def carried_tokens(model: TinyLlama, bpe: ByteBpe, count: int, length: int = 512) -> dict:
    """How well a linear probe reads a statement's name (its first and its second token) from the residual
    stream at the statement's "." (normalised), at the input of each layer after the first: the name must be
    there for a head to fetch it by the statement's right-hand side. `count` chain sequences of `length`
    tokens (data.py's chain_sequence, seeds of their own), a probe per layer and token trained on 70% of the
    statements, scored on the rest. -> {"layer L first": accuracy, "layer L second": accuracy, ...}"""
    stream = natural_text(bpe, Path(__file__).resolve().parent / "runs" / "cache")
    digits = {bpe.vocab[c] for c in "0123456789"}
    layers = range(1, model.cfg.num_hidden_layers)
    streams, first, second = {layer: [] for layer in layers}, [], []
    with torch.no_grad():
        for k in range(count):
            ids, _, _, src = chain_sequence(np.random.default_rng([99, k]), stream, bpe, length, digits)
            ends = (src[STATEMENT_SECOND] >= 0).nonzero()[:, 0]
            at_input, _ = model.trace(ids[None])
            for layer in layers:
                streams[layer].append(at_input[layer][0, ends])
            first.append(ids[src[STATEMENT, ends]])
            second.append(ids[src[STATEMENT_SECOND, ends]])
    result = {}
    for layer in layers:
        x = torch.cat(streams[layer])
        x = x / x.norm(dim=-1, keepdim=True)
        train = torch.arange(len(x)) < int(0.7 * len(x))
        for name, labels in (("first", torch.cat(first)), ("second", torch.cat(second))):
            classes, y = torch.unique(labels, return_inverse=True)
            w = torch.zeros(x.shape[1], len(classes), requires_grad=True)
            opt = torch.optim.Adam([w], lr=0.05)
            for _ in range(300):
                opt.zero_grad()
                (F.cross_entropy(x[train] @ w * 10, y[train]) + 1e-4 * w.pow(2).sum()).backward()
                opt.step()
            result[f"layer {layer} {name}"] = round(float(((x[~train] @ w).argmax(-1) == y[~train]).float().mean()), 3)
    result["held-out statements"] = int((~train).sum())
    return result


def variable_misses(results: Path) -> dict:
    """The harness's variable-tracking answers (`deno task eval --out RESULTS`, full cache), each answer's
    first wrong name by which letter first differs from the right one, and whether another name in the
    context starts with the letters before it ("shared": the copy had two places to go).
    "in order": every name right, in the answer's order (the harness also accepts other orders).
    -> {"answers": n, "in order": k, "letter 1": m, "letter 2, prefix shared": m2, ..., "fewer names": j}"""
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    rows = [r for r in rows if r["task"] == "variable-tracking" and r["press"] == "full"]
    samples = {}
    for length, seed in {(r["length"], r["seed"]) for r in rows}:
        count = 1 + max(r["sample"] for r in rows if (r["length"], r["seed"]) == (length, seed))
        for i, s in enumerate(generate_tasks("variable-tracking", length, count, seed, split="eval")):
            samples[(length, seed, i)] = s
    result = {"answers": len(rows), "in order": 0}
    for r in rows:
        s = samples[(r["length"], r["seed"], r["sample"])]
        names = re.findall(r"VAR (\w+) = ", s["context"])
        got = re.findall(r"\b[A-Z]{3}\b", r["output"])
        wrong = next((hop for hop, name in enumerate(s["answers"]) if hop >= len(got) or got[hop] != name), None)
        if wrong is None:
            kind = "in order"
        elif wrong >= len(got):
            kind = "fewer names"
        else:
            want = s["answers"][wrong]
            k = next(k for k in range(len(want)) if got[wrong][k] != want[k])
            shared = any(n != want and n[:k] == want[:k] for n in names)
            kind = f"letter {k + 1}" + ("" if k == 0 else ", prefix shared" if shared else ", prefix unique")
        result[kind] = result.get(kind, 0) + 1
    return result


@torch.no_grad()
def perplexity(model: TinyLlama, bpe: ByteBpe, length: int) -> float:
    lines = (TEXT_DIR / "eval.txt").read_text(encoding="utf-8").splitlines()
    stream = [i for line in lines for i in bpe.encode(line + "\n", add_bos=False)]
    total, count = 0.0, 0
    for start in range(0, len(stream), length - 1):
        ids = torch.tensor([[bpe.bos_id] + stream[start:start + length - 1]])
        if ids.shape[1] < 2:
            continue
        total += float(F.cross_entropy(model(ids[:, :-1])[0], ids[0, 1:], reduction="sum"))
        count += ids.shape[1] - 1
    return math.exp(total / count)


def randomize(model_dir: Path, out_dir: Path) -> None:
    """A copy whose norm gains are far from 1 and whose matrices are larger, so a logits
    comparison exercises every weight (an untrained model has all gains at 1)."""
    shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
    gen = torch.Generator().manual_seed(5)
    weights = read_safetensors(model_dir / "model.safetensors")
    for name, w in weights.items():
        if name.endswith("norm.weight"):
            weights[name] = 0.5 + torch.rand(w.shape, generator=gen)
        else:
            weights[name] = torch.randn(w.shape, generator=gen) / math.sqrt(w.shape[1])
    config = json.loads((model_dir / "config.json").read_text())
    write_safetensors(out_dir / "model.safetensors", weights,
                      {"float32": torch.float32, "bfloat16": torch.bfloat16}[config["torch_dtype"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["logits", "tasks", "heads", "names", "carried", "misses", "perplexity",
                                            "randomize"])
    parser.add_argument("out", nargs="?")
    parser.add_argument("--model", default=str(ROOT / "models" / "tiny"))
    parser.add_argument("--length", type=int, default=None, help="default: max_position_embeddings")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_dir = Path(args.model)
    if args.command == "randomize":
        randomize(model_dir, Path(args.out))
        return
    if args.command == "misses":
        print(json.dumps(variable_misses(Path(args.out))))
        return
    model, bpe = load(model_dir), ByteBpe.load(model_dir)
    length = args.length or model.cfg.max_position_embeddings
    if args.command == "logits":
        reference_logits(model, bpe, Path(args.out))
    elif args.command == "tasks":
        results, failures = {}, []
        for task in args.tasks.split(","):
            t0 = time.time()
            results[task] = greedy_accuracy(model, bpe, task, length, args.count, failures)
            print(f"{task} @ {length}: {results[task]:.2f} ({args.count} samples, {time.time() - t0:.0f}s)",
                  flush=True)
        for f in failures[:20]:
            print(f"  miss {f['task']}: want {f['want']!r} got {f['got']!r}")
        print(json.dumps(results))
    elif args.command == "heads":
        scores = head_retrieval_scores(model, bpe, length, args.count)
        for layer, row in enumerate(scores):
            print(f"layer {layer}: " + " ".join(f"{v:.3f}" for v in row))
        print(json.dumps(scores.round(4).tolist()))
    elif args.command == "names":
        result = name_tokens(model, bpe, length, args.count)
        def shares(hits: list[int], n: list[int]) -> str:
            return " ".join(f"{h / max(m, 1):.2f}" for h, m in zip(hits, n)) + f" ({sum(hits)} of {sum(n)})"
        every = [result["samples"]] * len(result["first"])
        print(f"first token right, by hop:               {shares(result['first'], every)}")
        for kind in ("unique", "shared"):
            hits, n = result[f"second {kind}"], result[f"second {kind} n"]
            print(f"second token right, first token {kind:>6}: {shares(hits, n)}")
        print(json.dumps(result))
    elif args.command == "carried":
        print(json.dumps(carried_tokens(model, bpe, args.count)))
    elif args.command == "perplexity":
        print(f"held-out perplexity (eval.txt, {length}-token windows): {perplexity(model, bpe, length):.3f}")


if __name__ == "__main__":
    main()
