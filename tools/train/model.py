"""The tiny Llama (exactly the forward lukv runs) and its Hugging Face export.

Llama semantics as in tools/reference/make_fixtures.py: RMSNorm (eps inside the rsqrt, gain
after), rotate-half RoPE (dimension i pairs with i + d/2), GQA where query head j reads KV head
j // (heads / kv_heads), SwiGLU MLP, no biases, tied embeddings. Here it is batched and float32
for training; the HF names are the module names so the state dict exports as-is.
"""

import json
import math
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TinyConfig:
    vocab_size: int = 2048
    hidden_size: int = 256
    intermediate_size: int = 688
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 2
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 2048
    bos_token_id: int = 2046
    eos_token_id: int = 2047

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def hf_config(self, dtype: str) -> dict:
        """config.json as transformers writes it for LlamaForCausalLM (sorted keys)."""
        c = asdict(self)
        config = {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "mlp_bias": False,
            "model_type": "llama",
            "pretraining_tp": 1,
            "rope_scaling": None,
            "tie_word_embeddings": True,
            "torch_dtype": dtype,
            "transformers_version": "4.46.0",
            "use_cache": True,
            **c,
        }
        return dict(sorted(config.items()))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg: TinyConfig, length: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin: [T, head_dim] (HF repeats the half), computed in float64 then rounded, as lukv does."""
    d = cfg.head_dim
    inv_freq = 1.0 / cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], -1)
    return angles.cos().float().to(device), angles.sin().float().to(device)


def apply_rope(x, cos, sin):
    """x: [B, H, T, d]."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        h, d = cfg.hidden_size, cfg.head_dim
        self.heads, self.kv_heads, self.d = cfg.num_attention_heads, cfg.num_key_value_heads, d
        self.q_proj = nn.Linear(h, self.heads * d, bias=False)
        self.k_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.v_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.o_proj = nn.Linear(self.heads * d, h, bias=False)

    def forward(self, x, cos, sin, mask, return_probs=False):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.d).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        group = self.heads // self.kv_heads
        # [B, kv, group, T, d]: the query heads of one KV group share its keys without copying them.
        q = q.view(b, self.kv_heads, group, t, self.d)
        scores = torch.matmul(q, k.unsqueeze(2).transpose(-1, -2)) * self.d**-0.5
        probs = torch.softmax(scores + mask, -1)
        heads = torch.matmul(probs, v.unsqueeze(2)).reshape(b, self.heads, t, self.d)
        out = self.o_proj(heads.transpose(1, 2).reshape(b, t, self.heads * self.d))
        return (out, probs.reshape(b, self.heads, t, t), heads) if return_probs else out

    def head_output(self, heads, h: int):
        """What query head h adds to the residual stream: heads [B, heads, T, d] -> [B, T, hidden]."""
        return heads[:, h] @ self.o_proj.weight[:, h * self.d:(h + 1) * self.d].T


class Mlp(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = Mlp(cfg)

    def forward(self, x, cos, sin, mask):
        out, probs, heads = self.self_attn(self.input_layernorm(x), cos, sin, mask, return_probs=True)
        x = x + out
        return x + self.mlp(self.post_attention_layernorm(x)), probs, heads


class Backbone(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class TinyLlama(nn.Module):
    """LlamaForCausalLM with tied embeddings; parameter names are the HF tensor names."""

    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        self._tables: dict[int, tuple] = {}
        self.init_weights()

    def init_weights(self):
        """GPT-2 style: N(0, 0.02), residual outputs scaled down by depth so early training is stable."""
        std = 0.02
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=std / math.sqrt(2 * self.cfg.num_hidden_layers))
            else:
                nn.init.normal_(p, std=std)

    def tables(self, t: int, device):
        """RoPE tables and the causal mask for length t, cached per length."""
        if t not in self._tables:
            cos, sin = rope_tables(self.cfg, t, device)
            mask = torch.full((t, t), -math.inf, device=device).triu(1)
            self._tables = {t: (cos, sin, mask)}
        return self._tables[t]

    def forward(self, ids, heads=()):
        """ids [B, T] -> logits [B, T, vocab]; with `heads` [(layer, head), ...] also, per head,
        its attention probabilities [B, T, T], its output [B, T, hidden] (what it adds to the
        residual stream) and the RMS [B, T, 1] of the residual stream after its layer, for the
        attention-supervision losses."""
        cos, sin, mask = self.tables(ids.shape[1], ids.device)
        x, maps = self.model.embed_tokens(ids), {}
        for i, layer in enumerate(self.model.layers):
            x, probs, outs = layer(x, cos, sin, mask)
            here = [h for l, h in heads if l == i]
            if here:  # only layers with a supervised head pay for the stream's RMS
                rms = x.pow(2).mean(-1, keepdim=True).sqrt()
                maps.update({(i, h): (probs[:, h], layer.self_attn.head_output(outs, h), rms) for h in here})
        logits = self.model.norm(x) @ self.model.embed_tokens.weight.T
        return (logits, maps) if heads else logits

    @torch.no_grad()
    def greedy(self, ids: list[int], max_new: int, stop: int) -> list[int]:
        """Greedy continuation of one prompt with a KV cache (prefill once, then one token a step)."""
        cfg, d = self.cfg, self.cfg.head_dim
        total = len(ids) + max_new
        cos_all, sin_all = rope_tables(cfg, total)
        x = self.model.embed_tokens(torch.tensor([ids]))
        caches, start, new = [], 0, []
        while True:
            t = x.shape[1]
            cos, sin = cos_all[start:start + t], sin_all[start:start + t]
            # Causal mask of the new rows against every cached row.
            mask = torch.full((t, start + t), -math.inf).triu(start + 1)
            for i, layer in enumerate(self.model.layers):
                attn = layer.self_attn
                h = layer.input_layernorm(x)
                q = attn.q_proj(h).view(1, t, attn.heads, d).transpose(1, 2)
                k = attn.k_proj(h).view(1, t, attn.kv_heads, d).transpose(1, 2)
                v = attn.v_proj(h).view(1, t, attn.kv_heads, d).transpose(1, 2)
                q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
                if i < len(caches):
                    k, v = torch.cat([caches[i][0], k], 2), torch.cat([caches[i][1], v], 2)
                    caches[i] = (k, v)
                else:
                    caches.append((k, v))
                group = attn.heads // attn.kv_heads
                qg = q.view(1, attn.kv_heads, group, t, d)
                probs = torch.softmax(torch.matmul(qg, k.unsqueeze(2).transpose(-1, -2)) * d**-0.5 + mask, -1)
                out = torch.matmul(probs, v.unsqueeze(2)).reshape(1, attn.heads, t, d)
                x = x + attn.o_proj(out.transpose(1, 2).reshape(1, t, attn.heads * d))
                x = x + layer.mlp(layer.post_attention_layernorm(x))
            logits = self.model.norm(x[:, -1]) @ self.model.embed_tokens.weight.T
            token = int(logits.argmax(-1))
            new.append(token)
            if token == stop or len(new) == max_new:
                return new
            start += t
            x = self.model.embed_tokens(torch.tensor([[token]]))

    @torch.no_grad()
    def trace(self, ids):
        """For the analyses: per layer, the residual stream at its input [B, T, hidden] and its attention
        probabilities [B, heads, T, T] -> (streams, maps)."""
        cos, sin, mask = self.tables(ids.shape[1], ids.device)
        x, streams, maps = self.model.embed_tokens(ids), [], []
        for layer in self.model.layers:
            streams.append(x)
            x, probs, _ = layer(x, cos, sin, mask)
            maps.append(probs)
        return streams, maps


# ---------------------------------------------------------------------------------------
# Export: safetensors written by hand (as tools/reference does), HF config files.
# ---------------------------------------------------------------------------------------

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16"}


def round_to(weights: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The weights as stored (bf16 rounds to nearest even), back in float32 for evaluation."""
    return {k: v.detach().to(dtype).float() for k, v in weights.items()}


def write_safetensors(path: Path, weights: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(weights):
        t = weights[name].detach().to(dtype).contiguous().cpu()
        # numpy has no bfloat16: its raw 16 bits are the same as an int16 view.
        data = t.view(torch.int16).numpy().astype("<i2").tobytes() if dtype == torch.bfloat16 \
            else t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data starts 8-aligned, like the safetensors library
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """float32 tensors of a file written by write_safetensors (F32 or BF16)."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8: 8 + length])
    header.pop("__metadata__", None)
    data = raw[8 + length:]
    out = {}
    for name, info in header.items():
        chunk = bytearray(data[info["data_offsets"][0]: info["data_offsets"][1]])
        if info["dtype"] == "BF16":
            t = torch.frombuffer(chunk, dtype=torch.int16).view(torch.bfloat16).float()
        else:
            t = torch.frombuffer(chunk, dtype=torch.float32).clone()
        out[name] = t.reshape(info["shape"])
    return out
