"""T5's span-corruption objective as `shared.train.tiny_t5` implements it (pure NumPy, no model)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.train.tiny_t5 import (
    TinyT5Config,
    collapse_runs,
    lr_factor,
    noise_counts,
    random_segmentation,
    random_spans_noise_mask,
    reconstruct,
    reconstruct_batch,
    span_corrupt,
)

EOS = 1
SENTINELS = np.arange(8099, 7999, -1)  # <extra_id_0> = 8099, <extra_id_1> = 8098, ... as in T5


def fill_sentinels(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Undo the corruption: put each target span back where its sentinel sits in the inputs."""
    spans = {}  # sentinel id -> the tokens that follow it in the targets
    for token in targets[:-1]:  # drop </s>
        if token in SENTINELS:
            current = spans.setdefault(token, [])
        else:
            current.append(token)
    out = []
    for token in inputs[:-1]:
        out.extend(spans[token] if token in SENTINELS else [token])
    return np.array(out)


def test_worked_example_from_the_t5_paper():
    words = "Thank you for inviting me to your party last week .".split()
    tokens = np.arange(len(words))  # token i is words[i]
    mask = np.zeros(len(words), bool)
    mask[[2, 3, 8]] = True  # "for inviting" and "last"
    vocab = {**dict(enumerate(words)), 8099: "<X>", 8098: "<Y>", 8097: "<Z>"}
    inputs = [vocab[t] for t in collapse_runs(tokens, mask, SENTINELS)]
    targets = [vocab[t] for t in collapse_runs(tokens, ~mask, SENTINELS)]
    assert " ".join(inputs) == "Thank you <X> me to your party <Y> week ."
    assert " ".join(targets) == "<X> for inviting <Y> last <Z>"  # the paper's trailing sentinel too


@settings(max_examples=200, deadline=None)
@given(length=st.integers(8, 512), seed=st.integers(0, 2**32 - 1))
def test_span_corrupt_lengths_sentinels_and_reconstruction(length, seed):
    tokens = np.random.default_rng(seed).integers(3, 7000, size=length)
    inputs, targets = span_corrupt(tokens, SENTINELS, EOS, np.random.default_rng(seed))
    n_noise, n_spans = noise_counts(length, 0.15, 3.0)
    assert len(inputs) == length - n_noise + n_spans + 1
    assert len(targets) == n_noise + n_spans + 1
    assert inputs[-1] == EOS and targets[-1] == EOS
    # the sentinels appear in order <extra_id_0>, <extra_id_1>, ... in both sequences
    assert list(inputs[np.isin(inputs, SENTINELS)]) == list(SENTINELS[:n_spans])
    assert list(targets[np.isin(targets, SENTINELS)]) == list(SENTINELS[:n_spans])
    assert targets[0] == SENTINELS[0]
    np.testing.assert_array_equal(fill_sentinels(inputs, targets), tokens)


@pytest.mark.parametrize("length", [20, 128, 511])
def test_noise_mask_ratio_and_span_lengths(length):
    rng = np.random.default_rng(0)
    masks = [random_spans_noise_mask(length, 0.15, 3.0, rng) for _ in range(200)]
    n_noise, n_spans = noise_counts(length, 0.15, 3.0)
    assert n_noise == round(0.15 * length)
    assert all(m.sum() == n_noise for m in masks)
    for mask in masks:
        starts = np.flatnonzero(mask & ~np.concatenate([[False], mask[:-1]]))
        assert len(starts) == n_spans                   # spans never touch, so none merge
        assert not mask[0]                              # a kept run comes first
    if length >= 100:
        assert abs(n_noise / n_spans - 3.0) < 0.5       # mean span length ~3


def test_random_segmentation_is_uniform_and_positive():
    rng = np.random.default_rng(0)
    parts = np.stack([random_segmentation(19, 6, rng) for _ in range(4000)])  # (4000, 6)
    assert (parts >= 1).all() and (parts.sum(axis=1) == 19).all()
    np.testing.assert_allclose(parts.mean(axis=0), 19 / 6, atol=0.1)  # no position is favoured


def test_span_corrupt_is_seeded():
    tokens = np.arange(3, 131)
    first = span_corrupt(tokens, SENTINELS, EOS, np.random.default_rng(7))
    again = span_corrupt(tokens, SENTINELS, EOS, np.random.default_rng(7))
    other = span_corrupt(tokens, SENTINELS, EOS, np.random.default_rng(8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_learning_rate_is_the_course_schedule():
    """The tiny T5 uses shared.train.pretrain's warmup + cosine schedule (equal to transformers')."""
    from shared.train.pretrain import cosine_with_warmup

    cfg = TinyT5Config(steps=100, warmup=10)
    factors = [lr_factor(step, cfg) for step in range(cfg.steps)]
    assert factors == [cosine_with_warmup(step, 10, 100, cfg.min_lr_ratio) for step in range(100)]
    assert factors[0] == 0.0 and factors[10] == pytest.approx(1.0)  # step 0 trains at lr 0, as in transformers
    assert factors[10:] == sorted(factors[10:], reverse=True)  # then never rises
    assert factors[-1] == pytest.approx(cfg.min_lr_ratio, abs=0.01)


def test_reconstruct_has_the_span_corrupted_input_and_the_whole_text_as_target():
    tokens = np.arange(3, 40)
    inputs, targets = reconstruct(tokens, SENTINELS, EOS, np.random.default_rng(3))
    span_inputs, _ = span_corrupt(tokens, SENTINELS, EOS, np.random.default_rng(3))
    np.testing.assert_array_equal(inputs, span_inputs)             # the same corruption as span_corrupt
    np.testing.assert_array_equal(targets, np.append(tokens, EOS))  # the whole original, then </s>


def test_reconstruct_batch_pads_inputs_and_ignores_padded_labels():
    sentences = [np.arange(3, 23), np.arange(3, 13)]  # 20 and 10 tokens
    batch = reconstruct_batch(sentences, SENTINELS, EOS, 0, np.random.default_rng(0), TinyT5Config())
    assert batch["labels"].shape == (2, 21)
    assert batch["labels"][1, 11:].eq(-100).all() and batch["labels"][1, 10] == EOS
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    lengths = batch["attention_mask"].sum(1)
    assert batch["input_ids"][1, lengths[1]:].eq(0).all() and batch["input_ids"][1, lengths[1] - 1] == EOS
