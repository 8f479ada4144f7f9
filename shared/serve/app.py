"""An OpenAI-compatible HTTP API in front of the batching `Engine` (FastAPI).

    POST /v1/chat/completions   chat completion; `"stream": true` answers as server-sent events
    GET  /v1/models             the one model served
    GET  /health                200 once the model is loaded
    GET  /metrics               Prometheus text format
    GET  /                      a minimal chat page that streams from the API

Errors have OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, and a 4xx status for
anything the client can fix: 400 (malformed JSON, wrong types, empty messages, a prompt over the
context, bad max_tokens), 404 (unknown model), 413 (body too large), 429 (queue full). A request
that runs past `timeout_s` is cancelled and answers 504.
"""
import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .engine import Engine, QueueFull, Request
from .page import CHAT_PAGE


@dataclass
class ServeConfig:
    model_name: str                  # the id clients pass as `model` (and /v1/models lists)
    max_context: int = 2048          # prompt + completion tokens, at most (vLLM's --max-model-len)
    max_tokens_limit: int = 512      # the largest `max_tokens` accepted; also the default
    timeout_s: float = 120.0         # per request, from arrival to the last token
    max_body_bytes: int = 1_000_000  # larger bodies get 413 before they are parsed


# --- the request schema (a subset of OpenAI's; unknown fields are ignored, as OpenAI does) --------
class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, description="upper bound: the server's max_tokens_limit")
    max_completion_tokens: int | None = Field(None, ge=1, description="newer name for max_tokens")
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = Field(None, description="up to 4 strings")
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 completion per request")
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None


def error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
          code: str | None = None, headers=None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status, headers=headers)


class Metrics:
    """What a dashboard needs, in a registry of the app's own (two apps in one process do not clash)."""

    def __init__(self):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("llm_requests", "HTTP requests answered, by status code", ["status"], registry=r)
        self.latency = Histogram("llm_request_latency_seconds", "Arrival to last token (completed requests)",
                                 registry=r, buckets=(.05, .1, .25, .5, 1, 2, 4, 8, 16, 32, 64, 128))
        self.ttft = Histogram("llm_time_to_first_token_seconds", "Arrival to first generated token",
                              registry=r, buckets=(.01, .025, .05, .1, .25, .5, 1, 2, 4, 8, 16, 32))
        self.prompt_tokens = Counter("llm_prompt_tokens", "Prompt tokens processed", registry=r)
        self.completion_tokens = Counter("llm_completion_tokens", "Tokens generated", registry=r)
        self.queue_depth = Gauge("llm_queue_depth", "Requests waiting to join the batch", registry=r)
        self.batch_rows = Gauge("llm_batch_rows", "Requests in the running batch", registry=r)
        self.batch_size = Histogram("llm_batch_size", "Rows per forward pass", registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128))

    def on_step(self, rows: int, waiting: int) -> None:
        self.batch_size.observe(rows)
        self.batch_rows.set(rows)
        self.queue_depth.set(waiting)


class BodyLimit:
    """ASGI middleware: reads a POST body up to `max_bytes` (413 beyond, before anything parses it),
    then hands it on; reports every response's status to `on_status` (the requests counter)."""

    def __init__(self, app, max_bytes: int, on_status):
        self.app, self.max_bytes, self.on_status = app, max_bytes, on_status

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_counted(message):
            if message["type"] == "http.response.start":
                self.on_status(message["status"])
            await send(message)

        if scope["method"] != "POST":
            return await self.app(scope, receive, send_counted)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_big = declared.isdigit() and int(declared) > self.max_bytes
        body, more = b"", True
        while more and not too_big:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more, too_big = message.get("more_body", False), len(body) > self.max_bytes
        if too_big:
            response = error(413, f"request body over {self.max_bytes} bytes", code="body_too_large")
            return await response(scope, receive, send_counted)
        replayed = False

        async def replay():  # the body once, then the real channel (which reports a disconnect)
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send_counted)


def create_app(engine: Engine, config: ServeConfig) -> FastAPI:
    """The API around a started or not-yet-started `engine` (the app's lifespan starts and stops it)."""
    tokenizer, metrics = engine.tokenizer, Metrics()
    engine.on_step = metrics.on_step

    async def lifespan(app):
        if not engine.running:
            engine.start()
        yield
        engine.stop()  # uvicorn calls this after in-flight requests have finished (graceful shutdown)

    app = FastAPI(title="llm-journey server", version="1.0", lifespan=lifespan,
                  description="An OpenAI-compatible chat completions API with continuous batching.")
    app.state.engine, app.state.config, app.state.metrics = engine, config, metrics

    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes,
                       on_status=lambda status: metrics.requests.labels(str(status)).inc())

    @app.exception_handler(RequestValidationError)
    async def invalid(http, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        if first.get("type") == "json_invalid":
            return error(400, "the body is not valid JSON", code="json_invalid")
        return error(400, f"{where or 'body'}: {first.get('msg', 'invalid request')}", param=where,
                     code=first.get("type"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(http, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), type_="invalid_request_error" if exc.status_code < 500
                     else "server_error")

    @app.exception_handler(Exception)
    async def crashed(http, exc: Exception):  # a bug: say so in the same shape, and count it
        metrics.requests.labels("500").inc()  # (answered outside BodyLimit, which counts the rest)
        return error(500, f"internal error: {type(exc).__name__}", type_="server_error")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page():
        return CHAT_PAGE

    @app.get("/health")
    async def health():
        return {"status": "ok" if engine.running else "starting", "model": config.model_name,
                "queue_depth": engine.queue_depth, "batch_rows": len(engine.rows)}

    @app.get("/metrics")
    async def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": config.model_name, "object": "model", "created": 0,
                                            "owned_by": "llm-journey"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest):
        if body.model != config.model_name:
            return error(404, f"the model {body.model!r} does not exist; this server serves "
                              f"{config.model_name!r}", param="model", code="model_not_found")
        stop = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
        if len(stop) > 4 or any(not s for s in stop):
            return error(400, "stop: at most 4 non-empty strings", param="stop")
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                    for m in body.messages]
        try:
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # a template that rejects this conversation
            return error(400, f"messages: {exc}", param="messages")
        prompt_ids = tokenizer(text, add_special_tokens=False).input_ids
        room = config.max_context - len(prompt_ids)
        if room < 1:
            return error(400, f"the prompt has {len(prompt_ids)} tokens; this model's context is "
                              f"{config.max_context}", param="messages", code="context_length_exceeded")
        asked = body.max_tokens or body.max_completion_tokens
        if asked is not None and asked > config.max_tokens_limit:
            return error(400, f"max_tokens: {asked} is over this server's limit of {config.max_tokens_limit}",
                         param="max_tokens")
        if asked is not None and asked > room:
            return error(400, f"prompt ({len(prompt_ids)} tokens) + max_tokens ({asked}) is over the context "
                              f"of {config.max_context}", param="max_tokens", code="context_length_exceeded")
        request = Request(prompt_ids=prompt_ids, max_tokens=asked or min(config.max_tokens_limit, room),
                          temperature=body.temperature, top_p=body.top_p, stop=tuple(stop), seed=body.seed)
        events: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        request.on_event = lambda kind, payload: loop.call_soon_threadsafe(events.put_nowait, (kind, payload))
        try:
            engine.submit(request)
        except QueueFull as exc:
            return error(429, f"server busy: {exc}; retry later", type_="rate_limit_error",
                         code="queue_full", headers={"Retry-After": "1"})
        deadline = loop.time() + config.timeout_s
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        async def next_event():
            try:
                return await asyncio.wait_for(events.get(), timeout=max(deadline - loop.time(), 0))
            except TimeoutError:
                request.cancelled = True
                return "timeout", None

        def account(info):
            metrics.prompt_tokens.inc(info["prompt_tokens"])
            metrics.completion_tokens.inc(info["completion_tokens"])
            if request.first_token_at is not None:
                metrics.ttft.observe(request.first_token_at - request.submitted_at)
            metrics.latency.observe(time.perf_counter() - request.submitted_at)

        def usage(info):
            return {"prompt_tokens": info["prompt_tokens"], "completion_tokens": info["completion_tokens"],
                    "total_tokens": info["prompt_tokens"] + info["completion_tokens"]}

        if not body.stream:
            pieces = []
            try:
                while True:
                    kind, payload = await next_event()
                    if kind == "token":
                        pieces.append(payload)
                    elif kind == "timeout":
                        return error(504, f"generation took longer than {config.timeout_s} s", type_="timeout",
                                     code="timeout")
                    else:
                        break
            except asyncio.CancelledError:  # the client went away
                request.cancelled = True
                raise
            if payload["error"]:
                return error(500, f"generation failed: {payload['error']}", type_="server_error")
            account(payload)
            return {"id": completion_id, "object": "chat.completion", "created": created, "model": config.model_name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                                 "finish_reason": payload["finish_reason"]}],
                    "usage": usage(payload)}

        def chunk(delta, finish_reason=None, **extra):
            return "data: " + json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                          "model": config.model_name, **extra,
                                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
                                          if delta is not None else []}, separators=(",", ":")) + "\n\n"

        async def sse():
            try:
                yield chunk({"role": "assistant", "content": ""})
                while True:
                    kind, payload = await next_event()
                    if kind == "token":
                        yield chunk({"content": payload})
                    elif kind == "timeout":
                        yield "data: " + json.dumps({"error": {"message": "generation timed out",
                                                               "type": "timeout", "code": "timeout"}}) + "\n\n"
                        return
                    else:
                        break
                if payload["error"]:
                    yield "data: " + json.dumps({"error": {"message": payload["error"], "type": "server_error"}}) + "\n\n"
                    return
                account(payload)
                yield chunk({}, payload["finish_reason"])
                if body.stream_options and body.stream_options.include_usage:
                    yield chunk(None, usage=usage(payload))
                yield "data: [DONE]\n\n"
            finally:
                request.cancelled = request.cancelled or request.finish_reason is None  # client gone mid-stream

        return StreamingResponse(sse(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app
