"""Training throughput and peak memory: shared.nn.gpt.GPT vs transformers' GPT2LMHeadModel.

Same config, same batch, same optimizer; each measurement runs in a fresh process (so peak RSS
is that model's alone), alternating the two models, and the median of the repeats is reported.

    python benchmarks/bench_gpt.py [--repeats 3] [--steps 10]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

CONFIG = dict(vocab_size=8192, block_size=128, n_layer=4, n_head=4, n_embd=256)
BATCH = 16


def build(kind: str):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from shared.nn.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    if kind == "ours":
        return GPT(GPTConfig(**CONFIG))
    hf_config = GPT2Config(vocab_size=CONFIG["vocab_size"], n_positions=CONFIG["block_size"],
                           n_layer=CONFIG["n_layer"], n_head=CONFIG["n_head"], n_embd=CONFIG["n_embd"],
                           resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    hf_config._attn_implementation = "sdpa"  # the same fused attention kernel as ours
    return GPT2LMHeadModel(hf_config)


def train_step(kind, model, optimizer, idx):
    if kind == "ours":
        _, loss = model(idx[:, :-1], targets=idx[:, 1:])
    else:
        loss = model(idx[:, :-1], labels=idx[:, :-1].clone()).loss  # HF shifts labels itself
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def worker(kind: str, steps: int) -> dict:
    import torch

    from shared.utils import process_peak_rss_mb

    model = build(kind).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    idx = torch.randint(0, CONFIG["vocab_size"], (BATCH, CONFIG["block_size"] + 1),
                        generator=torch.Generator().manual_seed(0))
    for _ in range(2):  # warm-up: allocator, kernels, optimizer state
        train_step(kind, model, optimizer, idx)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(kind, model, optimizer, idx)
    seconds = time.perf_counter() - start
    return {"tokens_per_s": steps * BATCH * CONFIG["block_size"] / seconds, "peak_rss_mb": process_peak_rss_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--worker", choices=["ours", "hf"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps)))
        return
    runs = {"ours": [], "hf": []}
    for _ in range(args.repeats):
        for kind in runs:  # alternate, so drifting machine load hits both alike
            out = subprocess.run([sys.executable, __file__, "--worker", kind, "--steps", str(args.steps)],
                                 capture_output=True, text=True, check=True).stdout
            runs[kind].append(json.loads(out.strip().splitlines()[-1]))
    print(f"config {CONFIG}, batch {BATCH}, {args.steps} AdamW steps, median of {args.repeats} runs")
    median = {kind: {key: statistics.median(r[key] for r in rows) for key in rows[0]} for kind, rows in runs.items()}
    for kind, m in median.items():
        name = "shared.nn.gpt.GPT" if kind == "ours" else "transformers GPT2LMHeadModel"
        print(f"{name:<30} {m['tokens_per_s']:>9,.0f} tokens/s   peak RSS {m['peak_rss_mb']:,.0f} MB")
    print(f"throughput ratio ours/hf: {median['ours']['tokens_per_s'] / median['hf']['tokens_per_s']:.2f}x; "
          f"peak memory ratio ours/hf: {median['ours']['peak_rss_mb'] / median['hf']['peak_rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
