"""Start the server: `journey serve` (or `python -m shared.serve`) in a terminal, `launch()` from Python.

    journey serve [--model NAME_OR_PATH] [--host 127.0.0.1] [--port 8000] [--max-batch 16] [--max-wait-ms 10]
                  [--guard/--no-guard] [--weight-bits 8 [--weight-group-size 64]]

`launch()` starts the same command as a child process on a free port, waits for `/health`, and on
exit asks it to stop with SIGINT (uvicorn's graceful shutdown: no new connections, in-flight
requests finish) before it is killed.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TINY_MODEL_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what load_causal_lm() serves in the tiny profile


def load_model(name: str | None):
    """(model, tokenizer, served name): a local folder, or a hub id via `shared.models.load_causal_lm`
    (in the tiny profile always SmolLM2-135M-Instruct, offline)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..models import load_causal_lm
    from ..profile import active_profile
    from ..utils import get_device

    device = get_device()
    dtype = torch.float16 if device == "cuda" else torch.float32  # a T4 has no bfloat16
    if name and Path(name).is_dir():
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
        served = Path(name).name
    else:
        model, tokenizer = load_causal_lm(name, dtype=dtype)
        served = TINY_MODEL_NAME if active_profile().name == "tiny" else name or model.name_or_path
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer, served


def quantize_weights(model, bits: int | None, group_size: int | None = None):
    """Round the weights of every linear layer except the output head to `bits` (module 9's group-wise
    fake quantization, baked in); bits=None leaves the model as it is. The server and the quality
    gate of module 12 call this same function, so the gate evaluates what is served."""
    if bits:
        from ..infer.quantize import fake_quantize_linears

        fake_quantize_linears(model, bits, group_size, filter_fn=lambda name, module: name != "lm_head")
    return model


def serve(model=None, host="127.0.0.1", port=8000, max_batch=16, max_wait_ms=10.0, max_queue=64,
          max_context=None, max_tokens_limit=512, timeout_s=120.0, max_body_bytes=1_000_000, threads=None,
          log_level="info", guard=False, weight_bits=None, weight_group_size=None) -> None:
    """Load the model and serve it until SIGINT/SIGTERM (then finish in-flight requests and exit)."""
    import torch
    import uvicorn

    from ..profile import active_profile
    from .app import ServeConfig, create_app
    from .engine import Engine

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if threads or active_profile().name == "tiny":  # tiny: one thread, like the notebooks
        torch.set_num_threads(threads or int(os.environ.get("JOURNEY_THREADS", "1")))
    torch.manual_seed(0)
    lm, tokenizer, served = load_model(model)
    quantize_weights(lm, weight_bits, weight_group_size)
    context = min(max_context or 10**9, getattr(lm.config, "max_position_embeddings", 2048))
    engine = Engine(lm, tokenizer, max_batch=max_batch, max_wait_ms=max_wait_ms, max_queue=max_queue)
    config = ServeConfig(served, max_context=context, max_tokens_limit=max_tokens_limit, timeout_s=timeout_s,
                         max_body_bytes=max_body_bytes)
    app = create_app(engine, config)
    if guard:  # input guard + output monitor (module 10, notebooks 04-05)
        from .guarded import add_guards
        add_guards(app)
    print(f"serving {served} on http://{host}:{port} (max_batch={max_batch}, max_wait_ms={max_wait_ms}, "
          f"context={context}, threads={torch.get_num_threads()}, weight_bits={weight_bits})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=timeout_s)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server process: `url` for clients, `process` for its pid and exit code, `log` its output."""
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 60) -> int:
        """Graceful stop (SIGINT: uvicorn finishes in-flight requests), then kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_healthy(self, wait_s: float, what: str = "the server") -> "Server":
        """Poll `/health` until it answers 200; if the process exits or `wait_s` passes, say why and stop it."""
        import httpx

        deadline = time.monotonic() + wait_s
        with httpx.Client(timeout=2) as client:  # one client: a new one per poll costs CPU (SSL context)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{what} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(self.url + "/health").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"{what} did not answer /health within {wait_s} s:\n{self.log_tail()}")


def start_server(*, port: int | None = None, wait_s: float = 180, log_level: str = "warning", **options) -> Server:
    """Start `python -m shared.serve` with `options` (the `serve` arguments) and wait for /health."""
    from ..profile import active_profile

    port = port or free_port()
    args = [sys.executable, "-m", "shared.serve", "--port", str(port), "--log-level", log_level]
    for key, value in options.items():
        if isinstance(value, bool):  # a switch: --guard / --no-guard
            args.append(f"--{'' if value else 'no-'}{key.replace('_', '-')}")
        elif value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    log = Path(tempfile.mkstemp(prefix="journey-serve-", suffix=".log")[1])
    env = {**os.environ, "JOURNEY_PROFILE": active_profile().name,  # the same profile as its parent
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    return Server(f"http://127.0.0.1:{port}", process, log).wait_healthy(wait_s)


@contextmanager
def launch(**options):
    """`with launch(max_batch=16) as server: httpx.get(server.url + "/health")`: a server for a block."""
    server = start_server(**options)
    try:
        yield server
    finally:
        server.stop()
