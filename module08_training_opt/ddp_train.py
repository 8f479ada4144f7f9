"""Data-parallel training of module 8's byte GPT with DistributedDataParallel. Launch it with torchrun:

    torchrun --standalone --nproc_per_node=2 module08_training_opt/ddp_train.py \
        --data build/module08_training_opt/bench --out build/module08_training_opt/ddp

(--nproc_per_node=1 runs the same code in one process.) Every process (a *rank*) holds a full copy of
the model and reads its own shard of every batch (`DistributedSampler`); during backward() DDP
all-reduces the gradients (sums them across ranks and divides by the world size), bucket by bucket,
so every copy takes the same optimizer step. Backend: NCCL when there is a GPU per rank; else gloo,
with the ranks sharing the GPUs there are, or on the CPU.

It writes to --out:
- grad_check.pt (rank 0): the all-reduced gradient of one fixed global batch, before any step;
- final_weights.pt (rank 0): the weights after --steps AdamW steps;
- rank{r}.json: the losses, the wall-clock and CPU time of every step, and the bytes all-reduced per step.
The notebook 05_distributed_ddp.ipynb compares them with one process training on the whole batches.
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler

from shared.nn.gpt import GPT, GPTConfig
from shared.train.data_parallel import (
    WindowDataset,
    counting_allreduce_hook,
    flat_grad,
    global_batch,
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder with train.bin (written by ByteBench.build)")
    p.add_argument("--out", required=True, help="folder for the results")
    p.add_argument("--block-size", type=int, default=32)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=64)
    p.add_argument("--n-windows", type=int, default=4096, help="training windows in the dataset")
    p.add_argument("--batch-per-rank", type=int, default=16, help="windows per rank per step")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main():
    args = parse_args()
    # torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for every process it starts
    # NCCL needs one GPU per rank; with fewer GPUs the ranks share them through gloo (slower, but it runs)
    gpus, local_rank = torch.cuda.device_count(), int(os.environ["LOCAL_RANK"])
    use_cuda = gpus > 0
    dist.init_process_group("nccl" if gpus >= int(os.environ["LOCAL_WORLD_SIZE"]) else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{local_rank % gpus}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)                                   # the same initial weights on every rank ...
    config = GPTConfig(vocab_size=256, block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
                       n_embd=args.n_embd, dropout=0.0)
    model = DDP(GPT(config).to(device), device_ids=[device.index] if use_cuda else None)  # ... and DDP broadcasts rank 0's anyway
    comm = {}                                                      # bytes all-reduced, counted by the hook
    model.register_comm_hook(comm, counting_allreduce_hook)
    data = WindowDataset(Path(args.data) / "train.bin", args.block_size, args.n_windows)

    # 1. the gradient check: one fixed global batch, each rank takes its shard
    x, y = global_batch(data, world, args.batch_per_rank, seed=args.seed + 1, step=0)   # (W * B, T) on every rank
    shard = slice(rank * args.batch_per_rank, (rank + 1) * args.batch_per_rank)
    model(x[shard].to(device), targets=y[shard].to(device))[1].backward()             # all-reduce happens here
    if rank == 0:
        torch.save(flat_grad(model.module).cpu(), out / "grad_check.pt")
    model.zero_grad(set_to_none=True)
    bytes_per_step, buckets_per_step = comm["bytes"], comm["buckets"]

    # 2. training: the sampler shards a seeded permutation of the dataset across the ranks
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(data, batch_size=args.batch_per_rank, sampler=sampler, drop_last=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    losses, seconds, cpu_seconds, epoch, step = [], [], [], 0, 0
    while step < args.steps:
        sampler.set_epoch(epoch)                                    # a new permutation every epoch
        for x, y in loader:                                         # (B, T) each: this rank's shard
            if step == args.steps:
                break
            started, cpu_started = time.perf_counter(), time.process_time()
            loss = model(x.to(device), targets=y.to(device))[1]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()                                         # gradients averaged over the ranks
            optimizer.step()
            if use_cuda:
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)           # wall clock: what a user waits
            cpu_seconds.append(time.process_time() - cpu_started)   # this process's CPU time: the work it did
            losses.append(loss.item())                              # this rank's shard loss
            step += 1
        epoch += 1

    if rank == 0:
        torch.save({k: v.cpu() for k, v in model.module.state_dict().items()}, out / "final_weights.pt")
    (out / f"rank{rank}.json").write_text(json.dumps({
        "rank": rank, "world_size": world, "backend": dist.get_backend(), "losses": losses, "step_seconds": seconds,
        "step_cpu_seconds": cpu_seconds,
        "allreduce_bytes_per_step": bytes_per_step, "buckets_per_step": buckets_per_step,
        "n_params": sum(p.numel() for p in model.parameters())}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
