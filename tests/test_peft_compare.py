"""shared.train.peft_compare: the timed forward passes and the recipe (no training here)."""
import dataclasses

import torch

from shared.train.peft_compare import PEFTCompareConfig, forward_seconds, recipe


class Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear(x)


def test_forward_seconds_times_every_model_in_turns():
    models = {"base": Counting(), "other": Counting()}
    seconds = forward_seconds(models, {"x": torch.ones(2, 4)}, repeats=3)
    assert set(seconds) == {"base", "other"} and all(s >= 0 for s in seconds.values())
    assert [m.calls for m in models.values()] == [6, 6]                 # each timed pass after an untimed one
    assert not any(m.training for m in models.values())


def test_recipe_follows_the_comparison_not_the_lora_sweep():
    cfg = PEFTCompareConfig()
    assert recipe(dataclasses.replace(cfg, ranks=(2,), lora_lr=1.0)) == recipe(cfg)   # the sweep's own runs
    assert recipe(dataclasses.replace(cfg, steps=cfg.steps + 1)) != recipe(cfg)
    assert recipe(dataclasses.replace(cfg, latency_repeats=1)) != recipe(cfg)
