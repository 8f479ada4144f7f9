"""shared.train.review_classifier.reuse_frozen_outputs: the sweep's cache of the frozen blocks'
outputs gives exactly the floats of the uncached model (a tiny random BERT), and stays out of the
way while training with dropout."""
import copy

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from shared.train.review_classifier import reuse_frozen_outputs


def tiny_bert(dropout: float):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = BertForSequenceClassification(config)
    model.base_model.embeddings.requires_grad_(False)
    for block in model.base_model.encoder.layer[:2]:
        block.requires_grad_(False)
    return model


def batch():
    ids = torch.randint(1, 50, (3, 10), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0                                           # one padded review
    return ids, mask


def test_cached_frozen_blocks_give_the_same_floats_and_gradients():
    ids, mask = batch()
    plain, cached, cache = tiny_bert(0.0), tiny_bert(0.0), {}
    reuse_frozen_outputs(cached, 2, 0.0, cache)
    for mode in ("train", "eval"):
        for model in (plain, cached):
            getattr(model, mode)()
        for _ in range(2):                                    # a miss, then a hit
            expected, got = plain(ids, attention_mask=mask).logits, cached(ids, attention_mask=mask).logits
            assert torch.equal(expected, got)
        assert len(cache) == {"train": 1, "eval": 2}[mode]   # one entry per (batch, mode)
    plain.train(), cached.train()
    plain(ids, attention_mask=mask).logits.sum().backward()
    cached(ids, attention_mask=mask).logits.sum().backward()
    for (name, p), q in zip(plain.named_parameters(), cached.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert torch.equal(p.grad, q.grad), name


def test_no_reuse_while_training_with_dropout():
    ids, mask = batch()
    model, cache = tiny_bert(0.1), {}
    reference = copy.deepcopy(model)
    reuse_frozen_outputs(model, 2, 0.1, cache)
    model.train(), reference.train()
    torch.manual_seed(3)
    got = model(ids, attention_mask=mask).logits
    torch.manual_seed(3)
    expected = reference(ids, attention_mask=mask).logits
    assert torch.equal(got, expected) and not cache           # the same random masks, nothing stored
    model.eval()
    model(ids, attention_mask=mask)
    assert len(cache) == 1                                    # without dropout (eval) it is reused


def test_trainable_blocks_are_refused():
    model = tiny_bert(0.0)
    model.base_model.encoder.layer[1].requires_grad_(True)
    with pytest.raises(ValueError, match="must be frozen"):
        reuse_frozen_outputs(model, 2, 0.0, {})
