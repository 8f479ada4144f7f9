"""shared.text.glove: co-occurrence counts on a hand example, the weighting function, training lowers
the loss, and on a toy corpus words that share contexts end up close."""
import numpy as np
import pytest
import torch

from shared.text.glove import GloVe, GloVeConfig, cooccurrence, glove_loss, train_glove, weighting
from shared.text.word_vectors import unit_rows


def slow_cooccurrence(sentences, vocab_size, window):
    """The definition, one pair at a time."""
    counts = np.zeros((vocab_size, vocab_size))
    for sentence in sentences:
        kept = [w for w in sentence if w >= 0]
        for i, word in enumerate(kept):
            for j in range(max(0, i - window), min(len(kept), i + window + 1)):
                if j != i:
                    counts[word, kept[j]] += 1 / abs(i - j)
    return counts


def test_cooccurrence_by_hand():
    # "a b a c" with window 2: a-b at distances 1 and 1, a-a at 2, a-c at 1 and 3 (3 > window: no)
    a, b, c = 0, 1, 2
    counts = cooccurrence([[a, b, a, c]], vocab_size=3, window=2).toarray()
    expected = np.array([
        [1 / 2 + 1 / 2, 1 + 1, 1],      # a: a (d=2, both directions), b (d=1 twice), c (d=1)
        [1 + 1, 0, 1 / 2],              # b: a twice, c at d=2
        [1, 1 / 2, 0],                  # c: a at d=1 (the first a is 3 away), b at d=2
    ])
    np.testing.assert_allclose(counts, expected)


def test_cooccurrence_respects_sentences_and_drops_unknown_words():
    counts = cooccurrence([[0, -1, 1], [2]], vocab_size=3, window=1).toarray()
    assert counts[0, 1] == 1 and counts[1, 0] == 1       # the unknown word between them is removed
    assert counts[:, 2].sum() == 0 and counts[2].sum() == 0  # no pair crosses a sentence boundary


def test_cooccurrence_matches_the_definition_on_random_sentences():
    rng = np.random.default_rng(0)
    sentences = [rng.integers(-1, 6, size=rng.integers(1, 12)) for _ in range(30)]
    for window in (1, 3, 5):
        np.testing.assert_allclose(cooccurrence(sentences, 6, window).toarray(),
                                   slow_cooccurrence(sentences, 6, window))


def test_asymmetric_counts_only_look_right():
    counts = cooccurrence([[0, 1]], vocab_size=2, window=1, symmetric=False).toarray()
    np.testing.assert_allclose(counts, [[0, 1], [0, 0]])


def test_weighting_function_values():
    x = np.array([0.0, 1.0, 50.0, 100.0, 1e4])
    np.testing.assert_allclose(weighting(x), [0, 0.01 ** 0.75, 0.5 ** 0.75, 1, 1])
    torch.testing.assert_close(weighting(torch.tensor([5.0, 20.0]), x_max=10, alpha=1.0), torch.tensor([0.5, 1.0]))


def test_loss_is_the_weighted_squared_error():
    model = GloVe(vocab_size=3, dim=2)
    with torch.no_grad():
        model.w.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        model.w_context.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]))
        model.b.fill_(0.5)
    i, j, x = torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([10.0, 200.0])
    predicted = torch.tensor([2.0 + 0.5, 3.0 + 0.5])
    expected = (weighting(x) * (predicted - torch.log(x)) ** 2).mean()
    torch.testing.assert_close(glove_loss(model, i, j, x), expected)


def topic_corpus(n_sentences=400, seed=0):
    """Two topics that never share a sentence: words 0-4 (animals) and 5-9 (vehicles)."""
    rng = np.random.default_rng(seed)
    return [rng.choice(np.arange(5) + 5 * rng.integers(2), size=8) for _ in range(n_sentences)]


def test_training_lowers_the_loss():
    cooc = cooccurrence(topic_corpus(), vocab_size=10, window=3)
    _, losses = train_glove(cooc, GloVeConfig(dim=8, epochs=30, batch_size=16, lr=0.1, x_max=10))
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.parametrize("optimizer,lr", [("adagrad", 0.1), ("adam", 0.05)])
def test_words_that_share_contexts_end_up_close(optimizer, lr):
    cooc = cooccurrence(topic_corpus(), vocab_size=10, window=3)
    model, _ = train_glove(cooc, GloVeConfig(dim=8, epochs=60, batch_size=16, lr=lr, x_max=10, optimizer=optimizer))
    unit = unit_rows(model.vectors())
    cosine = unit @ unit.T                                   # (10, 10)
    same_topic = cosine[:5, :5][~np.eye(5, dtype=bool)].mean() + cosine[5:, 5:][~np.eye(5, dtype=bool)].mean()
    other_topic = cosine[:5, 5:].mean() * 2
    assert same_topic > other_topic + 0.5


def test_training_is_deterministic_for_a_seed():
    cooc = cooccurrence(topic_corpus(), vocab_size=10, window=2)
    config = GloVeConfig(dim=4, epochs=3, batch_size=32, seed=3)
    first, second = train_glove(cooc, config)[0].vectors(), train_glove(cooc, config)[0].vectors()
    np.testing.assert_array_equal(first, second)
