"""shared.nn.gpt's KV cache: cached generation gives exactly the tokens of recomputing the prefix."""
import pytest
import torch

from shared.nn.gpt import GPT, GPTConfig, KVCache

VOCAB, BLOCK = 97, 24


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=3, n_head=4, n_embd=32)
    # float64: the two paths sum the same numbers in a different order; in float64 the rounding
    # differences (~1e-16) cannot flip an argmax between two logits of a random model
    return GPT(config).double().eval()


def prompt(batch, length, seed=0):
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("prompt_len,new_tokens", [
    (1, 0),                 # nothing to generate: the prompt comes back
    (1, 1),                 # only the prefill: the one new token comes from the prompt alone
    (5, 1),
    (1, 10),                # a one-token prompt, then decoding
    (7, 12),
    (7, BLOCK - 7),         # exactly up to block_size: the cache is filled to the last position
    (BLOCK, 1),             # the prompt fills the whole context window
    (5, BLOCK + 6),         # past block_size: the window slides, both paths recompute
    (BLOCK + 4, 3),         # a prompt longer than the window: both crop it
])
def test_greedy_tokens_identical_with_and_without_cache(model, batch, prompt_len, new_tokens):
    idx = prompt(batch, prompt_len, seed=prompt_len * 10 + batch)
    cached = model.generate(idx, new_tokens, temperature=0, use_cache=True)
    recomputed = model.generate(idx, new_tokens, temperature=0, use_cache=False)
    assert cached.shape == (batch, prompt_len + new_tokens)
    assert torch.equal(cached[:, :prompt_len], idx)
    assert torch.equal(cached, recomputed)


def test_cache_is_the_default_and_sampling_matches_too(model):
    idx = prompt(2, 4)
    default = model.generate(idx, 8, temperature=0)
    assert torch.equal(default, model.generate(idx, 8, temperature=0, use_cache=True))
    sampled = [model.generate(idx, 8, temperature=1.0, top_k=20, use_cache=use,
                              generator=torch.Generator().manual_seed(3)) for use in (True, False)]
    assert torch.equal(*sampled)


def test_float32_cached_logits_match_the_full_forward():
    """Token by token through the cache gives the logits of one forward pass over the sequence."""
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=16)).eval()
    idx = prompt(2, 12, seed=5)
    full = model(idx)[0]                                            # (2, 12, V)
    cache = model.new_kv_cache(batch=2, max_len=12)
    first = model(idx[:, :5], kv_cache=cache)[0]                    # a 5-token prefill
    chunk = model(idx[:, 5:8], kv_cache=cache)[0]                   # 3 tokens after 5 cached: the offset mask
    steps = [model(idx[:, t:t + 1], kv_cache=cache)[0] for t in range(8, 12)]
    torch.testing.assert_close(torch.cat([first, chunk, *steps], dim=1), full, rtol=1e-5, atol=1e-5)
    assert cache.length == 12
    torch.testing.assert_close(model(idx, last_only=True)[0], full[:, -1:])


def test_cache_memory_is_the_formula():
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=3, n_head=4, n_embd=32))
    cache = model.new_kv_cache(batch=5, max_len=20)
    assert isinstance(cache, KVCache)
    # 2 (k and v) * layers * batch * heads * positions * head_dim * 4 bytes (float32)
    assert cache.nbytes == 2 * 3 * 5 * 4 * 20 * 8 * 4


def test_cache_overflow_is_a_clear_error():
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=1, n_head=1, n_embd=8))
    cache = model.new_kv_cache(batch=1, max_len=4)
    model(prompt(1, 4), kv_cache=cache)
    with pytest.raises(ValueError, match="KV cache holds 4"):
        model(prompt(1, 1), kv_cache=cache)
