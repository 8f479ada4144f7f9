"""shared.nn.adapters: Houlsby-style bottleneck adapters on a tiny random Llama (no weights downloaded).

`peft` has no bottleneck adapter to compare with, so the checks are the adapter's defining properties:
identity at initialisation, the formula h + up(act(down(h))) at the right places, the parameter count,
and gradients only where they belong.
"""
import copy

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from shared.nn.adapters import BottleneckAdapter, WithAdapter, add_adapters

TOL = dict(rtol=1e-5, atol=1e-5)


def tiny_llama(seed=0):
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def tokens(seed=1):
    return torch.randint(0, 97, (2, 7), generator=torch.Generator().manual_seed(seed))


def test_starts_as_the_base_model():
    base = tiny_llama()
    model = add_adapters(copy.deepcopy(base), ["o_proj", "down_proj"], bottleneck=8)
    with torch.no_grad():
        torch.testing.assert_close(model(tokens()).logits, base(tokens()).logits, rtol=0, atol=0)


def test_formula_and_placement():
    base = tiny_llama()
    model = add_adapters(copy.deepcopy(base), ["o_proj", "down_proj"], bottleneck=8)
    wrapped = [n for n, m in model.named_modules() if isinstance(m, WithAdapter)]
    assert wrapped == ["model.layers.0.self_attn.o_proj", "model.layers.0.mlp.down_proj",
                       "model.layers.1.self_attn.o_proj", "model.layers.1.mlp.down_proj"]
    layer = model.get_submodule("model.layers.0.mlp.down_proj")
    torch.manual_seed(3)
    nn.init.normal_(layer.adapter.up.weight)
    x = torch.randn(3, 96)
    h = x @ layer.base.weight.T                                                # the frozen down_proj
    a = layer.adapter
    expected = h + (torch.nn.functional.gelu(h @ a.down.weight.T + a.down.bias) @ a.up.weight.T + a.up.bias)
    torch.testing.assert_close(layer(x), expected, **TOL)


def test_parameter_count_and_gradients():
    model = add_adapters(tiny_llama(), ["o_proj", "down_proj"], bottleneck=8).train()
    per_adapter = 64 * 8 + 8 + 8 * 64 + 64                                   # down (W, b) + up (W, b)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 4 * per_adapter
    for adapter in (m for m in model.modules() if isinstance(m, BottleneckAdapter)):
        nn.init.normal_(adapter.up.weight, std=0.1)                           # so that `down` gets gradients too
    ids = tokens()
    model(ids, labels=ids).loss.backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == ("adapter" in name), name


def test_train_norms_adds_only_the_norm_gains():
    model = add_adapters(tiny_llama(), "o_proj", bottleneck=4, train_norms=True)
    names = {n for n, p in model.named_parameters() if p.requires_grad and "adapter" not in n}
    assert names and all("norm" in n for n in names)
    with pytest.raises(ValueError, match="no nn.Linear"):
        add_adapters(tiny_llama(), ["ffn"], bottleneck=4)
