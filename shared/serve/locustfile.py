"""A locust load test for the OpenAI-compatible server, in stages; run by `shared.serve.loadgen.run_locust`
(or by hand: `JOURNEY_MODEL=... JOURNEY_STAGES='[[10, 4], [20, 16]]' locust -f shared/serve/locustfile.py
--headless --host http://127.0.0.1:8000`).

Self-contained on purpose: locust patches the standard library with gevent when imported, so this
file must never be imported by a notebook or by `shared` (it runs in its own process).

Environment:
    JOURNEY_MODEL       the `model` field of every request
    JOURNEY_STAGES      JSON [[end_s, users], ...]: from the previous end (0 at first) to end_s, run `users` users
    JOURNEY_PROMPTS     JSON list of user prompts (user i sends prompt i, i + users, ... in turn)
    JOURNEY_MAX_TOKENS  max_tokens of each request (default 8)
    JOURNEY_WAIT_S      pause of each user between two requests (default 0.1)
    JOURNEY_SYSTEM      a system prompt (default none: the chat template's own)
"""
import itertools
import json
import os

from locust import HttpUser, LoadTestShape, constant, task

MODEL = os.environ.get("JOURNEY_MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")
STAGES = json.loads(os.environ.get("JOURNEY_STAGES", "[[10, 4]]"))
PROMPTS = json.loads(os.environ.get("JOURNEY_PROMPTS", '["Say hello."]'))
MAX_TOKENS = int(os.environ.get("JOURNEY_MAX_TOKENS", "8"))
SYSTEM = os.environ.get("JOURNEY_SYSTEM")
user_ids = itertools.count()


class ChatUser(HttpUser):
    """One client: a chat completion (greedy, not streamed), a short pause, the next one."""
    wait_time = constant(float(os.environ.get("JOURNEY_WAIT_S", "0.1")))

    def on_start(self):
        self.turn = next(user_ids)

    @task
    def chat(self):
        prompt = PROMPTS[self.turn % len(PROMPTS)]
        self.turn += 1
        messages = ([{"role": "system", "content": SYSTEM}] if SYSTEM else []) + [{"role": "user", "content": prompt}]
        body = {"model": MODEL, "messages": messages, "max_tokens": MAX_TOKENS,
                "temperature": 0}
        with self.client.post("/v1/chat/completions", json=body, name="chat", catch_response=True) as response:
            if response.status_code != 200:  # 429 and 5xx: a failure, named by its status in locust's report
                response.failure(f"HTTP {response.status_code}")


class Stages(LoadTestShape):
    """The user count of each stage; all users of a stage start at once."""

    def tick(self):
        t = self.get_run_time()
        for end, users in STAGES:
            if t < end:
                return users, 1000
        return None
