"""The transformer encoder, written to be read: positional encodings, the encoder block, the stack.

    from shared.nn.encoder import EncoderConfig, TransformerEncoder
    encoder = TransformerEncoder(EncoderConfig(vocab_size=30522, max_len=64, dim=64, num_heads=4))
    out = encoder(input_ids, attention_mask)  # out.hidden (B, T, D), out.hidden_states, out.attentions

`EncoderBlock` has the parameters of `torch.nn.TransformerEncoderLayer` and `from_torch` copies
one (tests/test_encoder.py checks equal outputs). Norm choice ("layer" or "rms") and placement
(post-norm as in Vaswani et al. 2017, or pre-norm as in GPT-2) are switches; `causal=True` turns
the stack into a decoder-only language model body. Shapes: B batch, T tokens, D model width.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadAttention, padding_mask
from .norms import make_norm

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}
POSITIONS = ("sinusoidal", "learned", "none")


def sinusoidal_positions(length: int, dim: int, base: float = 10_000.0) -> torch.Tensor:
    """(length, dim): PE[t, 2i] = sin(t / base^(2i/dim)), PE[t, 2i+1] = cos(t / base^(2i/dim))."""
    positions = torch.arange(length, dtype=torch.float32)[:, None]             # (T, 1)
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (D/2,) from 1 to ~1/base
    angles = positions * frequencies                                            # (T, D/2)
    table = torch.zeros(length, dim)
    table[:, 0::2], table[:, 1::2] = angles.sin(), angles.cos()
    return table


class PositionalEncoding(nn.Module):
    """What is added to the token embeddings so the model can tell positions apart.

    "sinusoidal": a fixed table (no parameters); "learned": one trained vector per position
    (max_len x D parameters); "none": nothing, which leaves the encoder blind to word order."""

    def __init__(self, kind: str, max_len: int, dim: int):
        super().__init__()
        if kind not in POSITIONS:
            raise ValueError(f"unknown positional encoding {kind!r}; use one of {', '.join(POSITIONS)}")
        self.kind = kind
        if kind == "sinusoidal":
            self.register_buffer("table", sinusoidal_positions(max_len, dim), persistent=False)
        elif kind == "learned":
            self.table = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        else:
            self.register_buffer("table", torch.zeros(max_len, dim), persistent=False)

    def forward(self, length: int) -> torch.Tensor:
        return self.table[:length]                                              # (T, D)


class EncoderBlock(nn.Module):
    """Self-attention and a feed-forward network, each wrapped in a residual connection and a norm.

    post-norm (`norm_first=False`, the original transformer): x = norm(x + sublayer(x))
    pre-norm  (`norm_first=True`, GPT-2 and most LLMs):        x = x + sublayer(norm(x))
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float = 0.0, norm: str = "layer",
                 norm_first: bool = False, activation: str = "relu", eps: float = 1e-5,
                 norm_library: str = "ours"):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout=dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)       # FFN: widen (usually 4 x D) ...
        self.linear2 = nn.Linear(ffn_dim, dim)       # ... and project back to D
        self.norm1, self.norm2 = (make_norm(norm, dim, eps, norm_library) for _ in range(2))
        self.dropout = nn.Dropout(dropout)
        self.activation = ACTIVATIONS[activation]
        self.norm_first = norm_first

    def attend(self, x, mask, is_causal):
        out, weights = self.self_attn(x, mask=mask, is_causal=is_causal)
        return self.dropout(out), weights

    def feed_forward(self, x):                                                  # (B, T, D)
        return self.dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, x, mask=None, is_causal: bool = False):
        """x (B, T, D); mask broadcastable to (B, H, T, T), True = may attend.

        Returns (x (B, T, D), attention weights (B, H, T, T))."""
        if self.norm_first:
            attended, weights = self.attend(self.norm1(x), mask, is_causal)
            x = x + attended
            return x + self.feed_forward(self.norm2(x)), weights
        attended, weights = self.attend(x, mask, is_causal)
        x = self.norm1(x + attended)
        return self.norm2(x + self.feed_forward(x)), weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> "EncoderBlock":
        """A copy of a `torch.nn.TransformerEncoderLayer`'s weights (LayerNorm, relu or gelu); inputs are (B, T, D)."""
        activation = {1: "relu", 2: "gelu"}[layer.activation_relu_or_gelu]  # torch's own code
        block = cls(layer.linear1.in_features, layer.self_attn.num_heads, layer.linear1.out_features,
                    layer.dropout.p, "layer", layer.norm_first, activation, layer.norm1.eps)
        block.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        for name in ("linear1", "linear2", "norm1", "norm2"):
            getattr(block, name).load_state_dict(getattr(layer, name).state_dict())
        return block


@dataclass
class EncoderConfig:
    vocab_size: int              # number of token ids
    max_len: int = 128           # longest sequence the positional encoding covers
    dim: int = 64                # D: width of every token vector
    num_heads: int = 4           # attention heads per block
    num_layers: int = 2          # encoder blocks
    ffn_dim: int = 256           # hidden width of the feed-forward network (4 x D is usual)
    dropout: float = 0.0         # on attention weights, residual branches and embeddings
    position: str = "sinusoidal" # "sinusoidal", "learned" or "none"
    norm: str = "layer"          # "layer" (LayerNorm) or "rms" (RMSNorm)
    norm_first: bool = False     # False: post-norm (original transformer); True: pre-norm
    causal: bool = False         # True: each token sees only earlier tokens (a decoder-only LM body)
    activation: str = "relu"     # "relu" or "gelu"
    norm_library: str = "ours"   # "ours" (shared.nn.norms) or "torch" (nn.LayerNorm / nn.RMSNorm kernels)


@dataclass
class EncoderOutput:
    hidden: torch.Tensor                                  # (B, T, D) last layer (after the final norm)
    hidden_states: list = field(default_factory=list)     # num_layers + 1 tensors (B, T, D): input, each block
    attentions: list = field(default_factory=list)        # num_layers tensors (B, H, T, T)


class TransformerEncoder(nn.Module):
    """Token embeddings + positional encoding, then `num_layers` encoder blocks.

    Pre-norm stacks end with one more norm (the residual stream is never normalised otherwise)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim)
        self.position = PositionalEncoding(config.position, config.max_len, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(config.dim, config.num_heads, config.ffn_dim, config.dropout, config.norm,
                         config.norm_first, config.activation, norm_library=config.norm_library)
            for _ in range(config.num_layers))
        self.final_norm = (make_norm(config.norm, config.dim, library=config.norm_library) if config.norm_first
                           else nn.Identity())

    def forward(self, input_ids, attention_mask=None) -> EncoderOutput:
        """input_ids (B, T); attention_mask (B, T), 1 = real token, 0 = padding (None: no padding)."""
        T = input_ids.shape[1]
        if T > self.config.max_len:
            raise ValueError(f"sequence of length {T} exceeds max_len {self.config.max_len}")
        mask = None if attention_mask is None else padding_mask(attention_mask)      # (B, 1, 1, T)
        x = self.dropout(self.embed(input_ids) + self.position(T))  # (B, T, D)
        out = EncoderOutput(hidden=x, hidden_states=[x])
        for block in self.blocks:
            x, weights = block(x, mask, is_causal=self.config.causal)
            out.hidden_states.append(x)
            out.attentions.append(weights)
        out.hidden = self.final_norm(x)
        return out


def mean_pool(hidden, attention_mask):
    """Average of the real (non-padding) token vectors: (B, T, D), (B, T) -> (B, D)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)                   # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
