"""shared.nn.lora against the `peft` library: same A and B on the same base model, same outputs.

Every check builds a tiny randomly initialised Llama from a `LlamaConfig` (the SmolLM2 architecture),
so no weights are downloaded.
"""
import copy

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from shared.nn.lora import LoRALinear, add_lora, lora_layers, lora_state_dict, merge_lora

TOL = dict(rtol=1e-5, atol=1e-5)
TARGETS = ["q_proj", "v_proj", "down_proj"]


def tiny_llama(seed=0):
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def tokens(seed=1, batch=2, length=7):
    return torch.randint(0, 97, (batch, length), generator=torch.Generator().manual_seed(seed))


def randomize_b(model, seed=2):
    """B starts at zero (LoRA = base model); give it values so that the update is not trivially 0."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator) * 0.1)


def test_starts_as_the_base_model():
    base = tiny_llama()
    ids = tokens()
    with torch.no_grad():
        expected = base(ids).logits
        ours = add_lora(copy.deepcopy(base), TARGETS, r=4, alpha=8)(ids).logits
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)     # B = 0: exactly the base model


def test_matches_peft_with_the_same_a_and_b():
    from peft import LoraConfig, get_peft_model

    base = tiny_llama()
    ours = add_lora(copy.deepcopy(base), TARGETS, r=4, alpha=8)
    randomize_b(ours)
    theirs = get_peft_model(copy.deepcopy(base), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                            target_modules=TARGETS)).eval()
    ours_layers = lora_layers(ours)
    assert len(ours_layers) == 2 * len(TARGETS)                     # 2 blocks x 3 targets
    with torch.no_grad():
        for name, layer in ours_layers.items():                     # copy our A and B into peft's layer
            peft_layer = theirs.base_model.model.get_submodule(name)
            assert peft_layer.scaling["default"] == layer.scaling == 2.0
            assert peft_layer.lora_A["default"].weight.shape == layer.lora_A.shape    # (r, in)
            assert peft_layer.lora_B["default"].weight.shape == layer.lora_B.shape    # (out, r)
            peft_layer.lora_A["default"].weight.copy_(layer.lora_A)
            peft_layer.lora_B["default"].weight.copy_(layer.lora_B)
        ids = tokens()
        ours_logits, theirs_logits = ours(ids).logits, theirs(ids).logits
        base_logits = base(ids).logits
    torch.testing.assert_close(ours_logits, theirs_logits, **TOL)
    assert (ours_logits - base_logits).abs().max() > 1e-3            # and the update did something
    n_ours = sum(p.numel() for p in ours.parameters() if p.requires_grad)
    n_theirs = sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    assert n_ours == n_theirs == 2 * (4 * (64 + 64) + 4 * (64 + 32) + 4 * (96 + 64))


def test_merged_equals_unmerged_and_is_plain_linear():
    base = tiny_llama()
    model = add_lora(copy.deepcopy(base), TARGETS, r=4, alpha=8)
    randomize_b(model)
    ids = tokens()
    with torch.no_grad():
        unmerged = model(ids).logits
        merged_model = merge_lora(model)
        merged = merged_model(ids).logits
    torch.testing.assert_close(merged, unmerged, **TOL)
    assert not lora_layers(merged_model)
    assert sum(p.numel() for p in merged_model.parameters()) == sum(p.numel() for p in base.parameters())
    assert set(merged_model.state_dict()) == set(base.state_dict())  # loads into the original architecture


def test_merge_keeps_the_bias():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(10, 6, bias=True), r=2, alpha=4)
    nn.init.normal_(layer.lora_B)
    x = torch.randn(3, 10)
    torch.testing.assert_close(layer.merged()(x), layer(x), **TOL)
    torch.testing.assert_close(layer.merged().weight, layer.base.weight + 2.0 * layer.lora_B @ layer.lora_A)


def test_only_a_and_b_get_gradients():
    model = add_lora(tiny_llama(), TARGETS, r=4, alpha=8, dropout=0.1).train()
    randomize_b(model)
    ids = tokens()
    model(ids, labels=ids).loss.backward()
    for name, p in model.named_parameters():
        is_lora = "lora_A" in name or "lora_B" in name
        assert p.requires_grad == is_lora, name
        assert (p.grad is not None) == is_lora, name
        if is_lora:
            assert p.grad.abs().sum() > 0, name
    assert set(lora_state_dict(model)) == {n for n, p in model.named_parameters() if p.requires_grad}


def test_rejects_unknown_targets_and_bad_rank():
    with pytest.raises(ValueError, match="no nn.Linear"):
        add_lora(tiny_llama(), ["qkv"], r=4, alpha=8)
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(4, 4), r=0, alpha=1)
