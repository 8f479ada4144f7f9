"""shared.train.data_parallel: the shards DistributedSampler hands out, the rebuilt global batch, and
the counting all-reduce hook inside a real (one-process, gloo) DistributedDataParallel."""
import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from shared.nn.gpt import GPT, GPTConfig
from shared.train.data_parallel import (
    WindowDataset,
    counting_allreduce_hook,
    flat_grad,
    global_batch,
    rank_indices,
)
from shared.train.pretrain import write_tokens


@pytest.fixture
def data(tmp_path):
    tokens = np.arange(8 * 40 + 1) % 251                                    # 40 windows of 8
    return WindowDataset(write_tokens(tokens, tmp_path / "train.bin"), block_size=8, n_windows=40)


def test_window_dataset_items_are_shifted_windows(data):
    x, y = data[3]
    assert x.shape == y.shape == (8,)
    assert x[0].item() == 24 and torch.equal(y[:-1], x[1:])
    with pytest.raises(ValueError):
        WindowDataset(data.tokens.filename, block_size=8, n_windows=41)


def test_shards_are_disjoint_and_cover_the_dataset(data):
    shards = [rank_indices(data, 2, rank, seed=0) for rank in range(2)]
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(40))
    assert rank_indices(data, 2, 0, seed=0, epoch=1) != shards[0]         # a new permutation per epoch


@pytest.mark.parametrize("step", [0, 3, 7])                               # 5 batches per epoch: step 7 is in epoch 1
def test_global_batch_is_what_the_ranks_load(data, step):
    x, _ = global_batch(data, world_size=2, batch_per_rank=4, seed=5, step=step)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(data, num_replicas=2, rank=rank, shuffle=True, seed=5, drop_last=True)
        loader = DataLoader(data, batch_size=4, sampler=sampler, drop_last=True)
        batches = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            batches += [bx for bx, _ in loader]
        seen.append(batches[step])
    torch.testing.assert_close(x, torch.cat(seen))


def test_counting_hook_counts_every_gradient_byte_and_keeps_the_gradient(tmp_path):
    from torch.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        net = GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=16))
        ref = GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=16))
        ref.load_state_dict(net.state_dict())
        model, state = DDP(net), {}
        model.register_comm_hook(state, counting_allreduce_hook)
        x, y = torch.randint(17, (4, 8)), torch.randint(17, (4, 8))
        model(x, targets=y)[1].backward()
        ref(x, targets=y)[1].backward()
        assert state["bytes"] == 4 * sum(p.numel() for p in net.parameters())   # float32: every gradient once
        torch.testing.assert_close(flat_grad(net), flat_grad(ref))
    finally:
        dist.destroy_process_group()
