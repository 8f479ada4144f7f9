"""shared.nn.encoder: blocks equal torch.nn.TransformerEncoderLayer (same weights); positions; masks."""
import math

import pytest
import torch
from torch import nn

from shared.nn.encoder import (
    EncoderBlock,
    EncoderConfig,
    PositionalEncoding,
    TransformerEncoder,
    mean_pool,
    sinusoidal_positions,
)

TOL = dict(rtol=1e-5, atol=1e-5)


def torch_layer(norm_first, activation="relu", seed=0):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                       activation=activation, batch_first=True, norm_first=norm_first)
    with torch.no_grad():  # non-trivial norm parameters, so they are compared too
        for norm in (layer.norm1, layer.norm2):
            norm.weight.normal_(1.0, 0.2)
            norm.bias.normal_(0.0, 0.2)
    return layer.eval()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_block_matches_torch_encoder_layer(norm_first, activation):
    layer = torch_layer(norm_first, activation)
    ours = EncoderBlock.from_torch(layer).eval()
    x = torch.randn(2, 7, 32)
    torch.testing.assert_close(ours(x)[0], layer(x), **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_masks_match_torch(norm_first):
    layer = torch_layer(norm_first)
    ours = EncoderBlock.from_torch(layer).eval()
    x = torch.randn(2, 6, 32)
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    causal_blocked = torch.ones(6, 6, dtype=torch.bool).triu(1)  # torch: True = blocked
    theirs = layer(x, src_mask=causal_blocked, src_key_padding_mask=attention_mask == 0)
    ours_out, weights = ours(x, mask=attention_mask.bool()[:, None, None, :], is_causal=True)
    torch.testing.assert_close(ours_out, theirs, **TOL)
    assert torch.all(weights[1, :, :, 4:] == 0) and torch.all(weights.triu(1) == 0)


def test_sinusoidal_table_follows_the_formula():
    table = sinusoidal_positions(50, 16)
    t, i = 7, 3
    assert table.shape == (50, 16)
    assert math.isclose(table[t, 2 * i], math.sin(t / 10_000 ** (2 * i / 16)), abs_tol=1e-6)
    assert math.isclose(table[t, 2 * i + 1], math.cos(t / 10_000 ** (2 * i / 16)), abs_tol=1e-6)


def test_sinusoidal_dot_product_depends_only_on_the_offset():
    table = sinusoidal_positions(64, 32)
    offset = 5
    dots = (table[:-offset] * table[offset:]).sum(-1)  # PE(t) . PE(t + 5) for every t
    torch.testing.assert_close(dots, dots[0].expand_as(dots), rtol=0, atol=1e-4)


def test_positional_encoding_kinds():
    assert sum(p.numel() for p in PositionalEncoding("sinusoidal", 10, 8).parameters()) == 0
    assert sum(p.numel() for p in PositionalEncoding("learned", 10, 8).parameters()) == 80
    assert torch.all(PositionalEncoding("none", 10, 8)(5) == 0)
    with pytest.raises(ValueError, match="unknown positional encoding"):
        PositionalEncoding("rotary", 10, 8)


def small_encoder(**overrides):
    torch.manual_seed(0)
    return TransformerEncoder(EncoderConfig(vocab_size=50, max_len=16, dim=32, num_heads=4,
                                            num_layers=2, ffn_dim=64, **overrides)).eval()


def test_without_positions_the_encoder_is_permutation_equivariant():
    encoder = small_encoder(position="none")
    ids = torch.randint(0, 50, (1, 10))
    order = torch.randperm(10)
    torch.testing.assert_close(encoder(ids[:, order]).hidden, encoder(ids).hidden[:, order], **TOL)


def test_with_positions_permuting_the_input_changes_the_output():
    encoder = small_encoder(position="sinusoidal")
    ids = torch.arange(10)[None]
    order = torch.arange(9, -1, -1)
    assert not torch.allclose(encoder(ids[:, order]).hidden, encoder(ids).hidden[:, order], atol=1e-3)


def test_padding_does_not_change_real_tokens():
    encoder = small_encoder()
    ids = torch.randint(1, 50, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 6 + [0] * 3])
    torch.testing.assert_close(encoder(padded, mask).hidden[:, :6], encoder(ids).hidden, **TOL)
    torch.testing.assert_close(mean_pool(encoder(padded, mask).hidden, mask),
                               encoder(ids).hidden.mean(1), **TOL)


@pytest.mark.parametrize("norm", ["layer", "rms"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_causal_stack_never_looks_ahead(norm, norm_first):
    encoder = small_encoder(causal=True, norm=norm, norm_first=norm_first)
    a = torch.randint(0, 50, (1, 12))
    b = a.clone()
    b[0, 8:] = (b[0, 8:] + 1) % 50
    torch.testing.assert_close(encoder(a).hidden[:, :8], encoder(b).hidden[:, :8], **TOL)


def test_outputs_keep_every_layer():
    out = small_encoder(norm_first=True)(torch.randint(0, 50, (3, 9)))
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    assert out.attentions[0].shape == (3, 4, 9, 9)
    assert not torch.allclose(out.hidden, out.hidden_states[-1])  # pre-norm: a final norm follows


def test_too_long_input_is_a_clear_error():
    with pytest.raises(ValueError, match="exceeds max_len"):
        small_encoder()(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("norm", ["layer", "rms"])
def test_torch_norm_kernels_give_the_same_model(norm):
    ours, theirs = (small_encoder(norm=norm, norm_first=True, causal=True, norm_library=library)
                    for library in ("ours", "torch"))
    theirs.load_state_dict(ours.state_dict())
    ids = torch.randint(0, 50, (2, 9))
    torch.testing.assert_close(ours(ids).hidden, theirs(ids).hidden, **TOL)
