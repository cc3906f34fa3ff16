#!/usr/bin/env python3
"""Compares lukv's logits with Hugging Face transformers' on random tiny models.

Builds random tiny Llama (llama3 RoPE scaling, GQA, f32), Mistral (MQA, bf16), Qwen2 (q/k/v
bias, tied embeddings, f16) and Qwen3 (q/k norm, head_dim != hidden / heads, bf16) models
with transformers, saves each with `save_pretrained` (safetensors) into a temporary folder,
computes transformers' logits in float64 from the saved (rounded) weights, and runs
tools/reference/lukv_logits.ts on the folders, on the CPU and on CUDA. A model passes on a
device when lukv's logits lie within 1e-4 of transformers' (max abs difference over the
largest reference magnitude) and every position's argmax agrees (a near-tie within the
tolerance may go either way).

    python3 tools/reference/hf_compare.py --deno deno --devices cpu,cuda --out /tmp/hf

`--fixtures` needs no transformers: it compares lukv with the committed float64 reference
logits of tests/fixtures/models/ instead, which checks this script's plumbing anywhere.
Prints a table last; writes hf_compare.json and the Deno command's stderr to --out.
Exit status: 0 all passed, 1 a comparison failed, 2 transformers is missing.
"""

import argparse
import inspect
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4
SEQUENCE = 24


def rope_kwargs(config_class, theta: float, scaling: dict | None) -> dict:
    """RoPE settings in the form this transformers takes: `rope_parameters` (v5) or `rope_theta` + `rope_scaling`."""
    if "rope_parameters" in inspect.signature(config_class.__init__).parameters:
        return {"rope_parameters": {"rope_type": "default", "rope_theta": theta, **(scaling or {})}}
    return {"rope_theta": theta, **({"rope_scaling": scaling} if scaling else {})}


def specs(transformers) -> list[dict]:
    """The four tiny models: (name, config class, model class, config kwargs, saved dtype)."""
    common = dict(
        vocab_size=320,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        attn_implementation="eager",
    )
    llama3 = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    t = transformers
    return [
        dict(name="llama", config=t.LlamaConfig, model=t.LlamaForCausalLM, dtype="float32",
             kwargs=dict(common, num_key_value_heads=2, tie_word_embeddings=False,
                         **rope_kwargs(t.LlamaConfig, 500000.0, llama3))),
        dict(name="mistral", config=t.MistralConfig, model=t.MistralForCausalLM, dtype="bfloat16",
             kwargs=dict(common, num_key_value_heads=1, tie_word_embeddings=False,
                         **rope_kwargs(t.MistralConfig, 1000000.0, None))),
        dict(name="qwen2", config=t.Qwen2Config, model=t.Qwen2ForCausalLM, dtype="float16",
             kwargs=dict(common, num_key_value_heads=2, tie_word_embeddings=True, use_sliding_window=False,
                         **rope_kwargs(t.Qwen2Config, 1000000.0, None))),
        dict(name="qwen3", config=t.Qwen3Config, model=t.Qwen3ForCausalLM, dtype="bfloat16",
             kwargs=dict(common, num_key_value_heads=2, head_dim=48, tie_word_embeddings=False,
                         **rope_kwargs(t.Qwen3Config, 1000000.0, None))),
    ]


def build(spec: dict, folder: Path, ids: list[int], torch) -> np.ndarray:
    """Saves a random model of `spec` into `folder`; returns transformers' float64 logits [len(ids), vocab]."""
    torch.manual_seed(sum(map(ord, spec["name"])))
    model = spec["model"](spec["config"](**spec["kwargs"])).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and "norm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p.shape[1]))
    model = model.to(getattr(torch, spec["dtype"]))
    model.save_pretrained(folder)
    # The reference is a fresh float64 model given the saved (rounded) weights: `model.to(dtype)`
    # also rounds the non-persistent RoPE `inv_freq` buffer, and upcasting it afterwards keeps
    # that rounding (bf16 frequencies put the reference 1e-3 off; seen on the first GPU check).
    reference = spec["model"](spec["config"](**spec["kwargs"])).to(torch.float64).eval()
    reference.load_state_dict({k: v.to(torch.float64) for k, v in model.state_dict().items()})
    with torch.no_grad():
        return reference(input_ids=torch.tensor([ids])).logits[0].numpy()


def fixture_cases() -> list[tuple[str, Path, list[int], np.ndarray]]:
    """The committed fixtures: their longest sequence and its float64 reference logits."""
    cases = []
    for folder in sorted((ROOT / "tests" / "fixtures" / "models").iterdir()):
        expected = json.loads((folder / "expected.json").read_text())
        sequence = max(expected["sequences"], key=lambda s: len(s["ids"]))
        start, end = sequence["logits_rows"]
        logits = np.load(folder / expected["logits_file"])[start:end].astype(np.float64)
        cases.append((folder.name, folder, sequence["ids"], logits))
    return cases


def lukv_logits(deno: str, deno_flags: list[str], devices: str, ids: list[int], folders: list[Path], log) -> dict:
    """lukv's logits per (folder, device) from one run of lukv_logits.ts."""
    command = [deno, "run", "-A", *deno_flags, str(ROOT / "tools" / "reference" / "lukv_logits.ts"),
               "--devices", devices, "--ids", ",".join(map(str, ids)), *map(str, folders)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    log.write(f"$ {' '.join(command)}\n{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"lukv_logits.ts exited {done.returncode}: {done.stderr[-2000:]}")
    return {(r["dir"], r["device"]): r for r in json.loads(done.stdout)["results"]}


def compare(got: np.ndarray, want: np.ndarray) -> tuple[float, int]:
    """Max abs difference over the largest |want|, and positions whose argmax differs beyond a near-tie."""
    scale = max(float(np.abs(want).max()), 1e-30)
    error = float(np.abs(got - want).max()) / scale
    bad = 0
    for row_got, row_want in zip(got, want):
        pick = int(np.argmax(row_got))
        if row_want[pick] < row_want.max() - TOLERANCE * scale:
            bad += 1
    return error, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deno", default="deno")
    parser.add_argument("--deno-flags", default="", help="extra flags for deno run, written with =: --deno-flags=\"--cached-only --no-check\"")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--out", default="hf-compare-out")
    parser.add_argument("--fixtures", action="store_true", help="compare with the committed fixtures instead")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    with tempfile.TemporaryDirectory(prefix="lukv_hf_") as temp, open(out / "hf_compare.log", "w") as log:
        if args.fixtures:
            cases = [(name, folder, ids, logits, "as committed") for name, folder, ids, logits in fixture_cases()]
            source = "committed float64 fixtures"
        else:
            try:
                import torch
                import transformers
            except ImportError as error:
                print(f"hf_compare: transformers is not importable ({error}); nothing compared")
                return 2
            source = f"transformers {transformers.__version__}, torch {torch.__version__}, float64"
            rng = np.random.default_rng(7)
            cases = []
            for spec in specs(transformers):
                ids = [int(i) for i in rng.integers(0, spec["kwargs"]["vocab_size"], SEQUENCE)]
                folder = Path(temp) / spec["name"]
                try:
                    cases.append((spec["name"], folder, ids, build(spec, folder, ids, torch), spec["dtype"]))
                    log.write(f"{spec['name']}: {(folder / 'config.json').read_text()}\n")
                except Exception as error:  # one model's failure is reported, the others still run
                    log.write(f"{spec['name']}: building with transformers failed: {error!r}\n")
                    cases.append((spec["name"], folder, ids, f"transformers failed: {error!r}", spec["dtype"]))
        rows, failed = [], False
        for name, folder, ids, want, dtype in cases:
            if isinstance(want, str):
                rows.append(dict(model=name, dtype=dtype, device="-", error=None, argmax_bad=None,
                                 result="ERROR", detail=want[:160]))
                failed = True
                continue
            results = lukv_logits(args.deno, args.deno_flags.split(), args.devices, ids, [folder], log)
            for device in args.devices.split(","):
                r = results[(str(folder), device)]
                if r["error"]:
                    rows.append(dict(model=name, dtype=dtype, device=device, error=None, argmax_bad=None,
                                     result="ERROR", detail=r["error"].splitlines()[0][:160]))
                    failed = True
                    continue
                error, bad = compare(np.array(r["logits"], dtype=np.float64), want)
                ok = error <= TOLERANCE and bad == 0
                failed |= not ok
                rows.append(dict(model=name, dtype=dtype, device=device, error=error, argmax_bad=bad,
                                 result="pass" if ok else "FAIL", detail=r["deviceName"]))
        (out / "hf_compare.json").write_text(json.dumps(dict(source=source, tolerance=TOLERANCE, rows=rows), indent=2))

    print(f"\nlukv vs {source} ({SEQUENCE if not args.fixtures else 'fixture'} tokens, "
          f"tolerance {TOLERANCE}, {time.time() - started:.0f} s)\n")
    print("| model | weights | device | max rel. error | argmax mismatches | result |")
    print("|---|---|---|---:|---:|---|")
    for r in rows:
        error = "-" if r["error"] is None else f"{r['error']:.2e}"
        bad = "-" if r["argmax_bad"] is None else str(r["argmax_bad"])
        extra = f" ({r['detail']})" if r["result"] == "ERROR" else ""
        print(f"| {r['model']} | {r['dtype']} | {r['device']} | {error} | {bad} | {r['result']}{extra} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
