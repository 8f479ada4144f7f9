"""Serving throughput with and without batching: the same server (`journey serve`, real model, real
HTTP on 127.0.0.1) at 16 concurrent clients, `--max-batch 16` against `--max-batch 1`, in one run.

Each client streams its requests one after another (greedy, so both servers generate the same
tokens); throughput is completion tokens per second of wall time. The two servers run one after
the other. Target: the batched server at least 3x the unbatched one. On a machine that other work
shares, wall-clock numbers swing with its load: tokens per CPU second of the server process is
printed too, and the gain is also given in those terms.

    python benchmarks/bench_serve_batching.py [--clients 16] [--requests 2] [--max-tokens 32] [--threads 1]
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.serve.loadtest import run_load, stream_once  # noqa: E402
from shared.serve.server import TINY_MODEL_NAME, launch  # noqa: E402

PROMPTS = ["What is the capital of France?", "Write a haiku about the sea.", "Explain gravity in one sentence.",
           "List three fruits.", "Give me a tip for learning Python.", "What is a neural network?",
           "Describe a cat in two sentences.", "Why is the sky blue?", "Name a famous painter.",
           "How do I boil an egg?", "What does a compiler do?", "Suggest a name for a dog.",
           "What is the speed of light?", "Write one line of a poem about rain.", "What is 12 times 12?",
           "Tell me a fun fact about octopuses."]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2, help="requests per client, one after another")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each server (CPU)")
    parser.add_argument("--model", default=None, help="default: the tiny profile's SmolLM2-135M-Instruct")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    results = {}
    for max_batch in (16, 1):
        with launch(max_batch=max_batch, max_queue=4 * args.clients, threads=args.threads, model=args.model,
                    timeout=3600) as server:
            model = args.model or TINY_MODEL_NAME
            stream_once(server.url, model, PROMPTS[0], 4)  # warm-up: first-call allocations
            results[max_batch] = run_load(server.url, model, PROMPTS, args.clients, args.requests, args.max_tokens,
                                           server_pid=server.process.pid)
        r = results[max_batch]
        print(f"max_batch={max_batch:>2}: {r['tokens_per_s']:7.1f} tokens/s  {r['requests_per_s']:5.2f} req/s  "
              f"latency p50 {r['latency_p50_s']:6.2f} s  p99 {r['latency_p99_s']:6.2f} s  "
              f"TTFT p50 {r['ttft_p50_s']:6.2f} s  p99 {r['ttft_p99_s']:6.2f} s  "
              f"{r['tokens_per_cpu_s']:6.1f} tokens/CPU s  "
              f"({r['requests']} requests, {r['tokens']} tokens, {r['errors']} errors)", flush=True)
    ratio = results[16]["tokens_per_s"] / results[1]["tokens_per_s"]
    cpu_ratio = results[16]["tokens_per_cpu_s"] / results[1]["tokens_per_cpu_s"]
    print(f"batching gain at {args.clients} clients: {ratio:.2f}x throughput, {cpu_ratio:.2f}x tokens per CPU "
          f"second (target >= 3x): "
          f"{'PASS' if ratio >= 3 else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"ratio": ratio, "cpu_ratio": cpu_ratio, **{f"max_batch_{k}": v for k, v in results.items()}},
                                              indent=1))
    return 0 if ratio >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
