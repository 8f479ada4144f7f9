"""The preference-labelling UI driven programmatically, the judges' arithmetic, and the labelled file."""
import json

import pytest

from shared.infer.judge import cohen_kappa, metric_judge, swap_consistent_label
from shared.text.preference_ui import PairLabeller, read_labels

PAIRS = [{"id": f"p{i}", "document": "The council approved two bus lines.", "a": f"answer a{i}", "b": f"answer b{i}"}
         for i in range(3)]


def test_labeller_saves_each_click_and_advances(tmp_path):
    path = tmp_path / "labels.jsonl"
    labeller = PairLabeller(PAIRS, path, annotator="test")
    assert "answer a0" in labeller.left.value and "answer b0" in labeller.right.value
    labeller.buttons["A"].click()                                  # the real button's handler
    assert read_labels(path) == [{"id": "p0", "label": "A", "annotator": "test"}]   # saved at once
    assert "answer a1" in labeller.left.value
    labeller.click("tie")
    labeller.buttons["B"].click()
    assert [row["label"] for row in read_labels(path)] == ["A", "tie", "B"]
    assert all(button.disabled for button in labeller.buttons.values())
    labeller.click("A")                                            # nothing left: no extra line
    assert len(path.read_text().splitlines()) == 3


def test_labeller_resumes_after_labelled_pairs(tmp_path):
    path = tmp_path / "labels.jsonl"
    PairLabeller(PAIRS, path).click("B")
    resumed = PairLabeller(PAIRS, path)
    assert resumed.position == 1 and "answer a1" in resumed.left.value
    with pytest.raises(ValueError):
        resumed.click("C")


def test_cohen_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    x = ["A", "A", "B", "tie", "B", "A", "B", "A"]
    y = ["A", "B", "B", "tie", "A", "A", "B", "tie"]
    assert cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y), abs=1e-12)
    assert cohen_kappa(x, x) == pytest.approx(1.0)


def test_metric_judge_and_swap_consistency():
    reference = "Council approves two new bus lines"
    assert metric_judge("Council approves two bus lines.", "The weather was sunny.", reference) == "A"
    assert metric_judge("The weather was sunny.", "Council approves two bus lines.", reference) == "B"
    assert metric_judge("Council approves bus lines.", "Council approves bus lines.", reference) == "tie"
    assert swap_consistent_label(0.9, 0.8) == "A"       # a wins in both orders
    assert swap_consistent_label(0.9, 0.2) == "tie"     # the verdict followed the position: inconsistent
    assert swap_consistent_label(0.3, 0.1) == "B"


def test_labelled_pairs_file():
    from shared.train.preference_dpo import annotator_labels

    rows = annotator_labels()                           # checks the SHA-256
    assert len(rows) == 36 and len({r["id"] for r in rows}) == 36
    assert {r["label"] for r in rows} <= {"A", "B", "tie"}
    assert all(r["a"] != r["b"] and r["document"] and r["reference"] for r in rows)
    json.dumps(rows)


def test_pairs_and_standard_format():
    from shared.train.preference_dpo import candidate_pairs, preference_rows

    prompts = [{"document": "Lead one.", "summary": "Headline one"}]
    pairs = candidate_pairs(prompts, [["x", "y", "z"]], (0.3, 0.7, 1.1))
    assert [(p["a"], p["b"]) for p in pairs] == [("x", "y"), ("x", "z"), ("y", "z")]   # every two of a prompt
    assert pairs[1]["temperature_b"] == 1.1 and pairs[0]["reference"] == "Headline one"
    rows = preference_rows(pairs, ["A", "tie", "B"])                                   # the tie is dropped
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [("x", "y"), ("z", "y")]
    assert rows[0]["prompt"][0]["role"] == "user" and "Lead one." in rows[0]["prompt"][0]["content"]


def test_encode_pair_masks_the_prompt():
    from transformers import AutoTokenizer

    from shared.models import model_source
    from shared.train.preference_dpo import encode_pair

    tokenizer = AutoTokenizer.from_pretrained(model_source("causal_lm"))
    row = encode_pair(tokenizer, "The council approved two bus lines.", "Council approves bus lines.", max_length=200)
    answer = tokenizer.decode([i for i, m in zip(row["input_ids"], row["completion_mask"]) if m])
    assert answer == "Council approves bus lines.<|im_end|>"
    assert len(row["input_ids"]) == len(row["completion_mask"])


def test_score_answers_runs_each_pair_once_and_matches_single_rows():
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from shared.models import model_source
    from shared.train.dpo import completion_logps
    from shared.train.preference_dpo import encode_pair, padded, score_answers

    tokenizer = AutoTokenizer.from_pretrained(model_source("causal_lm"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    docs = ["The council approved two bus lines.", "Rain is expected all week in the north."]
    pairs = [(docs[0], "Council approves bus lines."), (docs[1], "Rain all week."), (docs[0], "Two new bus lines."),
             (docs[0], "Council approves bus lines.")]                       # the last repeats the first
    calls = []
    hook = model.register_forward_hook(lambda module, args, kwargs, out: calls.append(kwargs["input_ids"].shape[0]),
                                       with_kwargs=True)
    logps, feats = score_answers(model, tokenizer, [d for d, _ in pairs], [a for _, a in pairs], 200, batch_size=2)
    hook.remove()
    assert sum(calls) == 3                                                   # three distinct pairs, each run once
    assert logps[3] == logps[0] and torch.equal(feats[3], feats[0]) and feats.shape == (4, 32)
    with torch.no_grad():
        for (doc, answer), logp, feat in zip(pairs, logps, feats):          # one row at a time, no padding
            ids, mask, completion = padded([encode_pair(tokenizer, doc, answer, 200)], tokenizer.pad_token_id)
            assert logp == pytest.approx(completion_logps(model, ids, mask, completion).item(), abs=1e-4)
            hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
            assert torch.allclose(feat, hidden[0, -1], atol=1e-5)
