"""The code assistant's decoder (rows leave the batch when they finish) against transformers'
`generate`, and the prompts' shape."""
import pytest
import torch

from shared.apps import code_assistant as ca


@pytest.fixture(scope="module")
def smollm2():
    from shared.models import load_causal_lm

    model, tokenizer = load_causal_lm()
    return model.eval(), tokenizer


TASKS = [{"language": "python", "prompt": "Write a Python function `add(a, b)` that returns a + b."},
         {"language": "javascript", "prompt": "Write a JavaScript function `isEven(n)` that returns true if n is even."}]


def test_greedy_replies_match_transformers_generate(smollm2):
    model, tokenizer = smollm2
    ours = ca.generate(model, tokenizer, [ca.conversation(t) for t in TASKS], max_new_tokens=24)
    for task, (reply,) in zip(TASKS, ours):
        ids = tokenizer.apply_chat_template(ca.conversation(task), add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        theirs = ca._cut_after_block(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)).strip()
        assert reply == theirs


def test_sampling_is_seeded_and_gives_samples_per_prompt(smollm2):
    model, tokenizer = smollm2
    conversations = [ca.conversation(t) for t in TASKS]
    a = ca.generate(model, tokenizer, conversations, temperature=0.9, samples=2, max_new_tokens=12, seed=3)
    b = ca.generate(model, tokenizer, conversations, temperature=0.9, samples=2, max_new_tokens=12, seed=3)
    assert a == b and [len(r) for r in a] == [2, 2]
    with pytest.raises(ValueError, match="greedy decoding gives one reply"):
        ca.generate(model, tokenizer, conversations, samples=2)


def test_prompts():
    few = ca.conversation(TASKS[1], "few_shot")
    assert [m["role"] for m in few] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "```javascript" in few[2]["content"] and few[-1]["content"] == TASKS[1]["prompt"]
    repair = ca.repair_conversation(ca.conversation(TASKS[0]), "```python\nx\n```", "NameError: x")
    assert repair[-2]["role"] == "assistant" and "NameError: x" in repair[-1]["content"]
    with pytest.raises(ValueError, match="style must be one of"):
        ca.conversation(TASKS[0], "three_shot")
