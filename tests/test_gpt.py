"""shared.nn.gpt against transformers' GPT2LMHeadModel with the same (random) weights."""
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from shared.nn.gpt import GPT, GPTConfig, filter_logits


@pytest.fixture(scope="module")
def hf_and_ours():
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=101, n_positions=32, n_embd=48, n_layer=3, n_head=4,
                                    resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)).eval()
    return hf, GPT.from_hf(hf).eval()


def test_logits_equal_hf_gpt2(hf_and_ours):
    hf, ours = hf_and_ours
    idx = torch.randint(0, 101, (2, 32), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(idx)[0], hf(idx).logits, rtol=1e-5, atol=1e-5)


def test_loss_equals_hf_shifted_loss(hf_and_ours):
    hf, ours = hf_and_ours
    idx = torch.randint(0, 101, (2, 17), generator=torch.Generator().manual_seed(2))
    _, loss = ours(idx[:, :-1], targets=idx[:, 1:])
    torch.testing.assert_close(loss, hf(idx, labels=idx).loss, rtol=1e-5, atol=1e-5)


def test_same_parameter_count_as_hf(hf_and_ours):
    hf, ours = hf_and_ours
    assert ours.num_params(non_embedding=False) == sum(p.numel() for p in hf.parameters())


def test_greedy_generation_matches_hf(hf_and_ours):
    hf, ours = hf_and_ours
    prompt = torch.tensor([[5, 17, 42]])
    theirs = hf.generate(prompt, max_new_tokens=10, do_sample=False, pad_token_id=0)
    assert torch.equal(ours.generate(prompt, max_new_tokens=10, temperature=0), theirs)


def test_causality_future_tokens_do_not_change_past_logits():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()
    a = torch.randint(0, 50, (1, 16))
    b = a.clone()
    b[0, 10:] = (b[0, 10:] + 1) % 50
    torch.testing.assert_close(model(a)[0][:, :10], model(b)[0][:, :10])


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    # the nucleus is the smallest set reaching 0.75: {0.5, 0.3}
    assert torch.isinf(filter_logits(logits, top_p=0.75)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.81)).tolist() == [[False, False, False, True]]


def test_too_long_input_is_a_clear_error():
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 5, dtype=torch.long))
