"""shared.nn.attention against torch's fused attention and torch.nn.MultiheadAttention (same weights)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shared.nn.attention import MultiHeadAttention, causal_mask, padding_mask, scaled_dot_product_attention

TOL = dict(rtol=1e-5, atol=1e-5)


def qkv(batch=2, heads=3, queries=5, keys=7, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, heads, queries, dim, generator=g),
            torch.randn(batch, heads, keys, dim, generator=g),
            torch.randn(batch, heads, keys, dim, generator=g))


def test_matches_torch_without_mask():
    q, k, v = qkv()
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5), **TOL)


def test_matches_torch_with_padding_mask():
    q, k, v = qkv()
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]])  # (B, S)
    mask = padding_mask(attention_mask)                                           # (B, 1, 1, S)
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
    assert torch.all(weights[1, :, :, 3:] == 0), "padded keys must get exactly zero weight"


def test_padding_does_not_change_real_tokens():
    q, k, v = qkv(batch=1, queries=4, keys=4)
    padded = [torch.cat([t, torch.randn(1, 3, 2, 8)], dim=2) for t in (q, k, v)]  # two junk tokens
    mask = padding_mask(torch.tensor([[1, 1, 1, 1, 0, 0]]))
    out_padded, _ = scaled_dot_product_attention(*padded, mask=mask)
    torch.testing.assert_close(out_padded[:, :, :4], scaled_dot_product_attention(q, k, v)[0], **TOL)


def test_matches_torch_causal():
    q, k, v = qkv(queries=6, keys=6)
    out, weights = scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)
    assert torch.all(weights.triu(diagonal=1) == 0), "no weight on future positions"


def test_causal_flag_equals_explicit_causal_mask():
    q, k, v = qkv(queries=6, keys=6)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=causal_mask(6))[0],
                               scaled_dot_product_attention(q, k, v, is_causal=True)[0], **TOL)


def test_matches_torch_with_float_mask():
    q, k, v = qkv()
    bias = torch.randn(5, 7, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=bias)[0],
                               F.scaled_dot_product_attention(q, k, v, attn_mask=bias), **TOL)


@pytest.fixture
def torch_mha():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(embed_dim=16, num_heads=4, batch_first=True).eval()
    with torch.no_grad():  # torch initialises biases to zero: make them non-zero so they are tested
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    return mha


def test_multi_head_self_attention_matches_torch(torch_mha):
    ours = MultiHeadAttention.from_torch(torch_mha).eval()
    x = torch.randn(2, 6, 16)
    out, weights = ours(x)
    theirs, their_weights = torch_mha(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, theirs, **TOL)
    torch.testing.assert_close(weights, their_weights, **TOL)


def test_multi_head_masks_match_torch(torch_mha):
    ours = MultiHeadAttention.from_torch(torch_mha).eval()
    x = torch.randn(2, 6, 16)
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    out, _ = ours(x, mask=padding_mask(attention_mask), is_causal=True)
    # torch's MultiheadAttention masks are the other way round: True = blocked
    theirs, _ = torch_mha(x, x, x, key_padding_mask=attention_mask == 0, attn_mask=~causal_mask(6))
    torch.testing.assert_close(out, theirs, **TOL)


def test_cross_attention_matches_torch(torch_mha):
    ours = MultiHeadAttention.from_torch(torch_mha).eval()
    query, memory = torch.randn(2, 3, 16), torch.randn(2, 9, 16)
    out, weights = ours(query, memory)
    assert weights.shape == (2, 4, 3, 9)
    torch.testing.assert_close(out, torch_mha(query, memory, memory)[0], **TOL)


def test_multi_head_attention_takes_one_unbatched_sequence(torch_mha):
    ours = MultiHeadAttention.from_torch(torch_mha).eval()
    x = torch.randn(6, 16)                                            # (T, D): no batch dimension
    out, weights = ours(x, is_causal=True)
    theirs, their_weights = torch_mha(x, x, x, attn_mask=~causal_mask(6), average_attn_weights=False)
    assert out.shape == (6, 16) and weights.shape == (4, 6, 6)
    torch.testing.assert_close(out, theirs, **TOL)
    torch.testing.assert_close(weights, their_weights, **TOL)


def test_multi_head_attention_takes_several_batch_dimensions(torch_mha):
    ours = MultiHeadAttention.from_torch(torch_mha).eval()
    query, memory = torch.randn(2, 3, 5, 16), torch.randn(2, 3, 7, 16)  # (B1, B2, T, D), (B1, B2, S, D)
    attention_mask = torch.randint(0, 2, (2, 3, 7)).index_fill_(-1, torch.tensor([0]), 1)  # keep >= 1 key
    out, weights = ours(query, memory, mask=attention_mask.bool()[:, :, None, None, :])   # (B1, B2, 1, 1, S)
    theirs, their_weights = torch_mha(query.flatten(0, 1), memory.flatten(0, 1), memory.flatten(0, 1),
                                      key_padding_mask=attention_mask.flatten(0, 1) == 0, average_attn_weights=False)
    torch.testing.assert_close(out, theirs.view(2, 3, 5, 16), **TOL)
    torch.testing.assert_close(weights, their_weights.view(2, 3, 4, 5, 7), **TOL)


def test_one_head_and_many_heads_have_the_same_parameter_count():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(MultiHeadAttention(64, 1)) == count(MultiHeadAttention(64, 8)) == 4 * (64 * 64 + 64)


def test_peak_memory_counts_tensors_alive_at_the_same_time():
    from shared.nn.attention import peak_memory_bytes

    def two_at_once():
        a = torch.ones(1024, 1024)          # 4 MiB
        b = torch.ones(1024, 1024)          # 4 MiB, while a is alive
        return (a + b).sum()                # + 4 MiB for a + b

    def one_after_another():
        for _ in range(3):
            torch.ones(1024, 1024).sum()    # each 4 MiB freed before the next

    assert 12 * 2**20 <= peak_memory_bytes(two_at_once) < 13 * 2**20
    assert 4 * 2**20 <= peak_memory_bytes(one_after_another) < 5 * 2**20


def test_our_attention_holds_the_weight_matrix_and_fused_does_not():
    from shared.nn.attention import peak_memory_bytes

    q, k, v = qkv(batch=1, heads=2, queries=512, keys=512, dim=16)
    matrix_bytes = 2 * 512 * 512 * 4
    assert peak_memory_bytes(lambda: scaled_dot_product_attention(q, k, v)) >= matrix_bytes
    assert peak_memory_bytes(lambda: F.scaled_dot_product_attention(q, k, v)) < matrix_bytes / 4
