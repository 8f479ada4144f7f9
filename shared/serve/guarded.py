"""The server's guards (`journey serve --guard`): an ASGI middleware around the chat API.

    request   every user message of POST /v1/chat/completions goes through
              `guards.injection_score`; at or above the threshold the request is refused with a
              400 in OpenAI's error shape, code "prompt_injection", before the model sees it
    response  a JSON (non-streaming) reply goes through `output_flags` with the
              request's system prompt: a leak or toxic reply is replaced by a notice
              (finish_reason "content_filter", as OpenAI does), PII is redacted; a streamed reply is
              checked when it ends (its text is already sent: the flags are counted and logged)
    metrics   llm_guard_blocked_total{reason} and llm_output_flags_total{flag} on /metrics
    log       one line per blocked request or flagged reply (logger "journey.guard")

`add_guards(app)` installs it on an app from `app.create_app`.
"""
import asyncio
import json
import logging

from prometheus_client import Counter

from .guards import injection_score, load_classifier
from .output_monitor import categories, output_flags, redact, toxicity

log = logging.getLogger("journey.guard")
BLOCKED_NOTICE = "[This reply was withheld by the output monitor: {reasons}.]"


def _error(message: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": "messages",
                                 "code": code}}).encode()


class GuardMiddleware:
    def __init__(self, app, metrics, max_body_bytes: int, threshold: float | None = None):
        self.app, self.metrics, self.max_body_bytes, self.threshold = app, metrics, max_body_bytes, threshold
        registry = metrics.registry
        self.blocked = Counter("llm_guard_blocked", "Requests refused by the input guard, by reason", ["reason"],
                               registry=registry)
        self.flags = Counter("llm_output_flags", "Replies flagged by the output monitor, by flag", ["flag"],
                             registry=registry)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more and len(body) <= self.max_body_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if more or len(body) > self.max_body_bytes:  # too big: the app's body limit answers 413
            return await self.app(scope, self._replay(body, receive, more), send)
        try:
            request = json.loads(body)
            messages = [m for m in request.get("messages", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):  # not JSON / not an object: the app answers the 400
            messages, request = [], {}

        def text_of(m):
            c = m.get("content")
            return c if isinstance(c, str) else " ".join(p.get("text", "") for p in c if isinstance(p, dict)) \
                if isinstance(c, list) else ""

        user_texts = [text_of(m) for m in messages if m.get("role") == "user"]
        scores = await asyncio.to_thread(lambda: [injection_score(t) for t in user_texts])
        threshold = load_classifier()["threshold"] if self.threshold is None else self.threshold
        if any(s >= threshold for s in scores):
            self.blocked.labels("prompt_injection").inc()
            self.metrics.requests.labels("400").inc()  # answered here, outside the app's counter
            log.warning("blocked a prompt injection (score %.3f): %r", max(scores), user_texts[scores.index(max(scores))][:200])
            payload = _error(f"the message looks like a prompt injection (score {max(scores):.2f} >= "
                             f"{threshold:.2f}); rephrase it", "prompt_injection")
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json")]})
            return await send({"type": "http.response.body", "body": payload})
        system = "\n".join(text_of(m) for m in messages if m.get("role") in ("system", "developer")) or None
        replay = self._replay(body, receive)
        if request.get("stream"):
            return await self.app(scope, replay, self._watch_stream(send, system))
        return await self._filter_json(scope, replay, send, system)

    @staticmethod
    def _replay(body: bytes, receive, more: bool = False):
        """A receive channel that gives the body read so far, then the rest from the client."""
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}

        return replay

    def _count(self, flags: list[str], text: str) -> None:
        for flag in flags:
            self.flags.labels(flag).inc()
        if flags:
            log.warning("output flags %s: %r", flags, text[:200])

    async def _filter_json(self, scope, receive, send, system):
        start, chunks = None, []

        async def hold(message):
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            else:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await send_checked()

        async def send_checked():
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            if start["status"] == 200:
                reply = json.loads(body)
                choice = reply["choices"][0]
                text = choice["message"]["content"]
                flags = await asyncio.to_thread(output_flags, text, system)
                self._count(flags, text)
                worst = categories(flags) & {"toxic", "leak"}
                if worst:
                    choice["message"]["content"] = BLOCKED_NOTICE.format(reasons=", ".join(sorted(worst)))
                    choice["finish_reason"] = "content_filter"
                elif "pii" in categories(flags):
                    choice["message"]["content"] = redact(text)
                body = json.dumps(reply).encode()
            await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)

    def _watch_stream(self, send, system):
        pieces = []

        async def watched(message):
            if message["type"] == "http.response.body":
                for line in message.get("body", b"").decode(errors="replace").splitlines():
                    if line.startswith("data: {"):
                        for choice in json.loads(line[6:]).get("choices", []):
                            pieces.append(choice.get("delta", {}).get("content") or "")
                if not message.get("more_body", False):
                    text = "".join(pieces)
                    self._count(await asyncio.to_thread(output_flags, text, system), text)
            await send(message)

        return watched


def add_guards(app, threshold: float | None = None) -> None:
    """Install the guards on `app` (before it starts), counting into the app's metrics registry.
    Loads the classifier and encoder now, so the first request does not pay for it."""
    injection_score("warm up")
    toxicity(["warm up"])
    app.add_middleware(GuardMiddleware, metrics=app.state.metrics, max_body_bytes=app.state.config.max_body_bytes,
                       threshold=threshold)
