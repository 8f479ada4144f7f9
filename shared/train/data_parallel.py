"""What module 8's data-parallel script (`module08_training_opt/ddp_train.py`) and its notebook share:
the dataset both read, the batches the ranks see, and a DDP communication hook that counts what is sent.

    data = WindowDataset("train.bin", block_size=32, n_windows=4096)       # a map-style torch Dataset
    x, y = global_batch(data, world_size=2, batch_per_rank=16, seed=0, step=3)   # what the ranks saw, in rank order

`DistributedSampler` gives rank r the indices r, r + W, r + 2W, ... of one seeded permutation of the
dataset (the same permutation on every rank), so the W ranks read disjoint shards. `global_batch`
rebuilds, in one process, the concatenation of the shards of one step: the batch that a single
process must train on to take the same step as DDP.
"""
import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler


class WindowDataset(Dataset):
    """The first n_windows non-overlapping windows of a token file: item i is (x, y), each (T,)."""

    def __init__(self, path, block_size: int, n_windows: int):
        from .pretrain import TokenWindows

        self.tokens = TokenWindows(path, block_size).tokens                 # (N,) memory-mapped
        self.block_size = block_size
        available = (len(self.tokens) - 1) // block_size
        if n_windows > available:
            raise ValueError(f"{path} holds {available} windows of {block_size}: asked for {n_windows}")
        self.n_windows = n_windows

    def __len__(self):
        return self.n_windows

    def __getitem__(self, i):
        start = i * self.block_size
        chunk = torch.from_numpy(self.tokens[start:start + self.block_size + 1].astype(np.int64))  # (T + 1,)
        return chunk[:-1], chunk[1:]


def rank_indices(dataset, world_size: int, rank: int, seed: int, epoch: int = 0) -> list[int]:
    """The dataset indices DistributedSampler hands `rank` in `epoch`, in order."""
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return list(sampler)


def global_batch(dataset, world_size: int, batch_per_rank: int, seed: int, step: int):
    """x, y (world_size * batch_per_rank, T): the shards every rank reads at `step` (0-based, epochs
    wrapping as a DataLoader over the sampler does), concatenated in rank order."""
    per_epoch = len(dataset) // world_size // batch_per_rank               # full batches per rank per epoch
    epoch, i = divmod(step, per_epoch)
    rows = []
    for rank in range(world_size):
        rows += rank_indices(dataset, world_size, rank, seed, epoch)[i * batch_per_rank:(i + 1) * batch_per_rank]
    xs, ys = zip(*(dataset[j] for j in rows))
    return torch.stack(xs), torch.stack(ys)


def counting_allreduce_hook(state: dict, bucket):
    """A DDP communication hook: DDP's own all-reduce (sum, then divide by the world size), after
    adding the bucket's size to state["bytes"] and one to state["buckets"].
    Use: ddp_model.register_comm_hook(state, counting_allreduce_hook)."""
    import torch.distributed as dist

    tensor = bucket.buffer()                                                # the flattened gradients of the bucket
    state["bytes"] = state.get("bytes", 0) + tensor.numel() * tensor.element_size()
    state["buckets"] = state.get("buckets", 0) + 1
    tensor.div_(dist.get_world_size())
    future = dist.all_reduce(tensor, async_op=True).get_future()
    return future.then(lambda fut: fut.value()[0])


def flat_grad(model) -> torch.Tensor:
    """Every parameter's gradient, flattened into one vector (n_params,)."""
    return torch.cat([p.grad.detach().flatten() for p in model.parameters()])
