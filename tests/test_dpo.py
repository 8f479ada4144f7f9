"""shared.train.dpo against trl: the same batch through `trl.DPOTrainer.compute_loss` and through our
`completion_logps` + `dpo_loss` must give the same loss.

A tiny randomly initialised Llama (the SmolLM2 architecture) with SmolLM2's tokenizer; the reference
model has different random weights, so the log-ratios are far from zero.
"""
import math
import tempfile

import pytest
import torch
from datasets import Dataset
from transformers import LlamaConfig, LlamaForCausalLM

from shared.train.dpo import bradley_terry_loss, completion_logps, dpo_loss


def tiny_llama(vocab_size, seed):
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def test_bradley_terry_loss_is_the_logistic_likelihood():
    r_chosen, r_rejected = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    expected = -sum(math.log(1 / (1 + math.exp(-d))) for d in (2.0, -2.0, 0.0)) / 3
    assert bradley_terry_loss(r_chosen, r_rejected).item() == pytest.approx(expected, rel=1e-6)


def test_dpo_loss_at_the_reference_is_log_two():
    logps = torch.tensor([-10.0, -20.0])
    loss, chosen, rejected = dpo_loss(logps, logps - 3, logps, logps - 3, beta=0.1)
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)       # policy = reference: no preference yet
    assert torch.equal(chosen, torch.zeros(2)) and torch.equal(rejected, torch.zeros(2))


def test_dpo_loss_matches_trl():
    trl = pytest.importorskip("trl")
    from transformers import AutoTokenizer

    from shared.models import model_source

    tokenizer = AutoTokenizer.from_pretrained(model_source("causal_lm"))
    policy, reference = tiny_llama(len(tokenizer), seed=0), tiny_llama(len(tokenizer), seed=1)
    rows = [{"prompt": f"Summarise: the council approved {n} new bus lines on Monday.",
             "chosen": f" Council approves {n} bus lines.", "rejected": " The weather was sunny and warm all week long."}
            for n in (2, 3, 5, 7)]
    beta = 0.3
    args = trl.DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=4, beta=beta, report_to=[],
                         use_cpu=True, max_length=64, disable_dropout=True, seed=0)
    trainer = trl.DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.eval()
    with torch.no_grad():
        theirs = trainer.compute_loss(trainer.model, batch)
        inputs = (batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
        pol_c, pol_r = completion_logps(trainer.model, *inputs).chunk(2)   # trl's batch: [chosen..., rejected...]
        ref_c, ref_r = completion_logps(reference, *inputs).chunk(2)
        ours, _, _ = dpo_loss(pol_c, pol_r, ref_c, ref_r, beta=beta)
    assert (pol_c - ref_c).abs().max() > 0.1                            # a real test: the log-ratios are not ~0
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-5, atol=1e-5)
