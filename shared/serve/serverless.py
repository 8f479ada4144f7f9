"""The module-10 server as a serverless function: the same FastAPI app behind an AWS Lambda handler
(Mangum, API Gateway HTTP API v2 events) and a Google Cloud Functions entry point
(functions-framework), plus a cold-start probe that runs in a fresh process.

    app = build_app()                                     # load the model, start the engine: the "init" phase
    handler = lambda_handler(app)                         # Lambda: handler(event, context) -> response dict
    handler(api_gateway_v2_event("POST", "/v1/chat/completions", body), LambdaContext())
    client = gcf_test_client(app)                         # Cloud Functions: a Flask app around `gcf_main.chat`
    client.post("/v1/chat/completions", json=body)
    python -m shared.serve.serverless --load lazy|init [--converted DIR] --invocations 3   # prints a JSON line

A function instance is a process that the platform starts on the first request ("cold start": start
the runtime, import the code, run the init code, then the handler) and reuses for later requests
("warm"). Whatever the init code loads stays loaded between invocations.
"""
import argparse
import asyncio
import base64
import json
import os
import resource
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

GCF_SOURCE = Path(__file__).with_name("gcf_main.py")  # the Cloud Functions entry point (`chat`)
_APP = None                                           # the app the Cloud Functions entry point serves


def load_converted(folder: str | Path):
    """A model converted once and saved whole (`save_converted`): unpickled, no `from_pretrained` work."""
    import torch
    from transformers import AutoTokenizer

    folder = Path(folder)
    model = torch.load(folder / "model.pt", weights_only=False)  # our own file: a pickled nn.Module
    return model.eval(), AutoTokenizer.from_pretrained(folder)


def save_converted(model, tokenizer, folder: str | Path) -> int:
    """Save a (e.g. int8-quantized) model whole, with its tokenizer; returns the model file's bytes."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model, folder / "model.pt")
    tokenizer.save_pretrained(folder)
    return (folder / "model.pt").stat().st_size


def quantize_int8(model):
    """Dynamic int8 quantization of every nn.Linear (weights int8, activations quantized on the fly; CPU)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def build_app(model: str | None = None, converted: str | Path | None = None, max_batch: int = 4,
              max_tokens_limit: int = 64, timeout_s: float = 25.0):
    """Load the model and return the API with its engine started (no lifespan needed: serverless
    runtimes run the handler per event). `converted`: a folder written by `save_converted`."""
    import torch

    from .server import TINY_MODEL_NAME, load_model

    torch.manual_seed(0)
    if converted:
        lm, tokenizer = load_converted(converted)
        served = TINY_MODEL_NAME if model is None else model
    else:
        lm, tokenizer, served = load_model(model)
    return app_for(lm, tokenizer, served, max_batch=max_batch, max_tokens_limit=max_tokens_limit, timeout_s=timeout_s)


def app_for(lm, tokenizer, served: str, max_batch: int = 4, max_tokens_limit: int = 64, timeout_s: float = 25.0):
    """The API around an already loaded model, engine started (what `build_app` returns)."""
    from .app import ServeConfig, create_app
    from .engine import Engine

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    engine = Engine(lm, tokenizer, max_batch=max_batch, max_wait_ms=0).start()
    config = ServeConfig(served, max_context=getattr(lm.config, "max_position_embeddings", 2048),
                         max_tokens_limit=max_tokens_limit, timeout_s=timeout_s)
    return create_app(engine, config)


class LazyApp:
    """An ASGI app that builds the real one on its first request: nothing loads at init, the first
    request pays for it (the default when model loading sits inside the handler)."""

    def __init__(self, **build_options):
        self.options, self.app = build_options, None

    async def __call__(self, scope, receive, send):
        if self.app is None:
            self.app = build_app(**self.options)
        await self.app(scope, receive, send)


def lambda_handler(app):
    """AWS Lambda: `handler(event, context)` for API Gateway (v1, v2), ALB and function-URL events.

    Mangum runs the app on an event loop of its own, as Lambda's runtime thread has none. A notebook's
    kernel already runs a loop in its main thread, so the handler runs in one dedicated thread."""
    from mangum import Mangum

    runtime = ThreadPoolExecutor(1, thread_name_prefix="lambda-runtime")
    mangum = runtime.submit(Mangum, app, lifespan="off").result()  # its event loop belongs to that thread

    def handler(event: dict, context) -> dict:
        return runtime.submit(mangum, event, context).result()

    return handler


@dataclass
class LambdaContext:
    """The fields of the Lambda context object that handlers read."""
    function_name: str = "llm-journey-chat"
    memory_limit_in_mb: int = 3008
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:llm-journey-chat"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int(max(self.timeout_s - (time.monotonic() - self.started), 0) * 1000)


def api_gateway_v2_event(method: str, path: str, body: dict | str | None = None, headers: dict | None = None,
                         base64_body: bool = False) -> dict:
    """An API Gateway HTTP API (payload format 2.0) event, as Lambda receives it."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    headers = {"content-type": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com",
               "user-agent": "curl/8.5.0", **(headers or {})}
    now = time.time()
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "cookies": [],
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": headers["host"], "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": headers["user-agent"]},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(text.encode()).decode() if base64_body and text else text,
        "isBase64Encoded": bool(base64_body and text),
    }


def asgi_call(app, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """One HTTP request through an ASGI app in this process: (status, headers, body bytes)."""
    import httpx

    async def call():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://function") as client:
            response = await client.request(method, path, content=body, headers=headers)
            return response.status_code, dict(response.headers), response.content

    with ThreadPoolExecutor(1) as thread:  # a loop of its own, even when the caller's thread runs one
        return thread.submit(lambda: asyncio.run(call())).result()


def set_gcf_app(app) -> None:
    """The app that `gcf_main.chat` serves (in a deployment, `gcf_main` builds it at import)."""
    global _APP
    _APP = app


def gcf_app():
    global _APP
    if _APP is None:  # a real instance: build at first use from the environment
        _APP = build_app(model=os.environ.get("JOURNEY_SERVE_MODEL") or None,
                         converted=os.environ.get("JOURNEY_SERVE_CONVERTED") or None)
    return _APP


def gcf_test_client(app=None):
    """functions-framework's Flask app for `gcf_main.chat`, as `functions-framework --target chat`
    serves it, with Flask's test client (no socket)."""
    import functions_framework

    if app is not None:
        set_gcf_app(app)
    return functions_framework.create_app(target="chat", source=str(GCF_SOURCE)).test_client()


def cold_start(load: str, converted: str | None, invocations: int, spawned_at: float, model: str | None = None,
               max_tokens: int = 8) -> dict:
    """Run in a fresh process: time each phase of a cold start, then warm invocations (Lambda path)."""
    t_start, cpu_start = time.time(), time.process_time()
    import torch
    import transformers  # noqa: F401
    from mangum import Mangum  # noqa: F401

    from .app import create_app  # noqa: F401

    torch.set_num_threads(int(os.environ.get("JOURNEY_THREADS", "1")))
    t_imported, cpu_imported = time.time(), time.process_time()
    app = (LazyApp(model=model, converted=converted) if load == "lazy"
           else build_app(model=model, converted=converted))
    handler = lambda_handler(app)
    t_ready, cpu_ready = time.time(), time.process_time()
    served = json.loads(asgi_call(app, "GET", "/v1/models")[2])["data"][0]["id"] if load == "init" else None
    body = {"model": served or model or "HuggingFaceTB/SmolLM2-135M-Instruct", "max_tokens": max_tokens, "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}
    calls = []
    for _ in range(invocations):
        start, cpu = time.time(), time.process_time()
        response = handler(api_gateway_v2_event("POST", "/v1/chat/completions", body), LambdaContext())
        calls.append({"s": time.time() - start, "cpu_s": time.process_time() - cpu, "status": response["statusCode"],
                      "text": json.loads(response["body"])["choices"][0]["message"]["content"]
                      if response["statusCode"] == 200 else response["body"]})
    import psutil

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"rss_mb": psutil.Process().memory_info().rss / 2**20, "load": load, "converted": bool(converted), "runtime_start_s": t_start - spawned_at,
            "import_s": t_imported - t_start, "init_s": t_ready - t_imported, "invocations": calls,
            "runtime_start_cpu_s": cpu_start, "import_cpu_s": cpu_imported - cpu_start, "init_cpu_s": cpu_ready - cpu_imported,
            "cpu_s": usage.ru_utime + usage.ru_stime}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", choices=["lazy", "init"], default="init")
    parser.add_argument("--converted", default=None)
    parser.add_argument("--invocations", type=int, default=3)
    parser.add_argument("--model", default=None)
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    spawned_at = float(os.environ.get("JOURNEY_SPAWNED_AT", time.time()))
    print(json.dumps(cold_start(args.load, args.converted, args.invocations, spawned_at, args.model, args.max_tokens)),
          flush=True)


def probe_cold_start(load: str = "init", converted: str | Path | None = None, invocations: int = 3,
                     model: str | None = None, max_tokens: int = 8) -> dict:
    """Start a fresh Python process (a new function instance, CPU only) and return its cold-start timings."""
    import subprocess

    from ..profile import active_profile

    env = {**os.environ, "JOURNEY_SPAWNED_AT": repr(time.time()), "JOURNEY_PROFILE": active_profile().name,
           "CUDA_VISIBLE_DEVICES": "",  # a function instance has no GPU
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-m", "shared.serve.serverless", "--load", load, "--invocations", str(invocations)]
    if converted:
        args += ["--converted", str(converted)]
    if model:
        args += ["--model", model]
    args += ["--max-tokens", str(max_tokens)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start probe failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["total_s"] = time.time() - float(env["JOURNEY_SPAWNED_AT"])
    return result


if __name__ == "__main__":
    main()
