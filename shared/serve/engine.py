"""Continuous batching for a Hugging Face causal LM: many requests, one forward pass per step.

One background thread owns the model and loops:

    admit    take waiting requests (up to `max_batch` rows in flight; when idle, wait up to
             `max_wait_ms` for company), prefill their prompts together (left-padded), sample
             each one's first token
    merge    append the new rows to the running batch: the two KV caches are left-padded to the
             same length and concatenated along the batch dimension
    decode   one forward pass over every running row: (B, 1) new tokens against (B, L) cached
             keys/values; sample; emit text; drop rows that hit EOS, a stop string or max_tokens

New requests join between decode steps instead of waiting for the whole batch to finish: this is
the "continuous" (iteration-level) batching of Orca (Yu et al., 2022), vLLM and TGI, here with a
plain padded `DynamicCache` instead of paged memory.

Shapes: B rows in flight, L cached positions (left padding included), V vocabulary.
Padding is invisible to the model: the attention mask hides padded keys, and positions come from
the mask (`cumsum - 1`), so a row's numbers do not depend on what it is batched with, up to
floating-point summation order.
"""
import inspect
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache


class QueueFull(Exception):
    """The waiting queue holds `max_queue` requests: the server answers 429."""


@dataclass
class Request:
    """One completion: a tokenized prompt and how to sample it. `on_event(kind, payload)` is called
    from the engine thread: ("token", text_delta) as text becomes final, then once ("done", info)."""
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0          # 0: greedy (argmax)
    top_p: float = 1.0                # nucleus sampling: keep the smallest set of tokens with this mass
    stop: tuple[str, ...] = ()        # generation ends before the first occurrence of any of these
    seed: int | None = None           # sampling seed (per request, so batching does not change samples)
    on_event: Callable[[str, object], None] = lambda kind, payload: None
    # filled in by the engine
    id: int = field(default_factory=itertools.count().__next__)
    output_ids: list[int] = field(default_factory=list)
    text: str = ""                    # decoded output, stop string removed once found
    sent: int = 0                     # characters of `text` already emitted
    finish_reason: str | None = None  # "stop" (EOS or stop string), "length" (max_tokens) or "cancelled"
    cancelled: bool = False           # set by the server (client gone, timeout): dropped at the next step
    submitted_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    generator: torch.Generator | None = None


class Engine:
    """A model, its tokenizer and a thread that serves `Request`s in continuous batches."""

    def __init__(self, model, tokenizer, max_batch: int = 16, max_wait_ms: float = 10, max_queue: int = 64,
                 on_step: Callable[[int, int], None] | None = None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.device = next(model.parameters()).device
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_ms / 1000, max_queue
        self.on_step = on_step or (lambda rows, waiting: None)   # metrics hook: batch rows, queue depth
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id} - {None}
        # transformers 5.x renamed `past_key_values` to `cache` (the old name warns until 5.40)
        self.cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.waiting: deque[Request] = deque()
        self.wakeup = queue.SimpleQueue()   # a token per submit: lets the idle loop sleep without polling
        self.lock = threading.Lock()
        self.running = False
        self.thread: threading.Thread | None = None
        self.steps = 0                      # decode steps so far (forward passes after prefill)
        # the running batch
        self.rows: list[Request] = []
        self.admitting: list[Request] = []         # rows being prefilled (failed together on an error)
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None      # (B, L) 1 = real token, 0 = left padding
        self.next_pos: torch.Tensor | None = None  # (B,) position of each row's next token
        self.last: torch.Tensor | None = None      # (B,) each row's last sampled token, fed next step

    # --- the server's side -------------------------------------------------------------
    def start(self) -> "Engine":
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Finish nothing more: cancel what waits, end the thread (graceful draining is the HTTP
        server's job: it stops accepting and waits for in-flight requests before calling this)."""
        self.running = False
        self.wakeup.put(None)
        if self.thread:
            self.thread.join(timeout=30)

    def submit(self, *requests: Request) -> None:
        """Queue requests (all or none: `QueueFull` when they do not fit); they join the batch at the next step."""
        with self.lock:
            if len(self.waiting) + len(requests) > self.max_queue:
                raise QueueFull(f"{len(self.waiting)} requests are waiting (max_queue={self.max_queue})")
            for request in requests:
                if request.temperature > 0:
                    request.generator = torch.Generator(device="cpu")
                    request.generator.manual_seed(request.seed if request.seed is not None
                                                  else torch.seed() & 0xFFFF_FFFF)
                self.waiting.append(request)
        self.wakeup.put(None)

    def generate(self, requests: list[Request], timeout: float = 300) -> list[Request]:
        """Submit `requests` together and block until all are done (for tests and notebooks)."""
        done = [threading.Event() for _ in requests]
        for request, event in zip(requests, done):
            def on_event(kind, payload, previous=request.on_event, event=event):
                previous(kind, payload)
                if kind == "done":
                    event.set()
            request.on_event = on_event
        self.submit(*requests)
        for event in done:
            if not event.wait(timeout):
                raise TimeoutError("generation did not finish in time")
        return requests

    @property
    def queue_depth(self) -> int:
        return len(self.waiting)

    # --- the engine thread --------------------------------------------------------------
    def _loop(self) -> None:
        while self.running:
            if not self.rows and not self.waiting:   # idle: sleep until a request arrives
                self.wakeup.get()
                if not self.running:
                    break
                if self.max_wait_s > 0:              # ... then give its companions a moment to arrive
                    time.sleep(self.max_wait_s)
            while not self.wakeup.empty():
                self.wakeup.get_nowait()
            try:
                self._admit()
                if self.rows:
                    self._decode_step()
            except Exception as error:  # never leave a client hanging: fail the rows in flight
                for request in self.admitting + self.rows + self._take_waiting(len(self.waiting)):
                    if request.finish_reason is None:
                        self._finish(request, "error", error=repr(error))
                self.rows, self.cache, self.admitting = [], None, []
        for request in self.rows + self._take_waiting(len(self.waiting)):
            self._finish(request, "cancelled")

    def _take_waiting(self, n: int) -> list[Request]:
        with self.lock:
            return [self.waiting.popleft() for _ in range(min(n, len(self.waiting)))]

    @torch.no_grad()
    def _admit(self) -> None:
        new = self.admitting = [r for r in self._take_waiting(self.max_batch - len(self.rows)) if not r.cancelled]
        if not new:
            return
        width = max(len(r.prompt_ids) for r in new)
        ids = torch.full((len(new), width), self.pad_id, dtype=torch.long)       # (b, T) left-padded
        mask = torch.zeros((len(new), width), dtype=torch.long)                   # (b, T)
        for i, r in enumerate(new):
            ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids)
            mask[i, width - len(r.prompt_ids):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)                            # (b, T)
        cache = DynamicCache(config=self.model.config)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, **{self.cache_kwarg: cache},
                         use_cache=True, logits_to_keep=1)
        first = self._sample(out.logits[:, -1], new)                              # (b,)
        keep = [i for i, r in enumerate(new) if not self._append(r, int(first[i]))]
        self.on_step(len(self.rows) + len(new), len(self.waiting))
        self.admitting = []
        if not keep:
            return
        index = torch.tensor(keep, device=self.device)
        cache.batch_select_indices(index)
        self._merge([new[i] for i in keep], cache, mask[index], positions[index, -1] + 1, first[index])

    def _merge(self, rows, cache, mask, next_pos, last) -> None:
        """Append new rows to the running batch, left-padding whichever cache is shorter."""
        if not self.rows:
            self.rows, self.cache, self.mask, self.next_pos, self.last = rows, cache, mask, next_pos, last
            return
        length = max(self.mask.shape[1], mask.shape[1])
        for mine, theirs in zip(self.cache.layers, cache.layers):
            mine.keys = torch.cat([_left_pad(mine.keys, length, dim=2), _left_pad(theirs.keys, length, dim=2)])
            mine.values = torch.cat([_left_pad(mine.values, length, dim=2), _left_pad(theirs.values, length, dim=2)])
        self.mask = torch.cat([_left_pad(self.mask, length, dim=1), _left_pad(mask, length, dim=1)])  # (B, L)
        self.rows = self.rows + rows
        self.next_pos = torch.cat([self.next_pos, next_pos])
        self.last = torch.cat([self.last, last])

    @torch.no_grad()
    def _decode_step(self) -> None:
        alive = [i for i, r in enumerate(self.rows) if not r.cancelled]
        for r in self.rows:
            if r.cancelled:
                self._finish(r, "cancelled")
        if len(alive) < len(self.rows):
            self._select(alive)
            if not self.rows:
                return
        B = len(self.rows)
        self.mask = torch.cat([self.mask, torch.ones((B, 1), dtype=torch.long, device=self.device)], dim=1)
        out = self.model(input_ids=self.last[:, None], attention_mask=self.mask,       # (B, 1), (B, L + 1)
                         position_ids=self.next_pos[:, None], use_cache=True, **{self.cache_kwarg: self.cache})
        self.steps += 1
        self.on_step(B, len(self.waiting))
        tokens = self._sample(out.logits[:, -1], self.rows)                             # (B,)
        self.next_pos, self.last = self.next_pos + 1, tokens
        keep = [i for i, r in enumerate(self.rows) if not self._append(r, int(tokens[i]))]
        if len(keep) < B:
            self._select(keep)

    def _select(self, keep: list[int]) -> None:
        """Keep only rows `keep`, then cut the columns that are padding in every remaining row."""
        if not keep:
            self.rows, self.cache, self.mask, self.next_pos, self.last = [], None, None, None, None
            return
        index = torch.tensor(keep, device=self.device)
        self.cache.batch_select_indices(index)
        self.rows = [self.rows[i] for i in keep]
        self.mask, self.next_pos, self.last = self.mask[index], self.next_pos[index], self.last[index]
        start = int((self.mask.sum(0) > 0).nonzero()[0])   # first column that some row still uses
        if start > 0:
            self.mask = self.mask[:, start:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]

    def _sample(self, logits: torch.Tensor, rows: list[Request]) -> torch.Tensor:
        """(B, V) logits -> (B,) tokens: argmax for greedy rows, each sampled row with its own generator."""
        tokens = logits.argmax(-1)
        for i, r in enumerate(rows):
            if r.temperature > 0:
                probs = torch.softmax(logits[i].float() / r.temperature, -1).cpu()       # (V,)
                if r.top_p < 1:
                    sorted_probs, order = probs.sort(descending=True)
                    outside = sorted_probs.cumsum(0) - sorted_probs > r.top_p             # mass before it already > top_p
                    probs[order[outside]] = 0
                tokens[i] = torch.multinomial(probs, 1, generator=r.generator).item()
        return tokens

    def _append(self, r: Request, token: int) -> bool:
        """Add one token to a request, emit the text that is now final; True when the request is done."""
        if r.first_token_at is None:
            r.first_token_at = time.perf_counter()
        if token in self.eos_ids:
            self._flush(r, len(r.text))
            self._finish(r, "stop")
            return True
        r.output_ids.append(token)
        r.text = self.tokenizer.decode(r.output_ids, skip_special_tokens=True)
        hits = [r.text.find(s, max(0, r.sent - len(s))) for s in r.stop]
        hits = [h for h in hits if h >= 0]
        if hits:
            r.text = r.text[:min(hits)]
            self._flush(r, len(r.text))
            self._finish(r, "stop")
            return True
        if len(r.output_ids) >= r.max_tokens:
            self._flush(r, len(r.text))
            self._finish(r, "length")
            return True
        # hold back a trailing partial character and any tail that could be the start of a stop string
        end = len(r.text.rstrip("\ufffd"))
        safe = end
        for s in r.stop:
            k = next((k for k in range(min(len(s) - 1, end), 0, -1) if r.text[:end].endswith(s[:k])), 0)
            safe = min(safe, end - k)
        self._flush(r, safe)
        return False

    def _flush(self, r: Request, upto: int) -> None:
        if upto > r.sent:
            r.on_event("token", r.text[r.sent:upto])
            r.sent = upto

    def _finish(self, r: Request, reason: str, error: str | None = None) -> None:
        r.finish_reason = reason
        r.on_event("done", {"finish_reason": reason, "error": error, "completion_tokens": len(r.output_ids),
                            "prompt_tokens": len(r.prompt_ids)})


def _left_pad(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """Zero-pad `x` on the left along `dim` up to `length`."""
    missing = length - x.shape[dim]
    if missing == 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x.new_zeros(shape), x], dim=dim)
