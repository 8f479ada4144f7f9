"""The Llama (2) architecture in small, readable modules: RMSNorm, rotary position embeddings
(RoPE), the SwiGLU feed-forward, grouped-query attention (GQA) with a KV cache, the decoder block
and the whole decoder-only model, plus parameter and KV-cache arithmetic.

Parameter names follow Hugging Face's `LlamaForCausalLM`, so its weights load directly:

    from shared.nn.llama_parts import Llama
    ours = Llama.from_hf(hf_model)            # same weights, same logits (tests/test_llama_parts.py)
    logits, cache = ours(input_ids)           # (B, T, vocab), one (K, V) pair per layer

Shapes: B batch, T new tokens, S = past + new tokens, D model width, H query heads,
G key/value heads (H % G == 0), hd head width (D = H * hd in Llama 2).
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import scaled_dot_product_attention


@dataclass(frozen=True)
class LlamaShape:
    vocab_size: int = 32_000            # SentencePiece BPE vocabulary (Llama 2)
    hidden_size: int = 4_096            # D: model width
    intermediate_size: int = 11_008     # SwiGLU hidden width
    num_layers: int = 32                # decoder blocks
    num_heads: int = 32                 # H: query heads
    num_kv_heads: int = 32              # G: key/value heads (= H: multi-head; 1: multi-query)
    head_dim: int | None = None         # hd; None = hidden_size // num_heads
    rope_theta: float = 10_000.0        # RoPE base
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = False   # Llama 2: separate input embedding and output head

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    @classmethod
    def from_hf(cls, config) -> "LlamaShape":
        """The same shape from a transformers `LlamaConfig`."""
        rope = getattr(config, "rope_parameters", None) or {"rope_theta": config.rope_theta}
        return cls(config.vocab_size, config.hidden_size, config.intermediate_size,
                   config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads,
                   getattr(config, "head_dim", None), float(rope["rope_theta"]), config.rms_norm_eps,
                   config.tie_word_embeddings)


# The released Llama 2 configurations (Touvron et al., 2023, Table 1 + the published config files).
LLAMA2 = {
    "7B": LlamaShape(hidden_size=4096, intermediate_size=11008, num_layers=32, num_heads=32, num_kv_heads=32),
    "13B": LlamaShape(hidden_size=5120, intermediate_size=13824, num_layers=40, num_heads=40, num_kv_heads=40),
    "70B": LlamaShape(hidden_size=8192, intermediate_size=28672, num_layers=80, num_heads=64, num_kv_heads=8),
}


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight: LayerNorm without centring and without a bias."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):                                       # (..., D)
        x32 = x.float()                                         # statistics in float32, as in Llama
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """cos and sin of position * frequency for every pair of channels.

    Channel i of the first half of a head is paired with channel i of the second half (the layout
    of Hugging Face checkpoints; Meta's original code pairs neighbouring channels instead).
    """

    def __init__(self, head_dim: int, theta: float = 10_000.0):
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)  # (hd/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions):                               # (B, T) or (T,) integer positions
        angles = positions[..., None].float() * self.inv_freq   # (..., T, hd/2)
        angles = torch.cat([angles, angles], dim=-1)            # (..., T, hd)
        return angles.cos(), angles.sin()


def rotate_half(x):
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x, cos, sin):
    """Rotate every channel pair of x (*batch, heads, T, hd) by its position's angle.

    cos/sin come from `RotaryEmbedding`: (*batch, T, hd), one row per position of each sequence,
    shared by all heads; or (T, hd), the same positions for every sequence. `*batch` is any
    number of leading dimensions (none, B, or B1 x B2 ...)."""
    if cos.dim() > 2:                                           # per sequence: add the heads axis
        if x.dim() != cos.dim() + 1:
            raise ValueError(f"x {tuple(x.shape)} must be (*batch, heads, T, hd) for cos/sin {tuple(cos.shape)}")
        cos, sin = cos.unsqueeze(-3), sin.unsqueeze(-3)         # (*batch, 1, T, hd)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin


class SwiGLU(nn.Module):
    """Feed-forward block: down(silu(gate(x)) * up(x)); three matrices instead of two."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):                                       # (B, T, D)
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class GroupedQueryAttention(nn.Module):
    """Causal self-attention where H query heads share G key/value heads (H/G queries per group).

    G = H is ordinary multi-head attention, G = 1 multi-query attention. Only G heads of keys
    and values are computed and cached: the KV cache shrinks by H/G.
    """

    def __init__(self, shape: LlamaShape):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = shape.num_heads, shape.num_kv_heads, shape.hd
        assert self.num_heads % self.num_kv_heads == 0, "query heads must split evenly into groups"
        D = shape.hidden_size
        self.q_proj = nn.Linear(D, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(D, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(D, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, D, bias=False)

    def forward(self, x, cos, sin, cache=None):
        """x (B, T, D); cos/sin (B, T, hd) for the new positions; cache = (K, V) of earlier tokens,
        each (B, G, S_past, hd), or None. Returns (output (B, T, D), (K, V) including the new tokens)."""
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)     # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (B, G, T, hd)
        v = self.v_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (B, G, T, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)    # (B, G, S, hd)
        group = self.num_heads // self.num_kv_heads
        k_all = k.repeat_interleave(group, dim=1)               # (B, H, S, hd): head h uses group h // group
        v_all = v.repeat_interleave(group, dim=1)
        S = k.shape[2]
        visible = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=S - T)  # new token t sees 0..S-T+t
        out, _ = scaled_dot_product_attention(q, k_all, v_all, mask=visible)            # (B, H, T, hd)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1)), (k, v)


class LlamaBlock(nn.Module):
    """Pre-norm decoder block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, shape: LlamaShape):
        super().__init__()
        self.input_layernorm = RMSNorm(shape.hidden_size, shape.rms_norm_eps)
        self.self_attn = GroupedQueryAttention(shape)
        self.post_attention_layernorm = RMSNorm(shape.hidden_size, shape.rms_norm_eps)
        self.mlp = SwiGLU(shape.hidden_size, shape.intermediate_size)

    def forward(self, x, cos, sin, cache=None):                 # x (B, T, D)
        attended, cache = self.self_attn(self.input_layernorm(x), cos, sin, cache)
        x = x + attended
        return x + self.mlp(self.post_attention_layernorm(x)), cache


class Llama(nn.Module):
    """Decoder-only language model: embeddings, `num_layers` blocks, final RMSNorm, output head."""

    def __init__(self, shape: LlamaShape):
        super().__init__()
        self.shape = shape
        self.embed_tokens = nn.Embedding(shape.vocab_size, shape.hidden_size)
        self.layers = nn.ModuleList(LlamaBlock(shape) for _ in range(shape.num_layers))
        self.norm = RMSNorm(shape.hidden_size, shape.rms_norm_eps)
        self.rotary = RotaryEmbedding(shape.hd, shape.rope_theta)
        self.lm_head = nn.Linear(shape.hidden_size, shape.vocab_size, bias=False)
        if shape.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, input_ids, cache=None):
        """input_ids (B, T) -> (logits (B, T, vocab), new cache: one (K, V) per layer).

        With `cache` from an earlier call, `input_ids` are the next tokens only."""
        B, T = input_ids.shape
        past = 0 if cache is None else cache[0][0].shape[2]
        positions = torch.arange(past, past + T, device=input_ids.device).expand(B, T)   # (B, T)
        cos, sin = self.rotary(positions)                       # (B, T, hd) each
        x = self.embed_tokens(input_ids)                        # (B, T, D)
        new_cache = []
        for i, layer in enumerate(self.layers):
            x, layer_cache = layer(x, cos, sin, None if cache is None else cache[i])
            new_cache.append(layer_cache)
        return self.lm_head(self.norm(x)), new_cache

    @classmethod
    def from_hf(cls, hf_model) -> "Llama":
        """A copy of a transformers `LlamaForCausalLM` (same weights, dtype and device)."""
        model = cls(LlamaShape.from_hf(hf_model.config))
        state = {name.removeprefix("model."): tensor for name, tensor in hf_model.state_dict().items()}
        if model.shape.tie_word_embeddings:
            state.setdefault("lm_head.weight", state["embed_tokens.weight"])
        model.load_state_dict(state)
        return model.to(device=hf_model.device, dtype=hf_model.dtype)


def parameter_count(shape: LlamaShape) -> int:
    """Exact number of parameters of `Llama(shape)`, from the shape alone."""
    D, hd = shape.hidden_size, shape.hd
    attention = D * shape.num_heads * hd * 2 + D * shape.num_kv_heads * hd * 2  # q, o + k, v
    feed_forward = 3 * D * shape.intermediate_size                            # gate, up, down
    block = attention + feed_forward + 2 * D                                  # + two RMSNorm weights
    embeddings = shape.vocab_size * D * (1 if shape.tie_word_embeddings else 2)  # input + output head
    return shape.num_layers * block + embeddings + D                          # + final RMSNorm


def kv_cache_bytes(shape: LlamaShape, tokens: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    """Memory of the KV cache: K and V, for every layer, key/value head, token and channel."""
    return 2 * shape.num_layers * shape.num_kv_heads * shape.hd * tokens * batch * bytes_per_value
