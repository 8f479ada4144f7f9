"""Serve an ASGI app from a background thread of this process (a notebook's kernel), on a free port
of 127.0.0.1: real sockets and real HTTP, without loading the model a second time in a new process.

    server, url = serve_in_thread(app)
    ...
    server.should_exit = True   # uvicorn finishes in-flight requests, then runs the app's shutdown
"""
import threading
import time

from .server import free_port


def serve_in_thread(app, log_level: str = "warning", wait_s: float = 30):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level=log_level))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + wait_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{server.config.port}"
