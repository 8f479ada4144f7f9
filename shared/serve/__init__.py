"""Serving an LLM over HTTP: an OpenAI-compatible API (FastAPI) over a continuous-batching engine.

- `engine`: `Engine` (one thread, one batched forward pass per step; requests join between steps)
- `app`: `create_app(engine, ServeConfig)`: /v1/chat/completions (JSON or SSE), /v1/models, /health, /metrics
- `server`: `serve(...)` (what `journey serve` runs), `launch(...)` / `start_server(...)`: a server process
"""
from .server import Server, free_port, launch, start_server  # noqa: F401  (light: torch loads in the process)
