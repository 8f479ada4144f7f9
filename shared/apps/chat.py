"""A chatbot app: a causal LM behind a Gradio chat UI, with streaming, memory and guards.

    trim_history(messages, budget, count_tokens)   drop the oldest exchanges until the prompt fits
    history_messages(history)                      Gradio's chat history -> chat-template messages
    Chatbot(model, tokenizer)                      the app's logic, with no UI:
        .prompt(system, history, message)          the messages the model sees (trimmed to the budget)
        .stream(messages)                          yields text pieces as they are generated, timed
        .respond(message, history, system, ...)    the UI's generator: guards + prompt + stream
    build_app(bot)                                 a `gr.ChatInterface`: system prompt, guard switches
    serve_chat(model=None, port=7860)              what `journey chat` runs

Memory is the prompt: a chat model is stateless, so every turn re-sends the system prompt and the
history. The context window (and the cost of prefill) bounds it, so the oldest exchanges are
dropped first, whole, once the rendered prompt exceeds `max_context_tokens`.

Guards (module 10): with `input_guard` the user's message goes through `serve.guards.injection_score`
and a prompt injection is refused before the model sees it; with `output_guard` the finished reply
goes through `serve.output_monitor.output_flags` (a toxic or leaking reply is withheld, PII is
redacted). A refused or withheld exchange stays on screen but never re-enters the prompt.
"""
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

GUARD_PREFIX = "[guard]"   # replies that start with this are notices, not the model's words
REFUSED = GUARD_PREFIX + " Refused by the input guard: the message looks like a prompt injection (score {score:.2f})."
WITHHELD = GUARD_PREFIX + " Withheld by the output monitor: {reasons}."
DEFAULT_SYSTEM = "You are a helpful, concise assistant. Use what the user told you earlier in the conversation."


def trim_history(messages: list[dict], budget: int, count_tokens: Callable[[list[dict]], int]) -> list[dict]:
    """The messages with the oldest exchanges dropped until `count_tokens(kept) <= budget`.

    `messages` = [system messages...] + history + [the new user message]. The leading system
    messages and the last message are always kept; history goes one exchange at a time (a user
    message and the assistant replies after it), oldest first, so the prompt never opens with an
    assistant reply. Raises ValueError when even system + new message do not fit."""
    if budget < 1:
        raise ValueError(f"budget must be a positive number of tokens, got {budget}")
    if not messages:
        raise ValueError("no messages: pass at least the new user message")
    n_system = 0
    while n_system < len(messages) - 1 and messages[n_system]["role"] == "system":
        n_system += 1
    system, history, last = messages[:n_system], list(messages[n_system:-1]), messages[-1]
    while count_tokens(system + history + [last]) > budget:
        if not history:
            raise ValueError(f"the system prompt and the new message alone take {count_tokens(system + [last])} "
                             f"tokens, over the budget of {budget}: shorten them or raise the budget")
        history.pop(0)                                        # the oldest message (a user turn) ...
        while history and history[0]["role"] != "user":       # ... and the replies that answered it
            history.pop(0)
    return system + history + [last]


def _text(content) -> str:
    """A message's text: Gradio gives a string, or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return content.get("text", "") or ""
    if isinstance(content, (list, tuple)):
        return "".join(_text(part) for part in content)
    return ""


def history_messages(history) -> list[dict]:
    """Gradio's history (a list of {"role", "content"} dicts) as chat-template messages, without
    the exchanges a guard answered (the notice and the message it answered)."""
    messages = []
    for item in history or []:
        role, text = item["role"], _text(item["content"])
        if role == "assistant" and text.startswith(GUARD_PREFIX):
            if messages and messages[-1]["role"] == "user":
                messages.pop()                  # the refused message leaves the prompt with its notice
            continue
        if role in ("user", "assistant") and text:
            messages.append({"role": role, "content": text})
    return messages


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """The token ids the model reads for `messages`, ending with the assistant's turn header."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class ReplyStats:
    """The timing of one streamed reply (seconds from the request, before tokenisation)."""
    prompt_tokens: int
    new_tokens: int
    ttft_s: float         # time to first token: tokenise + prefill + first sampled token
    total_s: float        # until the last token
    kept_messages: int    # messages in the prompt after trimming
    dropped_messages: int # history messages trimmed away to fit the budget
    text: str = ""        # the reply
    token_s: tuple[float, ...] = ()   # when each token arrived, seconds from the request

    @property
    def decode_tokens_per_s(self) -> float:
        """Tokens after the first, per second after the first: the decode rate a reader sees."""
        return (self.new_tokens - 1) / (self.total_s - self.ttft_s) if self.new_tokens > 1 else float("nan")


class _TimedStreamer(TextIteratorStreamer):
    """TextIteratorStreamer that also counts the generated tokens and notes when each arrived."""

    def __init__(self, tokenizer, **kwargs):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True, **kwargs)
        self.token_times: list[float] = []

    def put(self, value):
        if not self.next_tokens_are_prompt:  # generate() first puts the prompt; skip_prompt drops it
            self.token_times += [time.perf_counter()] * value.numel()
        super().put(value)


class _Stopped(StoppingCriteria):
    """Ends `generate` as soon as `event` is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        return self.event.is_set()


class Chatbot:
    """A model and tokenizer, and the rules of one chat app (budget, reply length, guards)."""

    def __init__(self, model, tokenizer, max_context_tokens: int = 1024, max_new_tokens: int = 64,
                 name: str = "model"):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_context_tokens, self.max_new_tokens, self.name = max_context_tokens, max_new_tokens, name
        self.stats: list[ReplyStats] = []   # one per streamed reply, oldest first
        self.lock = threading.Lock()        # one generation at a time: the model is shared

    def count_tokens(self, messages: list[dict]) -> int:
        return len(prompt_ids(self.tokenizer, messages))

    @staticmethod
    def untrimmed(system: str | None, history, message: str) -> list[dict]:
        """System prompt (if any) + the whole history + the new message."""
        system_part = [{"role": "system", "content": system.strip()}] if system and system.strip() else []
        return system_part + history_messages(history) + [{"role": "user", "content": message}]

    def prompt(self, system: str | None, history, message: str) -> list[dict]:
        """System prompt (if any) + the history that fits the budget + the new message."""
        return trim_history(self.untrimmed(system, history, message), self.max_context_tokens, self.count_tokens)

    def stream(self, messages: list[dict], max_new_tokens: int | None = None, dropped: int = 0) -> Iterator[str]:
        """Greedy reply to `messages`, yielded piece by piece as the tokens are generated
        (`generate` runs in a thread and feeds a streamer). Appends its `ReplyStats` at the end."""
        start = time.perf_counter()
        ids = torch.tensor([prompt_ids(self.tokenizer, messages)], device=self.model.device)  # (1, T)
        streamer = _TimedStreamer(self.tokenizer, timeout=300)
        stop = threading.Event()        # set when the reader goes away (the UI's stop button, a closed tab)
        failure = []
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id

        def generate():
            try:
                self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                                    max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False,
                                    pad_token_id=pad_id,
                                    stopping_criteria=StoppingCriteriaList([_Stopped(stop)]))
            except Exception as error:  # noqa: BLE001  (re-raised in the caller's thread below)
                failure.append(error)
                streamer.end()

        with self.lock:
            worker = threading.Thread(target=generate, daemon=True)
            worker.start()
            text = ""
            try:
                for piece in streamer:
                    if piece:
                        text += piece
                        yield piece
            finally:            # also when the generator is closed early: stop generating, free the model
                stop.set()
                worker.join()
        if failure:
            raise failure[0]
        times, end = streamer.token_times, time.perf_counter()
        self.stats.append(ReplyStats(ids.shape[1], len(times), (times[0] if times else end) - start,
                                     (times[-1] if times else end) - start, len(messages), dropped, text,
                                     tuple(t - start for t in times)))

    def respond(self, message: str, history=None, system: str | None = DEFAULT_SYSTEM, input_guard: bool = False,
                output_guard: bool = False, max_new_tokens: int | None = None) -> Iterator[str]:
        """The UI's generator: yields the reply so far after each piece (what Gradio streams)."""
        if not message or not message.strip():
            yield "Type a message first."
            return
        if input_guard:
            from ..serve.guards import injection_score, load_classifier

            score = injection_score(message)
            if score >= load_classifier()["threshold"]:
                yield REFUSED.format(score=score)
                return
        everything = self.untrimmed(system, history, message)
        messages = trim_history(everything, self.max_context_tokens, self.count_tokens)
        reply = ""
        for piece in self.stream(messages, max_new_tokens, dropped=len(everything) - len(messages)):
            reply += piece
            yield reply
        if output_guard:
            checked = guard_reply(reply, system)
            if checked != reply:
                yield checked


def guard_reply(reply: str, system: str | None = None) -> str:
    """The reply as the output monitor lets it through: withheld if toxic or leaking the system
    prompt, personal data redacted, else unchanged."""
    from ..serve.output_monitor import categories, output_flags, redact

    flags = output_flags(reply, system)
    worst = categories(flags) & {"toxic", "leak"}
    if worst:
        return WITHHELD.format(reasons=", ".join(sorted(worst)))
    return redact(reply) if "pii" in categories(flags) else reply


def build_app(bot: Chatbot, system: str = DEFAULT_SYSTEM, title: str | None = None):
    """The Gradio UI: a chat with the system prompt, the two guard switches and the reply length
    as extra inputs (under "Settings"). API name of the chat endpoint: "/chat"."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def chat(message, history, system_prompt, input_guard, output_guard, max_new_tokens):
        yield from bot.respond(message, history, system_prompt, input_guard, output_guard, int(max_new_tokens))

    return gr.ChatInterface(
        chat,
        additional_inputs=[
            gr.Textbox(system, label="System prompt", lines=2),
            gr.Checkbox(False, label="Input guard (refuse prompt injections)"),
            gr.Checkbox(False, label="Output guard (withhold leaks and toxic replies, redact PII)"),
            gr.Slider(1, 512, value=bot.max_new_tokens, step=1, label="Max new tokens"),
        ],
        additional_inputs_accordion=gr.Accordion("Settings", open=False),
        title=title or f"Chat with {bot.name}",
        description=f"Greedy decoding; the history is trimmed to {bot.max_context_tokens} prompt tokens, oldest first.",
        api_name="chat", concurrency_limit=1, flagging_mode="never", analytics_enabled=False,
    )


def load_chatbot(model: str | None = None, max_context_tokens: int = 1024, max_new_tokens: int = 128) -> Chatbot:
    """A Chatbot for a hub id or a local folder (`shared.serve.server.load_model`; the tiny profile
    always loads SmolLM2-135M-Instruct, offline)."""
    from ..serve.server import load_model

    lm, tokenizer, served = load_model(model)
    return Chatbot(lm, tokenizer, max_context_tokens=max_context_tokens, max_new_tokens=max_new_tokens, name=served)


def serve_chat(model: str | None = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
               max_context_tokens: int = 1024, max_new_tokens: int = 128, threads: int | None = None) -> None:
    """Load the model and serve the chat UI until interrupted (what `journey chat` runs)."""
    from ..profile import active_profile

    if threads or active_profile().name == "tiny":  # tiny: one thread, like the notebooks
        torch.set_num_threads(threads or 1)
    bot = load_chatbot(model, max_context_tokens, max_new_tokens)
    print(f"chat with {bot.name} on http://{host}:{port} (context budget {max_context_tokens} tokens)", flush=True)
    build_app(bot).launch(server_name=host, server_port=port, share=share)
