"""A small closed-loop load generator: `clients` threads, each sending its requests one after another
(streaming, so time to first token is seen), against an OpenAI-compatible server.

    stats = run_load(url, model, prompts, clients=16, requests_per_client=2, max_tokens=32)
    stats["tokens_per_s"], stats["latency_p50_s"], stats["ttft_p99_s"]
"""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def stream_once(url: str, model: str, prompt: str, max_tokens: int, client=None, system: str | None = None) -> dict:
    """One streamed chat completion: its latency, time to first token and completion tokens."""
    import httpx

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    body = {"model": model, "messages": messages, "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    start, first, tokens, status = time.perf_counter(), None, 0, None
    client = client or httpx.Client(timeout=httpx.Timeout(3600, connect=30))
    with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        status = response.status_code
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[6:])
            if "error" in event:  # e.g. the server's timeout, after the 200 headers were sent
                status = event["error"].get("code") or "error"
            if first is None and event.get("choices") and event["choices"][0]["delta"].get("content"):
                first = time.perf_counter()
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
    end = time.perf_counter()
    return {"status": status, "latency_s": end - start, "ttft_s": (first or end) - start, "tokens": tokens}


def run_load(url: str, model: str, prompts: list[str], clients: int, requests_per_client: int = 1,
             max_tokens: int = 32, server_pid: int | None = None, system: str | None = None) -> dict:
    """Throughput (completion tokens/s, requests/s) and latency/TTFT percentiles of one load level.
    Client i sends prompts[(i * requests_per_client + j) % len(prompts)], j = 0, 1, ...
    With `server_pid`, also the server's CPU seconds during the run and tokens per CPU second: a
    throughput that does not depend on what else runs on the machine."""
    import httpx
    import psutil

    def cpu():
        return sum(psutil.Process(server_pid).cpu_times()[:2]) if server_pid else float("nan")

    barrier = threading.Barrier(clients)

    def client(i):
        with httpx.Client(timeout=httpx.Timeout(3600, connect=30)) as http:
            barrier.wait()  # all clients start together
            return [stream_once(url, model, prompts[(i * requests_per_client + j) % len(prompts)], max_tokens, http, system)
                    for j in range(requests_per_client)]

    start, cpu_start = time.perf_counter(), cpu()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, range(clients)) for r in rs]
    wall, server_cpu = time.perf_counter() - start, cpu() - cpu_start
    ok = [r for r in results if r["status"] == 200]
    latency, ttft = np.array([r["latency_s"] for r in ok]), np.array([r["ttft_s"] for r in ok])
    return {"clients": clients, "requests": len(results), "errors": len(results) - len(ok), "wall_s": wall,
            "tokens": sum(r["tokens"] for r in ok), "tokens_per_s": sum(r["tokens"] for r in ok) / wall,
            "requests_per_s": len(ok) / wall, "server_cpu_s": server_cpu,
            "tokens_per_cpu_s": sum(r["tokens"] for r in ok) / server_cpu,
            "latency_p50_s": float(np.percentile(latency, 50)), "latency_p99_s": float(np.percentile(latency, 99)),
            "ttft_p50_s": float(np.percentile(ttft, 50)), "ttft_p99_s": float(np.percentile(ttft, 99))}
