"""shared.infer.llm, shared.infer.embed and shared.utils on tiny random models (no weights needed)."""
import math
import time

import pytest
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

from shared.infer.embed import sentence_embeddings
from shared.infer.llm import perplexity
from shared.utils import best_seconds, measure, set_seed


class CharTokenizer:
    """Just enough of a HF tokenizer for these tests: one id per character."""
    pad_token_id = 0

    def __call__(self, texts, return_tensors="pt", padding=False, truncation=True, max_length=64):
        single = isinstance(texts, str)
        rows = [[3 + ord(c) % 90 for c in t[:max_length]] for t in ([texts] if single else texts)]
        width = max(map(len, rows))
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return _Batch(input_ids=ids, attention_mask=mask)


class _Batch(dict):
    def __getattr__(self, name):
        return self[name]

    def to(self, device):
        return self


@pytest.fixture(scope="module")
def tiny_gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()


@pytest.fixture(scope="module")
def tiny_bert():
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64)).eval()


def test_perplexity_is_exp_of_mean_token_nll(tiny_gpt2):
    tokenizer = CharTokenizer()
    texts = ["hello world", "perplexity!"]
    nll, count = 0.0, 0
    for text in texts:
        ids = tokenizer(text).input_ids
        logp = torch.log_softmax(tiny_gpt2(ids).logits[0, :-1], dim=-1)
        nll -= logp.gather(1, ids[0, 1:, None]).sum().item()
        count += ids.shape[1] - 1
    assert perplexity(tiny_gpt2, tokenizer, texts) == pytest.approx(math.exp(nll / count), rel=1e-5)


def test_untrained_model_perplexity_is_near_vocab_size(tiny_gpt2):
    ppl = perplexity(tiny_gpt2, CharTokenizer(), ["some text to score " * 3])
    assert 30 < ppl < 300  # uniform over 96 tokens would be 96


def test_sentence_embeddings_ignore_padding(tiny_bert):
    tokenizer = CharTokenizer()
    alone = sentence_embeddings(tiny_bert, tokenizer, ["short"])
    batched = sentence_embeddings(tiny_bert, tokenizer, ["short", "a much longer sentence here"])
    torch.testing.assert_close(alone[0], batched[0], rtol=1e-5, atol=1e-5)
    assert batched.shape == (2, 32)
    torch.testing.assert_close(batched.norm(dim=-1), torch.ones(2))


def test_set_seed_makes_torch_repeatable():
    set_seed(3)
    a = torch.randn(4)
    set_seed(3)
    assert torch.equal(a, torch.randn(4))


def test_measure_reports_time_and_python_memory():
    with measure() as m:
        block = bytearray(8 * 2**20)
        time.sleep(0.01)
    assert m.seconds >= 0.01 and m.peak_mb >= 8
    del block


def test_measure_counts_cpu_time_not_waiting():
    with measure(track_memory=False) as m:
        time.sleep(0.05)                       # waiting: wall time, almost no CPU time
        sum(i * i for i in range(300_000))     # computing: CPU time
    assert m.seconds >= 0.05
    assert 0 < m.cpu_seconds < m.seconds


def test_best_seconds_runs_workloads_in_turns_and_ignores_waiting():
    calls = []
    workloads = {
        "sleepy": lambda: (calls.append("sleepy"), time.sleep(0.02)),        # waits: ~0 CPU time
        "busy": lambda: (calls.append("busy"), sum(i * i for i in range(50_000))),
    }
    best = best_seconds(workloads, repeats=3)
    assert calls == ["sleepy", "busy"] * 4                 # one warm-up each, then 3 rounds in turn
    assert best["sleepy"] < 0.01                         # CPU time, not the 20 ms of sleep
    assert best["busy"] > 0
