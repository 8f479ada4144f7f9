"""BERT's masking for masked-language-model training (Devlin et al., 2019, section 3.1).

    inputs, labels = mask_tokens(ids, special_mask, mask_id=tok.mask_token_id,
                                 random_ids=torch.arange(5, tok.vocab_size), generator=g)

1. Every token that is not special ([CLS], [SEP], [PAD], ...) is *selected* independently with
   probability `probability` (15%). Selected positions keep their original id in `labels`; all
   other labels are -100 (ignored by `cross_entropy`).
2. A selected token's input is then replaced by [MASK] with probability 0.8, by a random token
   with probability 0.1, and left unchanged with probability 0.1 (the "80/10/10 rule"), so the
   model cannot assume that only [MASK] positions matter: it must represent every token well.

Same distribution as `transformers.DataCollatorForLanguageModeling` (tests/test_mlm.py measures
both), with one difference: random replacements are drawn from `random_ids` (usually the
non-special vocabulary), while the collator may also draw special tokens such as [PAD].
"""
import torch

IGNORE_INDEX = -100  # label of positions that carry no loss


def mask_tokens(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor, mask_id: int,
                random_ids: torch.Tensor, probability: float = 0.15, mask_fraction: float = 0.8,
                random_fraction: float = 0.1, generator: torch.Generator | None = None):
    """(inputs, labels), both shaped like `input_ids` (B, T); the input tensor is not modified.

    `special_tokens_mask` (B, T): True (or 1) where a token may never be selected.
    `random_ids` (R,): the token ids a random replacement is drawn from.
    """
    if mask_fraction + random_fraction > 1:
        raise ValueError("mask_fraction + random_fraction must be at most 1")
    special = special_tokens_mask.bool()
    draw = torch.rand(input_ids.shape, generator=generator)                  # (B, T) uniform in [0, 1)
    selected = (draw < probability) & ~special                               # (B, T) the 15%
    labels = torch.where(selected, input_ids, IGNORE_INDEX)
    # one more uniform number per position decides what a selected token becomes
    action = torch.rand(input_ids.shape, generator=generator)                # (B, T)
    to_mask = selected & (action < mask_fraction)                            # 80% of selected
    to_random = selected & (action >= mask_fraction) & (action < mask_fraction + random_fraction)  # 10%
    random_tokens = random_ids[torch.randint(len(random_ids), input_ids.shape, generator=generator)]
    inputs = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    inputs = torch.where(to_random, random_tokens, inputs)
    return inputs, labels                                                    # the rest: unchanged


def masking_statistics(original: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor,
                       special_tokens_mask: torch.Tensor, mask_id: int) -> dict[str, float]:
    """Measured rates: share of maskable tokens selected, and what became of the selected ones.

    A random replacement that happens to draw the original token counts as "unchanged".
    """
    maskable = ~special_tokens_mask.bool()
    selected = labels != IGNORE_INDEX
    n_selected = max(int(selected.sum()), 1)
    masked = selected & (inputs == mask_id)
    unchanged = selected & (inputs == original)
    replaced = selected & ~masked & ~unchanged
    return {
        "selected": float(selected.sum()) / max(int(maskable.sum()), 1),
        "masked": float(masked.sum()) / n_selected,
        "random": float(replaced.sum()) / n_selected,
        "unchanged": float(unchanged.sum()) / n_selected,
        "special_selected": int((selected & ~maskable).sum()),
    }


class MaskedLM(torch.nn.Module):
    """A small BERT-style encoder for masked-language-model training (notebook 2/04 builds it step by step).

    Token embedding (stored at N(0, 0.02), multiplied by `embed_scale` at the input) + learned position
    embedding -> pre-LayerNorm `nn.TransformerEncoder` -> LayerNorm -> an untied output layer that is
    applied only at the positions asked for (`at`), usually the selected 15%.
    """

    def __init__(self, vocab_size: int, dim: int, heads: int, layers: int, ff: int, max_len: int,
                 dropout: float = 0.0, embed_scale: float = 1.0):
        super().__init__()
        nn = torch.nn
        self.tokens = nn.Embedding(vocab_size, dim)            # (V, d), N(0, 0.02), scaled at the input
        self.positions = nn.Embedding(max_len, dim)            # (T, d), N(0, 1) (PyTorch's default)
        nn.init.normal_(self.tokens.weight, std=0.02)
        self.embed_scale = embed_scale
        block = nn.TransformerEncoderLayer(dim, heads, ff, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, vocab_size)               # (V, d) weight + (V,) bias

    def forward(self, ids, at):
        """ids (B, T), at (B, T) bool -> logits (M, V) for the M positions where `at` is True."""
        positions = torch.arange(ids.size(1), device=ids.device)
        x = self.embed_scale * self.tokens(ids) + self.positions(positions)                 # (B, T, d)
        hidden = self.norm(self.encoder(x))                                                 # (B, T, d)
        return self.output(hidden[at])                                                      # (M, V)
