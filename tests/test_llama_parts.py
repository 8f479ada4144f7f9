"""shared.nn.llama_parts against Hugging Face's Llama implementation: same weights, same outputs.

Every check builds a tiny randomly initialised `LlamaConfig`, so no weights are downloaded.
"""
import dataclasses

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama import modeling_llama as hf

from shared.nn.llama_parts import (
    LLAMA2,
    GroupedQueryAttention,
    Llama,
    LlamaShape,
    RMSNorm,
    RotaryEmbedding,
    SwiGLU,
    apply_rope,
    kv_cache_bytes,
    parameter_count,
)

TOL = dict(rtol=1e-5, atol=1e-5)


def tiny_config(num_kv_heads=2, tie=False, head_dim=None):
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=8, num_key_value_heads=num_kv_heads, head_dim=head_dim,
                         max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=tie,
                         rope_theta=500.0)
    config._attn_implementation = "eager"
    return config


def hf_model(config, seed=0):
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def hf_rope(config, batch, length):
    positions = torch.arange(length).expand(batch, length)
    x = torch.zeros(batch, length, config.hidden_size)
    return hf.LlamaRotaryEmbedding(config)(x, positions)        # (cos, sin), each (B, T, hd)


def additive_causal_mask(length):
    blocked = torch.ones(length, length, dtype=torch.bool).triu(diagonal=1)
    return torch.zeros(length, length).masked_fill(blocked, torch.finfo(torch.float32).min)[None, None]


def test_shape_reads_hf_config():
    shape = LlamaShape.from_hf(tiny_config())
    assert (shape.hidden_size, shape.num_heads, shape.num_kv_heads, shape.hd, shape.rope_theta) == (64, 8, 2, 8, 500.0)


def test_rmsnorm_matches_hf():
    torch.manual_seed(0)
    ours, theirs = RMSNorm(64, eps=1e-6), hf.LlamaRMSNorm(64, eps=1e-6)
    theirs.weight.data.normal_()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 5, 64) * 3 + 1
    torch.testing.assert_close(ours(x), theirs(x), **TOL)
    rms = ours(x).div(ours.weight).pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-4, atol=1e-4)  # unit RMS before the gain


def test_rotary_cos_sin_and_rotation_match_hf():
    config = tiny_config()
    cos_hf, sin_hf = hf_rope(config, batch=2, length=11)
    cos, sin = RotaryEmbedding(8, theta=500.0)(torch.arange(11).expand(2, 11))
    torch.testing.assert_close(cos, cos_hf, **TOL)
    torch.testing.assert_close(sin, sin_hf, **TOL)
    q, k = torch.randn(2, 8, 11, 8), torch.randn(2, 2, 11, 8)
    q_hf, k_hf = hf.apply_rotary_pos_emb(q, k, cos_hf, sin_hf)
    torch.testing.assert_close(apply_rope(q, cos, sin), q_hf, **TOL)
    torch.testing.assert_close(apply_rope(k, cos, sin), k_hf, **TOL)


def test_apply_rope_takes_any_leading_batch_dimensions():
    config = tiny_config()
    cos, sin = hf_rope(config, batch=6, length=11)              # (6, T, hd)
    q = torch.randn(6, 8, 11, 8)                                # (6, H, T, hd)
    expected, _ = hf.apply_rotary_pos_emb(q, q, cos, sin)
    two_axes = apply_rope(q.view(2, 3, 8, 11, 8), cos.view(2, 3, 11, 8), sin.view(2, 3, 11, 8))
    torch.testing.assert_close(two_axes.reshape(6, 8, 11, 8), expected, **TOL)       # (B1, B2, H, T, hd)
    one_sequence = apply_rope(q[4], cos[4], sin[4])              # (H, T, hd) with (T, hd)
    torch.testing.assert_close(one_sequence, expected[4], **TOL)
    same_positions = apply_rope(q, cos[0], sin[0])              # (T, hd): every sequence at 0..T-1
    torch.testing.assert_close(same_positions, expected, **TOL)  # (hf_rope gives each row the same positions)
    with pytest.raises(ValueError, match="heads"):
        apply_rope(q[0, 0], cos, sin)                           # (T, hd) with per-sequence (6, T, hd)


def test_rope_scores_depend_only_on_the_relative_position():
    rope = RotaryEmbedding(16)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(m, n):
        cos_m, sin_m = rope(torch.tensor([[m]]))
        cos_n, sin_n = rope(torch.tensor([[n]]))
        return (apply_rope(q, cos_m, sin_m) * apply_rope(k, cos_n, sin_n)).sum()

    torch.testing.assert_close(score(7, 3), score(104, 100), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(apply_rope(q, *rope(torch.tensor([[5]]))).norm(), q.norm(), **TOL)  # a rotation


def test_swiglu_matches_hf_mlp():
    config = tiny_config()
    torch.manual_seed(0)
    theirs = hf.LlamaMLP(config)
    ours = SwiGLU(64, 96)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 4, 64)
    torch.testing.assert_close(ours(x), theirs(x), **TOL)


@pytest.mark.parametrize("num_kv_heads", [8, 2, 1])  # multi-head, grouped-query, multi-query
def test_attention_matches_hf(num_kv_heads):
    config = tiny_config(num_kv_heads)
    torch.manual_seed(0)
    theirs = hf.LlamaAttention(config, layer_idx=0).eval()
    ours = GroupedQueryAttention(LlamaShape.from_hf(config))
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 9, 64)
    cos, sin = hf_rope(config, 2, 9)
    expected, _ = theirs(hidden_states=x, position_embeddings=(cos, sin), attention_mask=additive_causal_mask(9))
    out, (k, v) = ours(x, cos, sin)
    torch.testing.assert_close(out, expected, **TOL)
    assert k.shape == v.shape == (2, num_kv_heads, 9, 8)        # only G heads are cached


def test_attention_is_causal():
    ours = GroupedQueryAttention(LlamaShape.from_hf(tiny_config()))
    x = torch.randn(1, 6, 64)
    cos, sin = RotaryEmbedding(8, 500.0)(torch.arange(6)[None])
    changed = x.clone()
    changed[:, 4:] += 1.0                                       # change only the last two tokens
    torch.testing.assert_close(ours(x, cos, sin)[0][:, :4], ours(changed, cos, sin)[0][:, :4], **TOL)


@pytest.mark.parametrize("num_kv_heads,tie,head_dim", [(2, False, None), (8, True, None), (4, False, 16)])
def test_whole_model_logits_match_hf(num_kv_heads, tie, head_dim):
    theirs = hf_model(tiny_config(num_kv_heads, tie, head_dim))
    ours = Llama.from_hf(theirs).eval()
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids)[0], theirs(ids).logits, **TOL)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_kv_cache_decoding_equals_the_full_forward():
    ours = Llama.from_hf(hf_model(tiny_config())).eval()
    ids = torch.randint(0, 97, (2, 10), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, _ = ours(ids)
        logits, cache = ours(ids[:, :6])                        # prompt
        steps = [logits]
        for t in range(6, 10):                                  # then one token at a time
            logits, cache = ours(ids[:, t:t + 1], cache)
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)
    assert cache[0][0].shape == (2, 2, 10, 8)


@pytest.mark.parametrize("num_kv_heads,tie", [(2, False), (8, True)])
def test_parameter_count_formula(num_kv_heads, tie):
    config = tiny_config(num_kv_heads, tie)
    assert parameter_count(LlamaShape.from_hf(config)) == sum(p.numel() for p in hf_model(config).parameters())


def test_llama2_7b_parameter_count_matches_hf_on_the_meta_device():
    shape = LLAMA2["7B"]
    config = LlamaConfig(vocab_size=shape.vocab_size, hidden_size=shape.hidden_size,
                         intermediate_size=shape.intermediate_size, num_hidden_layers=shape.num_layers,
                         num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads)
    with torch.device("meta"):                                  # shapes only, no memory
        n_hf = sum(p.numel() for p in LlamaForCausalLM(config).parameters())
    assert parameter_count(shape) == n_hf == 6_738_415_616


def test_llama2_published_sizes():
    sizes = {name: parameter_count(shape) / 1e9 for name, shape in LLAMA2.items()}
    assert round(sizes["7B"], 2) == 6.74 and round(sizes["13B"], 1) == 13.0 and round(sizes["70B"], 1) == 69.0


def test_kv_cache_bytes_formula_matches_real_cache_and_gqa_saving():
    shape = LlamaShape.from_hf(tiny_config())
    _, cache = Llama(shape)(torch.zeros(3, 7, dtype=torch.long))
    measured = sum(t.numel() * t.element_size() for k, v in cache for t in (k, v))
    assert kv_cache_bytes(shape, tokens=7, batch=3, bytes_per_value=4) == measured
    mha = dataclasses.replace(LLAMA2["70B"], num_kv_heads=64)  # the same model without GQA
    assert kv_cache_bytes(mha, 4096) / kv_cache_bytes(LLAMA2["70B"], 4096) == 8
