import math

import numpy as np
import pytest
import torch

from shared.nn.gpt import GPT, GPTConfig
from shared.train.pretrain import TokenWindows, TrainConfig, Trainer, cosine_with_warmup, lr_at, write_tokens

VOCAB, BLOCK = 64, 16


@pytest.fixture
def windows(tmp_path):
    rng = np.random.default_rng(0)
    # a learnable stream: mostly "next id = previous id + 1", with some noise
    ids = np.cumsum(rng.choice([1, 1, 1, 2], size=4000)) % VOCAB
    return (TokenWindows(write_tokens(ids[:3500], tmp_path / "train.bin"), BLOCK),
            TokenWindows(write_tokens(ids[3500:], tmp_path / "val.bin"), BLOCK))


def new_model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32, dropout=0.1))


CFG = TrainConfig(max_steps=40, batch_size=8, lr=3e-3, min_lr=3e-4, warmup_steps=5, eval_interval=20,
                  eval_max_batches=4, checkpoint_interval=20)


def test_windows_are_shifted_by_one(windows):
    x, y = windows[0].batch(4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, BLOCK)
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_token_file_round_trip_and_dtype(tmp_path):
    path = write_tokens([1, 2, 70000], tmp_path / "t.bin")
    assert path.with_suffix(".dtype").read_text() == "uint32"
    assert list(np.memmap(path, dtype=np.uint32, mode="r")) == [1, 2, 70000]


def test_lr_schedule_warms_up_then_decays_to_min():
    assert lr_at(0, CFG) == 0.0                                   # transformers' warmup starts at 0
    assert lr_at(1, CFG) == pytest.approx(CFG.lr / CFG.warmup_steps)
    assert lr_at(CFG.warmup_steps, CFG) == pytest.approx(CFG.lr)
    assert lr_at(CFG.max_steps, CFG) == pytest.approx(CFG.min_lr)
    assert all(lr_at(s, CFG) >= lr_at(s + 1, CFG) for s in range(CFG.warmup_steps, CFG.max_steps))


def test_training_lowers_held_out_loss(windows):
    trainer = Trainer(new_model(), *windows, CFG)
    history = trainer.train(progress=False)
    assert history.val_loss[-1] < math.log(VOCAB) - 1.0  # well below a uniform guess


def test_resume_from_checkpoint_is_exact(windows, tmp_path):
    uninterrupted = Trainer(new_model(), *windows, CFG, checkpoint_dir=tmp_path / "a")
    uninterrupted.train(progress=False)

    interrupted = Trainer(new_model(), *windows, CFG, checkpoint_dir=tmp_path / "b")
    interrupted.train(until_step=20, progress=False)       # "crash" after the step-20 checkpoint
    torch.manual_seed(123)                                  # disturb the global RNG, as a restart would
    resumed = Trainer(new_model(), *windows, CFG, checkpoint_dir=tmp_path / "b")
    resumed.load(tmp_path / "b" / "step000020.pt")
    resumed.train(progress=False)

    assert resumed.history.train_loss == uninterrupted.history.train_loss
    assert resumed.history.val_loss == uninterrupted.history.val_loss
    for a, b in zip(resumed.model.parameters(), uninterrupted.model.parameters()):
        assert torch.equal(a, b)


def _transformers_lrs(make_schedule, steps, **kwargs):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = make_schedule(optimizer, **kwargs)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


@pytest.mark.parametrize("warmup, total", [(0, 50), (5, 40), (30, 300), (10, 10)])
def test_schedule_equals_transformers_cosine_with_warmup(warmup, total):
    from transformers import get_cosine_schedule_with_warmup

    theirs = _transformers_lrs(get_cosine_schedule_with_warmup, total + 5, num_warmup_steps=warmup,
                               num_training_steps=total)
    ours = [cosine_with_warmup(step, warmup, total) for step in range(total + 5)]
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_schedule_with_a_floor_equals_transformers_min_lr_variant():
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    theirs = _transformers_lrs(get_cosine_with_min_lr_schedule_with_warmup, 45, num_warmup_steps=5,
                               num_training_steps=40, min_lr_rate=0.1)
    assert [cosine_with_warmup(s, 5, 40, 0.1) for s in range(45)] == pytest.approx(theirs, abs=1e-12)
    assert [lr_at(s, CFG) for s in range(45)] == pytest.approx([CFG.lr * x for x in theirs], abs=1e-12)


def test_every_window_can_be_drawn_even_the_last(tmp_path):
    windows = TokenWindows(write_tokens(np.arange(BLOCK + 3), tmp_path / "t.bin"), BLOCK)
    x, _ = windows.batch(2000, torch.Generator().manual_seed(0))
    assert set(x[:, 0].tolist()) == {0, 1, 2}                     # the N - T = 3 possible starts


def test_a_file_of_exactly_one_window_works_and_a_shorter_one_is_refused(tmp_path):
    windows = TokenWindows(write_tokens(np.arange(BLOCK + 1), tmp_path / "t.bin"), BLOCK)
    x, y = windows.batch(3, torch.Generator().manual_seed(0))
    assert torch.equal(x[0], torch.arange(BLOCK)) and torch.equal(y[0], torch.arange(1, BLOCK + 1))
    with pytest.raises(ValueError, match="block_size \\+ 1"):
        TokenWindows(write_tokens(np.arange(BLOCK), tmp_path / "short.bin"), BLOCK)


def _one_step(windows, **overrides):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32, dropout=0.0))
    cfg = TrainConfig(**{**vars(CFG), "max_steps": 1, "warmup_steps": 0, "grad_clip": 0.0, **overrides})
    trainer = Trainer(model, windows[0], None, cfg)
    loss = trainer.train_step()
    return loss, trainer.model


def test_accumulating_micro_batches_equals_one_large_batch(windows):
    """4 micro-batches of 2 windows draw the same 8 windows as one batch of 8: same loss, same step."""
    big_loss, big = _one_step(windows, batch_size=8, grad_accum=1)
    small_loss, small = _one_step(windows, batch_size=2, grad_accum=4)
    assert small_loss == pytest.approx(big_loss, rel=1e-6)
    for a, b in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains(windows, amp):
    cfg = TrainConfig(**{**vars(CFG), "amp": amp, "checkpoint_interval": 0})
    history = Trainer(new_model(), *windows, cfg).train(progress=False)
    assert history.val_loss[-1] < math.log(VOCAB) - 1.0


def test_an_unknown_precision_is_refused(windows):
    with pytest.raises(ValueError, match="amp="):
        Trainer(new_model(), *windows, TrainConfig(amp="fp8"))


def test_clip_by_value_clamps_every_entry_and_records_the_raw_norm(windows):
    cfg = TrainConfig(**{**vars(CFG), "grad_clip": 1e-3, "clip_mode": "value", "checkpoint_interval": 0})
    trainer = Trainer(new_model(), *windows, cfg)
    trainer.optimizer.step = lambda *a, **k: None        # keep the gradients as clipping left them
    trainer.train_step()
    grads = torch.cat([p.grad.flatten() for p in trainer.model.parameters()])
    assert grads.abs().max().item() <= 1e-3 + 1e-9
    assert trainer.history.grad_norm[-1] > grads.norm().item()   # the norm before clipping


def test_a_given_optimizer_is_used_and_an_unknown_clip_mode_refused(windows):
    model = new_model()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    assert Trainer(model, *windows, CFG, optimizer=sgd).optimizer is sgd
    with pytest.raises(ValueError, match="clip_mode="):
        Trainer(new_model(), *windows, TrainConfig(clip_mode="max"))


def test_a_given_lr_schedule_sets_every_step(windows):
    cfg = TrainConfig(**{**vars(CFG), "max_steps": 5, "checkpoint_interval": 0})
    trainer = Trainer(new_model(), *windows, cfg, lr_schedule=lambda step: 1e-3 * (step + 1))
    trainer.train(progress=False)
    assert trainer.history.lr == pytest.approx([1e-3, 2e-3, 3e-3, 4e-3, 5e-3])
