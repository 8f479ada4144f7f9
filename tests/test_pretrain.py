import math

import numpy as np
import pytest
import torch

from shared.nn.gpt import GPT, GPTConfig
from shared.train.pretrain import TokenWindows, Trainer, TrainConfig, lr_at, write_tokens

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
    assert lr_at(0, CFG) == pytest.approx(CFG.lr / CFG.warmup_steps)
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
