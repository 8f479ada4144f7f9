"""shared.infer.llm.chat_batch gives the same greedy replies as `chat` one prompt at a time, despite
the left padding that batching needs (a tiny random Llama with SmolLM2's tokenizer: no weights)."""
import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from shared.assets import require
from shared.infer.llm import chat, chat_batch


@pytest.fixture(scope="module")
def tiny_chat_model():
    tokenizer = AutoTokenizer.from_pretrained(require("smollm2"))  # BPE 49k with a chat template
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config).eval(), tokenizer


def test_batched_replies_equal_single_replies(tiny_chat_model):
    model, tokenizer = tiny_chat_model
    prompts = ["Hi", "Translate into German: The dog is running on the beach.", "What is 2 + 2?"]
    single = [chat(model, tokenizer, p, max_new_tokens=6, system="Be brief.") for p in prompts]
    batched = chat_batch(model, tokenizer, prompts, max_new_tokens=6, system="Be brief.", batch_size=2)
    assert batched == single
    assert all(batched)  # a random model still emits something


def test_padding_side_is_restored(tiny_chat_model):
    model, tokenizer = tiny_chat_model
    tokenizer.padding_side = "right"
    chat_batch(model, tokenizer, ["a", "bb"], max_new_tokens=2)
    assert tokenizer.padding_side == "right"
