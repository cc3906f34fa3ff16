#!/usr/bin/python3
"""Builds the tiny Hugging Face checkpoints under tests/fixtures/models/ and their reference outputs.

This is an independent float64 PyTorch implementation of the forward pass of
LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM, written
from the Hugging Face semantics (it does not use `transformers`). It also holds a small
byte-level BPE tokenizer (GPT-2 pre-tokenization, merges trained here on a fixed text)
so that the fixture token ids come from real text.

Run from anywhere: /usr/bin/python3 tools/reference/make_fixtures.py
The output is byte-for-byte deterministic. See tools/reference/README.md for formats.
"""

import io
import json
import math
import shutil
import struct
import unicodedata
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "tests" / "fixtures" / "models"
# deno fmt checks every JSON file in the repo; writing in its layout keeps the check green.
JSON_LINE_WIDTH = 110

# ---------------------------------------------------------------------------------------
# Tokenizer: byte-level BPE in the GPT-2 / Llama-3 style.
# ---------------------------------------------------------------------------------------

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
MERGE_COUNT = 29  # 256 bytes + 29 merges + 3 specials = 288 tokens

# Merges are learned from this text only; any text still round-trips through the byte tokens.
MERGE_CORPUS = (
    "The quick brown fox jumps over the lazy dog. Once upon a time there was a small model "
    "that read the text one token at a time. It kept the keys and the values of every token "
    "in a cache, and the cache grew with the text. The model then had to choose which tokens "
    "to keep and which tokens to drop, so that the answer stayed the same while the memory "
    "stayed small. Hello world, hello there: the theory of the thing is that the other "
    "tokens matter less than the ones that the model attends to."
)

# The fixed inputs: three sequences of about 5, 17 and 40 tokens (with BOS), and a prompt.
SEQUENCE_TEXTS = [
    "Hi there",
    "The model can't keep all.",
    "Grüße aus Köln!  日本 and 42 €.\n\tEnd.",
]
# Extra encode cases for the tokenizer alone: accents, CJK, emoji, whitespace runs, contractions.
TOKENIZER_TEXTS = [
    "  two  spaces\n\nand 🙂 émoji",
    "can't we'll they're",
    "tabs\tand\r\nCRLF, digits 1234567890 and € ≠ ∑",
]
GENERATION_PROMPT = "Once upon a time"
GENERATION_NEW_TOKENS = 8

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ message['role'] + ': ' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
)
CHAT_MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there!"},
]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table, so byte tokens are valid JSON strings."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


BYTE_CHARS = bytes_to_unicode()
CHAR_BYTES = {c: b for b, c in BYTE_CHARS.items()}

# JavaScript's \s (the JS tokenizer runs the GPT-2 regex with the u flag).
JS_SPACE = set("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {
    chr(c) for c in range(0x2000, 0x200B)
}


def char_class(c: str) -> str:
    if c in JS_SPACE:
        return "space"
    category = unicodedata.category(c)
    if category.startswith("L"):
        return "letter"
    if category.startswith("N"):
        return "number"
    return "other"


def pretokenize(text: str) -> list[str]:
    """The GPT-2 split regex, scanned by hand because Python's `re` has no \\p{L}:
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"""
    pieces = []
    i = 0
    n = len(text)

    def run_end(start: int, kind: str) -> int:
        end = start
        while end < n and char_class(text[end]) == kind:
            end += 1
        return end

    while i < n:
        contraction = next(
            (c for c in ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d") if text.startswith(c, i)), None
        )
        if contraction:
            end = i + len(contraction)
        else:
            end = None
            # Alternatives " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" in regex order.
            for kind in ("letter", "number", "other"):
                start = i + 1 if text[i] == " " and i + 1 < n and char_class(text[i + 1]) == kind else i
                if char_class(text[start]) == kind:
                    end = run_end(start, kind)
                    break
            if end is None:
                # "\s+(?!\S)" gives back the last space of a run that precedes a word,
                # so that the word can take it as its " ?" prefix; else plain "\s+".
                run = run_end(i, "space")
                end = run - 1 if run < n and run - 1 > i else run
        pieces.append(text[i:end])
        i = end
    return pieces


def to_byte_chars(piece: str) -> str:
    return "".join(BYTE_CHARS[b] for b in piece.encode("utf-8"))


def apply_merges(word: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Repeatedly merges the adjacent pair with the lowest rank (all its occurrences, left to right)."""
    while len(word) > 1:
        pairs = [(ranks.get((a, b), math.inf), (a, b)) for a, b in zip(word, word[1:])]
        rank, best = min(pairs, key=lambda p: p[0])
        if rank == math.inf:
            break
        merged, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                merged.append(word[i] + word[i + 1])
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = merged
    return word


def train_merges(corpus: str, count: int) -> list[tuple[str, str]]:
    """Plain BPE training; ties go to the lexicographically smallest pair so the result is fixed."""
    words: dict[tuple[str, ...], int] = {}
    for piece in pretokenize(corpus):
        key = tuple(to_byte_chars(piece))
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(count):
        pair_counts: dict[tuple[str, str], int] = {}
        for word, freq in words.items():
            for pair in zip(word, word[1:]):
                pair_counts[pair] = pair_counts.get(pair, 0) + freq
        best = min(pair_counts, key=lambda p: (-pair_counts[p], p))
        merges.append(best)
        ranks = {best: 0}
        words = {tuple(apply_merges(list(w), ranks)): f for w, f in words.items()}
    return merges


class ByteBpe:
    """Encoder/decoder with the semantics of the tokenizer.json written below."""

    def __init__(self, merges: list[tuple[str, str]]):
        self.merges = merges
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        tokens = [BYTE_CHARS[b] for b in range(256)] + [a + b for a, b in merges]
        assert len(set(tokens)) == len(tokens), "a merge produced a token twice"
        self.vocab = {tok: i for i, tok in enumerate(tokens)}
        self.special_ids = {tok: len(tokens) + i for i, tok in enumerate(SPECIAL_TOKENS)}
        self.id_to_token = {i: t for t, i in {**self.vocab, **self.special_ids}.items()}
        self.bos_id = self.special_ids["<|begin_of_text|>"]
        self.size = len(self.id_to_token)

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        ids = [self.bos_id] if add_bos else []
        # Special tokens written in the text are matched first, like HF added tokens.
        for section in split_keep(text, SPECIAL_TOKENS):
            if section in self.special_ids:
                ids.append(self.special_ids[section])
                continue
            for piece in pretokenize(section):
                ids += [self.vocab[t] for t in apply_merges(list(to_byte_chars(piece)), self.ranks)]
        return ids

    def decode(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            token = self.id_to_token[i]
            out += token.encode() if token in self.special_ids else bytes(CHAR_BYTES[c] for c in token)
        return out.decode("utf-8", errors="replace")


def split_keep(text: str, separators: list[str]) -> list[str]:
    sections, start, i = [], 0, 0
    while i < len(text):
        hit = next((s for s in separators if text.startswith(s, i)), None)
        if hit:
            sections += [text[start:i], hit]
            i += len(hit)
            start = i
        else:
            i += 1
    sections.append(text[start:])
    return [s for s in sections if s]


def added_token(bpe: ByteBpe, token: str) -> dict:
    return {
        "id": bpe.special_ids[token],
        "content": token,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def tokenizer_json(bpe: ByteBpe) -> dict:
    """tokenizer.json as the Rust `tokenizers` library writes it for a GPT-2 style BPE, with a
    TemplateProcessing post-processor that prepends BOS as Llama 3 does. Any `bpe` with `vocab`,
    `merges`, `bos_id` and `special_ids` (in id order) will do: tools/train writes its own with it."""
    bos = "<|begin_of_text|>"
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added_token(bpe, t) for t in bpe.special_ids],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": bos, "type_id": 1}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {bos: {"id": bos, "ids": [bpe.bos_id], "tokens": [bos]}},
        },
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": bpe.vocab,
            "merges": [f"{a} {b}" for a, b in bpe.merges],
        },
    }


def tokenizer_config(bpe: ByteBpe, with_chat_template: bool) -> dict:
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": {
            str(bpe.special_ids[t]): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t in SPECIAL_TOKENS
        },
        "bos_token": "<|begin_of_text|>",
        # False so that decode(encode(text)) is exact (the JS port defaults it to true).
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|end_of_text|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 128,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    if with_chat_template:
        config["chat_template"] = CHAT_TEMPLATE
    return config


def render_chat(messages: list[dict], add_generation_prompt: bool) -> str:
    """CHAT_TEMPLATE evaluated by hand; the Deno check renders it with @huggingface/jinja."""
    text = SPECIAL_TOKENS[0] + "".join(f"{m['role']}: {m['content']}<|eot_id|>" for m in messages)
    return text + ("assistant: " if add_generation_prompt else "")


# ---------------------------------------------------------------------------------------
# Fixture checkpoints: configs, random weights, safetensors.
# ---------------------------------------------------------------------------------------

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def fixture_specs(vocab_size: int, bos: int, eos: int, eot: int) -> list[dict]:
    """Each fixture: its config.json and the seed of its random weights. The seeds were
    searched so that the greedy-generation checks in build_fixture() hold."""
    common = {
        "attention_dropout": 0.0,
        "bos_token_id": bos,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "max_position_embeddings": 128,
        "num_hidden_layers": 2,
        "use_cache": True,
        "vocab_size": vocab_size,
        "transformers_version": "4.46.0",
    }
    return [
        {
            "name": "llama-llama3rope",
            "seed": 1022,
            "chat_template": True,
            "config": {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                **common,
                "attention_bias": True,
                "eos_token_id": [eos, eot],
                "head_dim": 16,
                "intermediate_size": 96,
                "mlp_bias": False,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "pretraining_tp": 1,
                "rms_norm_eps": 1e-05,
                # With head_dim 16 and theta 5e5 the wavelengths are 6.3, 32, 167, ...: against
                # original 64 / high 4 / low 1 they fall in all three llama3 bands.
                "rope_scaling": {
                    "factor": 8.0,
                    "high_freq_factor": 4.0,
                    "low_freq_factor": 1.0,
                    "original_max_position_embeddings": 64,
                    "rope_type": "llama3",
                },
                "rope_theta": 500000.0,
                "tie_word_embeddings": False,
                "torch_dtype": "float32",
            },
        },
        {
            "name": "llama-linear-tied",
            "seed": 1003,
            "chat_template": False,
            "config": {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                **common,
                "attention_bias": False,
                "eos_token_id": eos,
                "intermediate_size": 96,
                "mlp_bias": False,
                "num_attention_heads": 4,
                "num_key_value_heads": 4,
                "pretraining_tp": 1,
                "rms_norm_eps": 1e-06,
                # Old-style key "type" (Llama-2 era); the llama3 fixture uses "rope_type".
                "rope_scaling": {"factor": 2.0, "type": "linear"},
                "rope_theta": 10000.0,
                "tie_word_embeddings": True,
                "torch_dtype": "float16",
            },
        },
        {
            "name": "mistral-bf16",
            "seed": 1005,
            "chat_template": False,
            "config": {
                "architectures": ["MistralForCausalLM"],
                "model_type": "mistral",
                **common,
                "eos_token_id": eos,
                "intermediate_size": 96,
                "num_attention_heads": 4,
                "num_key_value_heads": 1,
                "rms_norm_eps": 1e-05,
                "rope_theta": 1000000.0,
                "sliding_window": None,
                "tie_word_embeddings": False,
                "torch_dtype": "bfloat16",
            },
        },
        {
            "name": "qwen2-bias",
            "seed": 1011,
            "chat_template": False,
            "config": {
                "architectures": ["Qwen2ForCausalLM"],
                "model_type": "qwen2",
                **common,
                "eos_token_id": eos,
                "intermediate_size": 96,
                "max_window_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "rms_norm_eps": 1e-06,
                "rope_scaling": None,
                "rope_theta": 1000000.0,
                # Unused: use_sliding_window is false (and 128 covers every position anyway).
                "sliding_window": 128,
                "tie_word_embeddings": True,
                "torch_dtype": "float16",
                "use_sliding_window": False,
            },
        },
        {
            "name": "qwen3-qknorm",
            "seed": 1011,
            "chat_template": True,
            "config": {
                "architectures": ["Qwen3ForCausalLM"],
                "model_type": "qwen3",
                **common,
                "attention_bias": False,
                "eos_token_id": eos,
                "head_dim": 24,
                "intermediate_size": 96,
                "max_window_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "rms_norm_eps": 1e-06,
                "rope_scaling": None,
                "rope_theta": 1000000.0,
                "sliding_window": None,
                "tie_word_embeddings": True,
                "torch_dtype": "bfloat16",
                "use_sliding_window": False,
            },
        },
    ]


def arch_of(config: dict) -> dict:
    """What the HF modeling code of each architecture does with the config."""
    name = config["architectures"][0]
    heads = config["num_attention_heads"]
    bias = bool(config.get("attention_bias", False))
    return {
        "head_dim": config.get("head_dim") or config["hidden_size"] // heads,
        "heads": heads,
        "kv_heads": config.get("num_key_value_heads") or heads,
        # LlamaAttention / Qwen3Attention: attention_bias on q, k, v and o. Qwen2: q, k, v
        # always biased, o never. MistralAttention: no bias at all.
        "qkv_bias": {"LlamaForCausalLM": bias, "MistralForCausalLM": False, "Qwen2ForCausalLM": True,
                     "Qwen3ForCausalLM": bias}[name],
        "o_bias": {"LlamaForCausalLM": bias, "MistralForCausalLM": False, "Qwen2ForCausalLM": False,
                   "Qwen3ForCausalLM": bias}[name],
        "mlp_bias": bool(config.get("mlp_bias", False)) and name == "LlamaForCausalLM",
        "qk_norm": name == "Qwen3ForCausalLM",
        "tied": bool(config.get("tie_word_embeddings", False)),
    }


def weight_shapes(config: dict) -> dict[str, list[int]]:
    a = arch_of(config)
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    q_dim, kv_dim = a["heads"] * a["head_dim"], a["kv_heads"] * a["head_dim"]
    shapes = {"model.embed_tokens.weight": [vocab, hidden], "model.norm.weight": [hidden]}
    if not a["tied"]:
        shapes["lm_head.weight"] = [vocab, hidden]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = [hidden]
        shapes[p + "post_attention_layernorm.weight"] = [hidden]
        for proj, out_dim in (("q", q_dim), ("k", kv_dim), ("v", kv_dim)):
            shapes[p + f"self_attn.{proj}_proj.weight"] = [out_dim, hidden]
            if a["qkv_bias"]:
                shapes[p + f"self_attn.{proj}_proj.bias"] = [out_dim]
        shapes[p + "self_attn.o_proj.weight"] = [hidden, q_dim]
        if a["o_bias"]:
            shapes[p + "self_attn.o_proj.bias"] = [hidden]
        if a["qk_norm"]:
            shapes[p + "self_attn.q_norm.weight"] = [a["head_dim"]]
            shapes[p + "self_attn.k_norm.weight"] = [a["head_dim"]]
        for proj, shape in (("gate", [inter, hidden]), ("up", [inter, hidden]), ("down", [hidden, inter])):
            shapes[p + f"mlp.{proj}_proj.weight"] = shape
            if a["mlp_bias"]:
                shapes[p + f"mlp.{proj}_proj.bias"] = shape[:1]
    return shapes


def random_weights(config: dict, seed: int) -> dict[str, torch.Tensor]:
    """Scales chosen so nothing is degenerate: a small embedding (as in trained models, which
    makes rms_norm_eps matter in the first norm), unit-gain projections, norm gains away from 1
    and biases large enough to change the logits well beyond the test tolerance."""
    gen = torch.Generator().manual_seed(seed)
    tied = config.get("tie_word_embeddings", False)
    weights = {}
    for name, shape in weight_shapes(config).items():
        if name.endswith("norm.weight"):
            w = 0.5 + torch.rand(shape, generator=gen, dtype=torch.float64)
        elif name == "model.embed_tokens.weight":
            # Tied models read logits off the embedding, which must then be larger.
            w = torch.randn(shape, generator=gen, dtype=torch.float64) * (0.05 if tied else 0.03)
        elif name.endswith(".bias"):
            w = torch.randn(shape, generator=gen, dtype=torch.float64) * 0.1
        else:
            w = torch.randn(shape, generator=gen, dtype=torch.float64) / math.sqrt(shape[1])
        weights[name] = w.to(TORCH_DTYPES[config["torch_dtype"]])
    return weights


def tensor_bytes(t: torch.Tensor) -> bytes:
    if t.dtype == torch.float32:
        return t.numpy().astype("<f4").tobytes()
    if t.dtype == torch.float16:
        return t.numpy().astype("<f2").tobytes()
    # numpy has no bfloat16: the raw 16 bits are the same as an int16 view.
    return t.view(torch.int16).numpy().astype("<i2").tobytes()


def write_safetensors(path: Path, weights: dict[str, torch.Tensor], dtype_name: str) -> None:
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(weights):
        data = tensor_bytes(weights[name])
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[dtype_name],
            "shape": list(weights[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # like the safetensors library: data starts 8-aligned
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Loads back what was written, upcast to float64, decoding each dtype from its bits
    (not through torch's casts), so the reference runs on exactly the stored values."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header.pop("__metadata__")
    data = raw[8 + length :]
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(data), "data section not fully covered"
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), "tensors overlap or leave gaps"
    out = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        chunk = data[start:end]
        if info["dtype"] == "F32":
            values = np.frombuffer(chunk, "<f4").astype(np.float64)
        elif info["dtype"] == "F16":
            values = np.frombuffer(chunk, "<f2").astype(np.float64)
        elif info["dtype"] == "BF16":
            bits = np.frombuffer(chunk, "<u2").astype(np.uint32) << 16
            values = bits.view(np.float32).astype(np.float64)
        else:
            raise ValueError(f"{name}: unexpected dtype {info['dtype']}")
        assert values.size == math.prod(info["shape"]), f"{name}: shape does not match its byte span"
        out[name] = torch.from_numpy(values.reshape(info["shape"]).copy())
    return out


# ---------------------------------------------------------------------------------------
# The reference forward pass (float64 throughout).
# ---------------------------------------------------------------------------------------


def rope_inv_freq(config: dict, head_dim: int) -> torch.Tensor:
    """HF `_compute_default_rope_parameters` plus the linear and llama3 variants."""
    theta = config.get("rope_theta", 10000.0)
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    scaling = config.get("rope_scaling")
    if not scaling:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return inv_freq / scaling["factor"]
    if kind == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_context = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        # Long wavelengths are slowed by `factor`, short ones kept, the band between blended.
        scaled = torch.where(wavelen > old_context / low, inv_freq / factor, inv_freq)
        smooth = (old_context / wavelen - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old_context / high) & (wavelen <= old_context / low)
        return torch.where(medium, blended, scaled)
    raise ValueError(f"unsupported rope scaling {kind}")


def rope_tables(inv_freq: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)  # [T, head_dim]: HF repeats the half
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [T, heads, head_dim]. HF's rotate-half convention: dimension i pairs with i + d/2."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[:, None, :] + rotated * sin[:, None, :]


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * weight


def linear(x: torch.Tensor, weights: dict, name: str) -> torch.Tensor:
    y = x @ weights[name + ".weight"].T  # HF Linear weights are [out, in]
    bias = weights.get(name + ".bias")
    return y if bias is None else y + bias


def attention(h, weights, prefix, config, cos, sin, loop=False) -> torch.Tensor:
    """h: [T, hidden] (already normed) -> [T, hidden]; cos/sin: [T, head_dim]."""
    a = arch_of(config)
    length, d = h.shape[0], a["head_dim"]
    q = linear(h, weights, prefix + "q_proj").view(length, a["heads"], d)
    k = linear(h, weights, prefix + "k_proj").view(length, a["kv_heads"], d)
    v = linear(h, weights, prefix + "v_proj").view(length, a["kv_heads"], d)
    if a["qk_norm"]:  # Qwen3: per-head RMSNorm over head_dim, before RoPE
        q = rms_norm(q, weights[prefix + "q_norm.weight"], config["rms_norm_eps"])
        k = rms_norm(k, weights[prefix + "k_norm.weight"], config["rms_norm_eps"])
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    # GQA as HF repeat_kv: query head j reads kv head j // (heads / kv_heads).
    group = a["heads"] // a["kv_heads"]
    kv_of_head = torch.arange(a["heads"]) // group
    k, v = k[:, kv_of_head], v[:, kv_of_head]
    scale = d**-0.5
    if loop:
        # The slow, obviously causal form: position t attends to positions 0..t only.
        rows = []
        for t in range(length):
            probs = torch.softmax(torch.einsum("hd,shd->hs", q[t], k[: t + 1]) * scale, dim=-1)
            rows.append(torch.einsum("hs,shd->hd", probs, v[: t + 1]))
        out = torch.stack(rows)
    else:
        scores = torch.einsum("thd,shd->hts", q, k) * scale
        future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        probs = torch.softmax(scores.masked_fill(future, -math.inf), dim=-1)
        out = torch.einsum("hts,shd->thd", probs, v)
    return linear(out.reshape(length, a["heads"] * d), weights, prefix + "o_proj")


def mlp(h, weights, prefix) -> torch.Tensor:
    """SwiGLU: down(silu(gate(h)) * up(h))."""
    gate = torch.nn.functional.silu(linear(h, weights, prefix + "gate_proj"))
    return linear(gate * linear(h, weights, prefix + "up_proj"), weights, prefix + "down_proj")


def forward(weights: dict, config: dict, ids: list[int], loop=False, dtype=torch.float64) -> torch.Tensor:
    """Logits [T, vocab] for the token ids at positions 0..T-1, in the weights' dtype
    (float64 for the reference; `dtype` is the one of the RoPE tables)."""
    eps = config["rms_norm_eps"]
    a = arch_of(config)
    x = weights["model.embed_tokens.weight"][torch.tensor(ids)]
    cos, sin = (t.to(dtype) for t in rope_tables(rope_inv_freq(config, a["head_dim"]), len(ids)))
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, weights[p + "input_layernorm.weight"], eps)
        x = x + attention(h, weights, p + "self_attn.", config, cos, sin, loop)
        h = rms_norm(x, weights[p + "post_attention_layernorm.weight"], eps)
        x = x + mlp(h, weights, p + "mlp.")
    x = rms_norm(x, weights["model.norm.weight"], eps)
    head = weights["model.embed_tokens.weight"] if a["tied"] else weights["lm_head.weight"]
    return x @ head.T


def greedy(weights: dict, config: dict, prompt: list[int], steps: int) -> tuple[list[int], float]:
    """Greedy continuation by full recompute; also the smallest top-1/top-2 logit gap seen,
    which must stay far above float32 noise for the ids to be a fair test."""
    ids, new, margin = list(prompt), [], math.inf
    for _ in range(steps):
        last = forward(weights, config, ids)[-1]
        top = torch.topk(last, 2).values
        margin = min(margin, float(top[0] - top[1]))
        token = int(torch.argmax(last))
        ids.append(token)
        new.append(token)
    return new, margin


# ---------------------------------------------------------------------------------------
# Self-checks: each can fail, and each guards a way the reference (or fixture) could be wrong.
# ---------------------------------------------------------------------------------------


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def check_tokenizer(bpe: ByteBpe) -> None:
    for text in SEQUENCE_TEXTS + TOKENIZER_TEXTS + [GENERATION_PROMPT]:
        ids = bpe.encode(text)
        assert ids[0] == bpe.bos_id and bpe.decode(ids[1:]) == text, f"round trip failed for {text!r}"
    assert pretokenize("Hello  world\n") == ["Hello", " ", " world", "\n"]
    assert pretokenize("it's 42!") == ["it", "'s", " 42", "!"]


def check_rope(config: dict, head_dim: int) -> None:
    inv_freq = rope_inv_freq(config, head_dim)
    cos, sin = rope_tables(inv_freq, 50)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(50, 1, head_dim, generator=gen, dtype=torch.float64)
    # Rotate-half equals rotating each complex pair (x[i], x[i + d/2]) by angle pos * inv_freq[i].
    half = head_dim // 2
    angles = torch.arange(50, dtype=torch.float64)[:, None, None] * inv_freq
    z = torch.complex(x[..., :half], x[..., half:]) * torch.polar(torch.ones_like(angles), angles)
    assert torch.allclose(apply_rope(x, cos, sin), torch.cat([z.real, z.imag], -1), atol=1e-12)
    # Scores depend only on the distance between positions.
    rq = apply_rope(x[0:1].expand(50, 1, head_dim), cos, sin)[:, 0]
    rk = apply_rope(x[1:2].expand(50, 1, head_dim), cos, sin)[:, 0]
    assert abs(float(rq[30] @ rk[20] - rq[15] @ rk[5])) < 1e-12
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type") == "llama3":
        plain = rope_inv_freq({**config, "rope_scaling": None}, head_dim)
        kept = torch.isclose(inv_freq, plain)
        divided = torch.isclose(inv_freq, plain / scaling["factor"])
        assert kept.any() and divided.any() and (~kept & ~divided).any(), "llama3: a band is not exercised"


def check_model(weights: dict, config: dict, longest: list[int], full: torch.Tensor) -> None:
    """`full` is the reference logits of the token ids `longest`."""
    a = arch_of(config)
    # Causality: a prefix sees exactly what it saw inside the longer sequence.
    for cut in (1, len(longest) // 2):
        assert rel_diff(forward(weights, config, longest[:cut]), full[:cut]) < 1e-12, "not causal"
    assert rel_diff(forward(weights, config, longest, loop=True), full) < 1e-12, "masked != per-position"
    if a["kv_heads"] < a["heads"]:
        # GQA == MHA with each kv head copied to the query heads of its group...
        mha_config = {**config, "num_key_value_heads": a["heads"]}
        grouped = expand_kv_heads(weights, config, interleave=False)
        assert rel_diff(forward(grouped, mha_config, longest), full) < 1e-12, "GQA != duplicated MHA"
        if a["kv_heads"] > 1:
            # ...and the fixture tells it from the interleaved grouping (head j -> kv j % kv_heads).
            interleaved = expand_kv_heads(weights, config, interleave=True)
            diff = rel_diff(forward(interleaved, mha_config, longest), full)
            assert diff > 1e-3, "kv grouping unobservable"
    # A float32 evaluation must land well inside the 1e-4 tolerance, or the fixture is ill-conditioned.
    as_f32 = {k: v.to(torch.float32) for k, v in weights.items()}
    diff = rel_diff(forward(as_f32, config, longest, dtype=torch.float32).to(torch.float64), full)
    assert diff < 1e-5, f"float32 forward is {diff:.2e} away"
    # Every feature of a fixture must move the logits far beyond the 1e-4 test tolerance,
    # otherwise a runtime that ignores it would still pass.
    variants = {
        "rms_norm_eps x10": (weights, {**config, "rms_norm_eps": config["rms_norm_eps"] * 10}),
        "rope_theta x2": (weights, {**config, "rope_theta": config["rope_theta"] * 2}),
    }
    if config.get("rope_scaling"):
        variants["no rope_scaling"] = (weights, {**config, "rope_scaling": None})
    if any(k.endswith(".bias") for k in weights):
        unbiased = {k: v * 0 if k.endswith(".bias") else v for k, v in weights.items()}
        variants["zero biases"] = (unbiased, config)
    if a["qk_norm"]:
        variants["no q/k norm"] = (weights, {**config, "architectures": ["LlamaForCausalLM"]})
    for name, (variant_weights, variant_config) in variants.items():
        diff = rel_diff(forward(variant_weights, variant_config, longest), full)
        assert diff > 1e-3, f"{name} barely changes the logits ({diff:.2e})"


def expand_kv_heads(weights: dict, config: dict, interleave: bool) -> dict:
    """The k/v projections rewritten for one kv head per query head."""
    a = arch_of(config)
    group = a["heads"] // a["kv_heads"]
    out = dict(weights)
    for name, t in weights.items():
        if ".k_proj." in name or ".v_proj." in name:
            per_head = t.reshape(a["kv_heads"], a["head_dim"], -1)
            copies = per_head.repeat(group, 1, 1) if interleave else per_head.repeat_interleave(group, 0)
            out[name] = copies.reshape(a["heads"] * a["head_dim"], *t.shape[1:])
    return out


# ---------------------------------------------------------------------------------------
# Output.
# ---------------------------------------------------------------------------------------


def format_json(value, indent: str = "", prefix_len: int = 0) -> str:
    """JSON in the layout `deno fmt` keeps: objects one key per line, arrays of scalars on
    one line when they fit the line width, else one element per line."""
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: "
            + format_json(v, inner, len(inner) + len(json.dumps(k, ensure_ascii=False)) + 2)
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, (dict, list)) for v in value):
            flat = "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
            if prefix_len + len(flat) + 1 <= JSON_LINE_WIDTH:
                return flat
        items = [inner + format_json(v, inner, len(inner)) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def write_json(path: Path, value) -> None:
    path.write_text(format_json(value) + "\n", encoding="utf-8")


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<f4"))
    return buffer.getvalue()


def build_fixture(spec: dict, bpe: ByteBpe) -> dict:
    config = spec["config"]
    folder = OUT_DIR / spec["name"]
    folder.mkdir(parents=True)
    # transformers writes these three files with sorted keys.
    write_json(folder / "config.json", dict(sorted(config.items())))
    write_json(folder / "generation_config.json", {
        "_from_model_config": True,
        "bos_token_id": config["bos_token_id"],
        "eos_token_id": config["eos_token_id"],
        "transformers_version": config["transformers_version"],
    })
    write_json(folder / "tokenizer.json", tokenizer_json(bpe))
    tok_config = tokenizer_config(bpe, spec["chat_template"])
    write_json(folder / "tokenizer_config.json", dict(sorted(tok_config.items())))

    stored = random_weights(config, spec["seed"])
    write_safetensors(folder / "model.safetensors", stored, config["torch_dtype"])
    weights = read_safetensors(folder / "model.safetensors")
    for name, t in stored.items():
        assert torch.equal(weights[name], t.to(torch.float64)), f"{name}: changed by the file round trip"

    sequences = [bpe.encode(text) for text in SEQUENCE_TEXTS]
    logits = [forward(weights, config, ids) for ids in sequences]
    check_rope(config, arch_of(config)["head_dim"])
    check_model(weights, config, sequences[-1], logits[-1])

    prompt = bpe.encode(GENERATION_PROMPT)
    new_ids, margin = greedy(weights, config, prompt, GENERATION_NEW_TOKENS)
    # The seeds are picked so that greedy decoding is a sharp test: no near-ties, no special
    # token (which would stop or hide output), no fixed point that a broken cache would also reach.
    name = spec["name"]
    assert margin > 5e-3, f"{name}: greedy step too close to a tie ({margin:.2e})"
    assert not set(new_ids) & set(bpe.special_ids.values()), f"{name}: greedy produced a special token"
    assert len(set(new_ids)) >= 6, f"{name}: repetitive greedy output {new_ids}"

    table = torch.cat(logits).to(torch.float32).numpy()
    (folder / "expected_logits.npy").write_bytes(npy_bytes(table))
    rows, entries = 0, []
    for text, ids in zip(SEQUENCE_TEXTS, sequences):
        entries.append({"text": text, "ids": ids, "logits_rows": [rows, rows + len(ids)]})
        rows += len(ids)
    expected = {
        "description": "Reference outputs from tools/reference/make_fixtures.py (float64 forward on the "
        "stored weights, logits rounded to float32). Format: tools/reference/README.md.",
        "vocab_size": config["vocab_size"],
        "logits_file": "expected_logits.npy",
        "sequences": entries,
        "tokenizer_cases": [{"text": text, "ids": bpe.encode(text)} for text in TOKENIZER_TEXTS],
        "generation": {
            "prompt_text": GENERATION_PROMPT,
            "prompt_ids": prompt,
            "max_new_tokens": GENERATION_NEW_TOKENS,
            "greedy_ids": new_ids,
            "greedy_text": bpe.decode(new_ids),
            "min_top2_margin": round(margin, 6),
        },
    }
    if spec["chat_template"]:
        rendered = render_chat(CHAT_MESSAGES, True)
        expected["chat"] = {
            "messages": CHAT_MESSAGES,
            "add_generation_prompt": True,
            "rendered": rendered,
            "ids": bpe.encode(rendered, add_bos=False),
        }
    write_json(folder / "expected.json", expected)
    return {"name": name, "margin": margin, "greedy": new_ids, "lengths": [len(s) for s in sequences]}


def main() -> None:
    torch.set_num_threads(1)  # one summation order, so reruns give the same bytes
    bpe = ByteBpe(train_merges(MERGE_CORPUS, MERGE_COUNT))
    check_tokenizer(bpe)
    ids = bpe.special_ids
    specs = fixture_specs(bpe.size, ids["<|begin_of_text|>"], ids["<|end_of_text|>"], ids["<|eot_id|>"])
    for spec in specs:
        shutil.rmtree(OUT_DIR / spec["name"], ignore_errors=True)
        report = build_fixture(spec, bpe)
        print(f"{report['name']}: sequence lengths {report['lengths']}, greedy {report['greedy']}, "
              f"min top-2 margin {report['margin']:.4f}")


if __name__ == "__main__":
    main()
