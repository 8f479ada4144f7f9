"""A word-level recurrent language model (LSTM or GRU) with tied input/output embeddings, and the
data layout for truncated back-propagation through time (Zaremba et al., 2014; Press & Wolf, 2017).

    data = batchify(torch.tensor(ids), batch_size=32)        # (B, L): B parallel streams
    model = RNNLanguageModel(vocab_size=V, dim=128)
    state = None
    for x, y in bptt_windows(data, length=32):              # (B, T) inputs, (B, T) next tokens
        logits, state = model(x, detach(state))             # carry the state, cut the gradient
    nll = mean_nll(model, batchify(val_ids, 16), length=64)  # nats per token -> perplexity = e^nll

`batchify` cuts one long token stream into B equal streams laid side by side, so row b of window
k+1 continues row b of window k: the hidden state left by one window is the right starting state
for the next one, and the model sees (almost) unlimited left context while back-propagation
stops at the window boundary ("truncated BPTT").
"""
import math

import torch
from torch import nn
from torch.nn import functional as F


class RNNLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 128, num_layers: int = 1, cell: str = "lstm",
                 dropout: float = 0.1, tie_weights: bool = True):
        super().__init__()
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.embedding = nn.Embedding(vocab_size, dim)              # (V, d)
        self.rnn = rnn_class(dim, dim, num_layers=num_layers, batch_first=True,
                             dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(dim, vocab_size)                    # (V, d) weight + (V,) bias
        if tie_weights:
            self.output.weight = self.embedding.weight              # one matrix, used twice
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.output.bias)

    def forward(self, ids, state=None):
        """ids (B, T) -> logits (B, T, V) for the next token at each position, and the final state."""
        hidden, state = self.rnn(self.dropout(self.embedding(ids)), state)  # (B, T, d)
        return self.output(self.dropout(hidden)), state

    @torch.no_grad()
    def generate(self, prompt_ids, max_new_tokens: int, temperature: float = 1.0, generator=None):
        """Sample `max_new_tokens` ids after `prompt_ids` (list of ints); returns the new ids."""
        self.eval()
        device = self.output.weight.device
        logits, state = self(torch.tensor([prompt_ids], device=device))
        new = []
        for _ in range(max_new_tokens):
            probs = F.softmax(logits[0, -1].float().cpu() / temperature, dim=-1)   # (V,), sampled on the CPU
            next_id = int(torch.multinomial(probs, 1, generator=generator))
            new.append(next_id)
            logits, state = self(torch.tensor([[next_id]], device=device), state)
        self.train()
        return new


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(N,) token ids -> (B, N // B): B contiguous streams side by side (the tail is dropped)."""
    per_row = len(stream) // batch_size
    return stream[:per_row * batch_size].view(batch_size, per_row)


def bptt_windows(data: torch.Tensor, length: int):
    """Yield (x, y) windows of at most `length` columns of `data` (B, L); y is x shifted by one."""
    for start in range(0, data.size(1) - 1, length):
        end = min(start + length, data.size(1) - 1)
        yield data[:, start:end], data[:, start + 1:end + 1]


def detach(state):
    """Cut the graph behind a carried hidden state (LSTM: tuple (h, c); GRU: tensor h; or None)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@torch.no_grad()
def token_log_probs(model: RNNLanguageModel, data: torch.Tensor, length: int = 64) -> torch.Tensor:
    """(B, L - 1) log-probability of every next token of `data` (B, L), state carried across windows:
    entry (b, t) scores data[b, t + 1]."""
    model.eval()
    state, chunks = None, []
    for x, y in bptt_windows(data, length):
        logits, state = model(x, state)                                    # (B, T, V)
        chunks.append(torch.log_softmax(logits, dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1))  # (B, T)
    model.train()
    return torch.cat(chunks, dim=1)


def mean_nll(model: RNNLanguageModel, data: torch.Tensor, length: int = 64) -> float:
    """Mean negative log-likelihood (nats) of every next token of `data` (B, L)."""
    return -token_log_probs(model, data, length).mean().item()


def perplexity(nll: float) -> float:
    return math.exp(nll)
