"""KV-cache speed-up of shared.nn.gpt.GPT.generate vs Hugging Face's own, on the same weights.

A random GPT2LMHeadModel is copied into our GPT (`GPT.from_hf`); both generate NEW_TOKENS tokens
greedily after the same prompt, with and without their KV cache. The speed-up of each is
time(no cache) / time(cache); the target is ours / Hugging Face's >= 1. Each timing is the median
of the repeats, the four variants taken in turn so that drifting machine load hits all alike.
On the CPU torch runs on --threads threads (default 1) and the clock is this process's CPU time,
which counts our own work and not the time spent waiting for a core on a shared machine; on a
GPU it is the wall clock after synchronising.

    python benchmarks/bench_kv_cache.py [--repeats 3] [--new-tokens 256] [--device cpu] [--threads 1]
"""
import argparse
import statistics
import time

import torch

CONFIG = dict(vocab_size=8192, block_size=512, n_layer=4, n_head=4, n_embd=256)
BATCH, PROMPT = 1, 16


def build(device):
    from transformers import GPT2Config, GPT2LMHeadModel

    from shared.nn.gpt import GPT

    torch.manual_seed(0)
    hf_config = GPT2Config(vocab_size=CONFIG["vocab_size"], n_positions=CONFIG["block_size"],
                           n_layer=CONFIG["n_layer"], n_head=CONFIG["n_head"], n_embd=CONFIG["n_embd"],
                           resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                           bos_token_id=None, eos_token_id=None, pad_token_id=0)  # no end token: every run makes all tokens
    hf_config._attn_implementation = "sdpa"  # the same fused attention kernel as ours
    hf = GPT2LMHeadModel(hf_config).eval()
    return GPT.from_hf(hf).to(device).eval(), hf.to(device)


def generators(ours, hf, new_tokens):
    """The four ways to generate: name -> function(prompt) -> (B, PROMPT + new_tokens) ids."""
    def hf_generate(prompt, use_cache):
        return hf.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                           use_cache=use_cache, pad_token_id=0)
    return {
        "ours, cache": lambda p: ours.generate(p, new_tokens, temperature=0, use_cache=True),
        "ours, no cache": lambda p: ours.generate(p, new_tokens, temperature=0, use_cache=False),
        "hf, cache": lambda p: hf_generate(p, True),
        "hf, no cache": lambda p: hf_generate(p, False),
    }


def clock(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def timed(fn, prompt, device):
    start = clock(device)
    out = fn(prompt)
    return clock(device) - start, out


@torch.no_grad()
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours, hf = build(args.device)
    prompt = torch.randint(0, CONFIG["vocab_size"], (BATCH, PROMPT),
                           generator=torch.Generator().manual_seed(0)).to(args.device)
    variants = generators(ours, hf, args.new_tokens)
    outputs = {}
    for name, fn in variants.items():  # warm-up: allocator, kernels, generation config
        outputs[name] = timed(lambda p: fn(p[:, :4]), prompt, args.device)[1]
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            seconds, outputs[name] = timed(fn, prompt, args.device)
            times[name].append(seconds)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    lengths = {out.shape[1] for out in outputs.values()}
    assert lengths == {PROMPT + args.new_tokens}, f"not all variants made {args.new_tokens} tokens: {lengths}"

    print(f"config {CONFIG}, batch {BATCH}, prompt {PROMPT} + {args.new_tokens} new tokens (greedy), "
          f"device {args.device}, torch {torch.get_num_threads()} threads, median of {args.repeats} runs")
    for name, seconds in median.items():
        print(f"{name:<16} {seconds:7.3f} {'CPU ' if args.device == 'cpu' else ''}s   "
              f"{args.new_tokens / seconds:8.1f} tokens/s")
    same = all(torch.equal(outputs["ours, cache"], out) for out in outputs.values())
    print(f"all four produced the same tokens: {same}")
    ours_speedup = median["ours, no cache"] / median["ours, cache"]
    hf_speedup = median["hf, no cache"] / median["hf, cache"]
    print(f"cache speed-up: ours {ours_speedup:.2f}x, Hugging Face {hf_speedup:.2f}x; "
          f"ratio ours/hf {ours_speedup / hf_speedup:.2f} (target >= 1)")
    print(f"cached generation ours/hf time: {median['ours, cache'] / median['hf, cache']:.2f}x "
          f"(below 1: ours is faster)")


if __name__ == "__main__":
    main()
