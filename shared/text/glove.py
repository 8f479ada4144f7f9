"""GloVe (Pennington, Socher & Manning, 2014) in PyTorch: co-occurrence counts, weighting, training.

    cooc = cooccurrence(sentences_as_ids, vocab_size=V, window=5)   # scipy CSR (V, V)
    model, losses = train_glove(cooc, GloVeConfig(dim=50, epochs=10))
    vectors = model.vectors()                                       # (V, dim): W + W~

The objective, for every pair (i, j) with X_ij > 0:

    J = sum_ij f(X_ij) * (w_i . w~_j + b_i + b~_j - log X_ij)^2
    f(x) = (x / x_max) ** alpha  if x < x_max  else 1

- X_ij is a *weighted* count: a context word d positions away adds 1/d (the paper's choice), so
  near neighbours count more than far ones.
- f(x) stops frequent pairs ("of the") from dominating and gives rare, noisy pairs little weight;
  f(0) = 0, so pairs that never co-occur drop out of the sum.
- Words have two vectors, w (as centre word) and w~ (as context word); the paper uses w + w~.

Out-of-vocabulary tokens are removed before windowing (as gensim's Word2Vec does), so a window
spans `window` in-vocabulary words on each side, within one sentence.
"""
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch
from torch import nn


def cooccurrence(sentences, vocab_size: int, window: int = 5, symmetric: bool = True) -> scipy.sparse.csr_matrix:
    """(V, V) weighted co-occurrence counts: X[i, j] += 1/d when word j occurs d <= window
    positions after word i in the same sentence (and, if `symmetric`, also d positions before).

    `sentences`: iterable of integer id sequences; ids < 0 mark out-of-vocabulary tokens (dropped).
    """
    ids, sentence_of = [], []  # flat in-vocabulary ids and the sentence each one came from
    for number, sentence in enumerate(sentences):
        kept = np.asarray(sentence, dtype=np.int64)
        kept = kept[kept >= 0]
        ids.append(kept)
        sentence_of.append(np.full(len(kept), number))
    ids, sentence_of = np.concatenate(ids), np.concatenate(sentence_of)  # (N,), (N,)
    rows, cols, weights = [], [], []
    for distance in range(1, window + 1):
        same = sentence_of[:-distance] == sentence_of[distance:]  # (N - d,) pair inside one sentence
        left, right = ids[:-distance][same], ids[distance:][same]
        rows.append(left)
        cols.append(right)
        weights.append(np.full(len(left), 1.0 / distance))
    rows, cols, weights = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
    if symmetric:
        rows, cols, weights = np.concatenate([rows, cols]), np.concatenate([cols, rows]), np.tile(weights, 2)
    counts = scipy.sparse.coo_matrix((weights, (rows, cols)), shape=(vocab_size, vocab_size))
    return counts.tocsr()  # duplicates are summed here


def weighting(x, x_max: float = 100.0, alpha: float = 0.75):
    """f(x) = (x / x_max) ** alpha, capped at 1 (works on tensors and arrays)."""
    if isinstance(x, torch.Tensor):
        return torch.clamp(x / x_max, max=1.0) ** alpha
    return np.minimum(np.asarray(x, dtype=float) / x_max, 1.0) ** alpha


class GloVe(nn.Module):
    """Two embedding tables and two bias vectors; `forward` predicts log X_ij for index pairs."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None):
        super().__init__()
        bound = 0.5 / dim  # the reference C code's uniform init range
        init = lambda: torch.empty(vocab_size, dim).uniform_(-bound, bound, generator=generator)
        self.w = nn.Parameter(init())          # (V, d) vectors of words as centre words
        self.w_context = nn.Parameter(init())  # (V, d) vectors of words as context words
        self.b = nn.Parameter(torch.zeros(vocab_size))           # (V,)
        self.b_context = nn.Parameter(torch.zeros(vocab_size))   # (V,)

    def forward(self, i, j):
        """(B,) predicted log-counts w_i . w~_j + b_i + b~_j for index tensors i, j of shape (B,)."""
        return (self.w[i] * self.w_context[j]).sum(-1) + self.b[i] + self.b_context[j]

    def vectors(self) -> np.ndarray:
        """(V, d) the word vectors the paper uses: W + W~."""
        return (self.w + self.w_context).detach().cpu().numpy()


def glove_loss(model: GloVe, i, j, x, x_max: float = 100.0, alpha: float = 0.75):
    """Mean over the batch of f(X_ij) * (prediction - log X_ij)^2; i, j, x are (B,) tensors."""
    return (weighting(x, x_max, alpha) * (model(i, j) - torch.log(x)) ** 2).mean()


@dataclass
class GloVeConfig:
    dim: int = 50              # vector size
    epochs: int = 10           # passes over all non-zero X_ij
    batch_size: int = 4096     # (i, j) pairs per optimizer step
    lr: float = 0.05           # AdaGrad step size (the paper: 0.05)
    optimizer: str = "adagrad"  # "adagrad" (as in the paper) or "adam"
    x_max: float = 100.0       # f(x) reaches 1 at x_max
    alpha: float = 0.75        # f's exponent
    seed: int = 0


def train_glove(cooc: scipy.sparse.spmatrix, config: GloVeConfig | None = None, device: str = "cpu"):
    """Fit GloVe to the non-zero entries of `cooc`; returns (model, mean loss of each epoch)."""
    config = config or GloVeConfig()
    generator = torch.Generator().manual_seed(config.seed)  # init and shuffling: thread-safe, no global state
    coo = cooc.tocoo()
    i = torch.from_numpy(coo.row.astype(np.int64)).to(device)       # (P,) centre word of each pair
    j = torch.from_numpy(coo.col.astype(np.int64)).to(device)       # (P,) context word
    x = torch.from_numpy(coo.data.astype(np.float32)).to(device)    # (P,) weighted count X_ij > 0
    model = GloVe(cooc.shape[0], config.dim, generator).to(device)
    optimizers = {"adagrad": torch.optim.Adagrad, "adam": torch.optim.Adam}
    optimizer = optimizers[config.optimizer](model.parameters(), lr=config.lr)
    losses = []
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(x), config.batch_size):
            batch = order[start:start + config.batch_size]
            loss = glove_loss(model, i[batch], j[batch], x[batch], config.x_max, config.alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(x))
    return model, losses
