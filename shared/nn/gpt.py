"""A GPT (decoder-only transformer) written to be read, in the spirit of nanoGPT.

    config = GPTConfig(vocab_size=8192, block_size=128, n_layer=4, n_head=4, n_embd=256)
    model = GPT(config)
    logits, loss = model(idx, targets)      # idx, targets: (B, T) token ids
    model.generate(idx, max_new_tokens=50, temperature=0.8, top_k=50, top_p=0.95)  # with a KV cache
    model.generate(idx, max_new_tokens=50, use_cache=False)  # recomputes the whole prefix every step

`generate` keeps each layer's keys and values in a `KVCache`, so a new token costs one position's
work instead of the whole prefix's. The layout and parameter names follow GPT-2, so `GPT.from_hf(GPT2LMHeadModel)` copies weights
one to one (tests/test_gpt.py checks equal logits).
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 50257   # number of token ids
    block_size: int = 1024    # longest sequence (context window)
    n_layer: int = 12         # transformer blocks
    n_head: int = 12          # attention heads per block
    n_embd: int = 768         # width of the residual stream
    dropout: float = 0.0      # on attention weights, residual branches and embeddings
    bias: bool = True         # biases in Linear and LayerNorm (GPT-2 has them)
    layer_norm_eps: float = 1e-5


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated for `max_len` positions.

    `k` and `v` are (n_layer, B, n_head, max_len, head_dim); positions [0, length) are filled. Memory:
    2 (k and v) * n_layer * B * n_head * max_len * head_dim * bytes per element (`nbytes`).
    """

    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int,
                 dtype=torch.float32, device=None):
        shape = (n_layer, batch, n_head, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0          # positions filled so far (the same in every layer)
        self.max_len = max_len

    def update(self, layer: int, k, v):
        """Write this layer's new k, v (B, nh, T, hs) after the filled part; return all of it (B, nh, length+T, hs)."""
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; {end} requested")
        self.k[layer, :, :, self.length:end] = k
        self.v[layer, :, :, self.length:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout

    def forward(self, x, kv_cache: KVCache | None = None, layer: int = 0):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                       # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        past = 0
        if kv_cache is not None:
            past = kv_cache.length
            k, v = kv_cache.update(layer, k, v)                         # (B, nh, past+T, hs)
        if past == 0:      # no earlier tokens: the usual causal mask
            mask, causal = None, True
        elif T == 1:       # one new token: it may look at every cached position
            mask, causal = None, False
        else:              # T new tokens after `past` cached ones: query i sees keys 0 .. past+i
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            causal = False
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)               # (B, T, C): heads side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))  # GPT-2's "gelu_new"


class Block(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache: KVCache | None = None, layer: int = 0):
        x = x + self.attn(self.ln_1(x), kv_cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),   # token embeddings
            wpe=nn.Embedding(config.block_size, config.n_embd),   # learned position embeddings
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying: one matrix reads and writes tokens
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer)
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters; by default without the position embeddings (the token ones are tied to lm_head)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, kv_cache: KVCache | None = None, last_only: bool = False):
        """Logits (B, T, vocab) and the loss if targets are given. With `kv_cache`, idx holds only the
        new tokens: they sit at positions cache.length .. cache.length+T-1 and see every cached one.
        last_only=True computes the logits of the last position only (B, 1, vocab), all generation needs."""
        B, T = idx.shape
        past = kv_cache.length if kv_cache is not None else 0
        if past + T > self.config.block_size:
            raise ValueError(f"sequence of length {past + T} exceeds block_size {self.config.block_size}")
        pos = torch.arange(past, past + T, device=idx.device)                     # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, kv_cache, layer)
        if kv_cache is not None:
            kv_cache.length += T                                                  # every layer has written
        if last_only:
            x = x[:, -1:]                                                         # (B, 1, C)
        logits = self.lm_head(self.transformer.ln_f(x))                           # (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss

    def new_kv_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        """An empty cache for `batch` sequences of up to `max_len` (default block_size) positions."""
        c, p = self.config, next(self.parameters())
        return KVCache(c.n_layer, batch, c.n_head, max_len or c.block_size, c.n_embd // c.n_head,
                       dtype=p.dtype, device=p.device)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None,
                 use_cache: bool = True):
        """Extend idx (B, T) by sampling; temperature 0 means greedy.

        use_cache=True runs the prompt once (prefill), then feeds one token per step and reads the
        earlier keys and values from a KVCache. use_cache=False recomputes the whole (cropped) prefix
        every step. Both give the same tokens. Past block_size the learned positions of every
        token shift at each step, so nothing cached stays valid: both paths then recompute the
        last block_size tokens."""
        block_size = self.config.block_size
        cache = None
        for _ in range(max_new_tokens):
            if not use_cache:
                logits = self(idx[:, -block_size:], last_only=True)[0]   # the whole prefix again
            elif cache is not None and cache.length < cache.max_len:
                logits = self(idx[:, -1:], kv_cache=cache)[0]            # only the new token
            else:                                                        # prefill, or the window is full
                context = idx[:, -block_size:]                           # (B, T)
                cache = self.new_kv_cache(idx.shape[0], min(context.shape[1] + max_new_tokens, block_size))
                logits = self(context, kv_cache=cache, last_only=True)[0]
            logits = logits[:, -1, :]                                    # (B, vocab): next-token scores
            if temperature == 0:
                next_id = logits.argmax(dim=-1, keepdim=True)             # (B, 1)
            else:
                probs = F.softmax(filter_logits(logits / temperature, top_k, top_p), dim=-1)
                next_id = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)
        return idx

    @classmethod
    def from_hf(cls, hf_model) -> "GPT":
        """Copy a transformers GPT2LMHeadModel. HF stores Linear weights as Conv1D (in, out): transpose."""
        hf = hf_model.config
        config = GPTConfig(vocab_size=hf.vocab_size, block_size=hf.n_positions, n_layer=hf.n_layer,
                           n_head=hf.n_head, n_embd=hf.n_embd, layer_norm_eps=hf.layer_norm_epsilon)
        model = cls(config)
        theirs = hf_model.state_dict()
        transposed = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
        with torch.no_grad():
            for name, param in model.state_dict().items():
                if name == "lm_head.weight":
                    continue  # tied to transformer.wte.weight
                source = theirs[name]
                param.copy_(source.t() if name.endswith(transposed) else source)
        return model


def filter_logits(logits, top_k: int | None = None, top_p: float | None = None):
    """Set to -inf every logit outside the top-k and outside the smallest set with probability >= top_p."""
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[..., -1:]   # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)                         # (B, vocab)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p   # tokens after the nucleus is full
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits
