"""Summarising documents longer than a model's context window with a chat LLM.

Three strategies, each given the same budget `context_tokens` (prompt + generated tokens of every call):

    truncate     cut the document to what fits in one prompt, summarise that (the naive control: it
                 only ever sees the beginning)
    map-reduce   cut the document into overlapping chunks (`shared.text.chunking`), summarise every
                 chunk on its own (the "map": independent calls, one batch), then summarise the
                 joined partial summaries (the "reduce"; if they do not fit, reduce groups of them
                 first, level by level)
    refine       summarise the first chunk, then for each next chunk ask the model to update the
                 running summary with it (sequential: each call waits for the previous one)

Every call goes through `Generator`, which renders the chat template, refuses a prompt that would not
fit the budget, decodes greedily, and counts the cost: calls, prompt tokens, generated tokens, CPU and
wall seconds.

    generator = Generator(model, tokenizer, context_tokens=384, max_new_tokens=48)
    result = map_reduce(generator, article, chunk_tokens=200, overlap_tokens=24)
    result["summary"], result["steps"], result["cost"]

The tiny profile's runs (SmolLM2-135M-Instruct on the `news_summaries` test articles) are the
derived asset "summary_runs" (greedy, so deterministic; about 3 CPU minutes to build).
"""
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..assets import register_derived, require
from ..text.chunking import chunk_text

SYSTEM = "You are a news editor. You write short, factual summaries that use only facts from the text."
PROMPTS = {  # the instruction comes after the text: small models follow the last thing they read
    "whole": "Article:\n{text}\n\nSummarize this news article in two sentences.",
    "map": "Text:\n{text}\n\nSummarize this part of a news article in two sentences.",
    "reduce": "Notes on consecutive parts of one news article:\n{text}\n\nWrite a summary of the whole "
              "article in two sentences.",
    "refine": "Summary of the article so far:\n{summary}\n\nNext part of the article:\n{text}\n\nRewrite "
              "the summary in two sentences so that it covers both parts.",
}
STRATEGIES = ("truncate", "map_reduce", "refine")


@dataclass
class Cost:
    """What the calls of one summary cost."""
    calls: int = 0
    prompt_tokens: int = 0      # tokens read (chat template included)
    generated_tokens: int = 0   # tokens written (up to and including the end-of-turn token)
    cpu_seconds: float = 0.0    # CPU time of this process while generating
    seconds: float = 0.0        # wall time while generating


@dataclass
class Generator:
    """Greedy chat completions under a context budget, with their cost counted in `cost`."""
    model: object
    tokenizer: object
    context_tokens: int                 # the budget of one call: prompt + generated tokens
    max_new_tokens: int                 # longest reply of one call
    system: str = SYSTEM
    cost: Cost = field(default_factory=Cost)

    def render(self, prompt: str) -> list[int]:
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": prompt}]
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def room(self, template: str, **fields) -> int:
        """How many tokens of `{text}` fit in `template` (with `fields` filled in) under the budget."""
        empty = len(self.render(template.format(text="", **fields)))
        return self.context_tokens - self.max_new_tokens - empty

    def __call__(self, prompts: list[str]) -> list[str]:
        """One greedy reply per prompt, all prompts in one left-padded batch."""
        import torch

        rendered = [self.render(p) for p in prompts]
        too_long = [len(ids) for ids in rendered if len(ids) + self.max_new_tokens > self.context_tokens]
        if too_long:
            raise ValueError(f"a prompt of {max(too_long)} tokens + {self.max_new_tokens} new tokens exceeds the "
                             f"context budget of {self.context_tokens}: use smaller chunks or a larger budget")
        width = max(map(len, rendered))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rendered])       # (B, T)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rendered])
        start_cpu, start = time.process_time(), time.perf_counter()
        with torch.no_grad():
            output = self.model.generate(input_ids=input_ids.to(self.model.device),
                                         attention_mask=attention_mask.to(self.model.device),
                                         max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        self.cost.cpu_seconds += time.process_time() - start_cpu
        self.cost.seconds += time.perf_counter() - start
        replies = []
        for row in output[:, width:].tolist():                                                    # (B, new)
            end = next((i + 1 for i, t in enumerate(row) if t in (self.tokenizer.eos_token_id, pad)), len(row))
            self.cost.generated_tokens += end
            reply = self.tokenizer.decode(row[:end], skip_special_tokens=True).strip()
            replies.append(complete_sentences(reply) if end == len(row) else reply)  # cut off: drop the fragment
        self.cost.calls += len(prompts)
        self.cost.prompt_tokens += sum(map(len, rendered))
        return replies


def complete_sentences(text: str) -> str:
    """`text` without an unfinished last sentence (a reply stopped by `max_new_tokens`), unless that
    would leave nothing."""
    import re

    ends = [m.end() for m in re.finditer(r'[.!?]["\')]?(?=\s|$)', text)]
    return text[:ends[-1]].strip() if ends else text


def _fresh(generator: Generator) -> Generator:
    return Generator(generator.model, generator.tokenizer, generator.context_tokens, generator.max_new_tokens,
                     generator.system)


def truncate(generator: Generator, document: str, **_) -> dict:
    """Summarise the beginning of `document` that fits in one prompt."""
    gen = _fresh(generator)
    ids = gen.tokenizer(document, add_special_tokens=False)["input_ids"]
    room = gen.room(PROMPTS["whole"])
    text = gen.tokenizer.decode(ids[:room]).strip()
    while len(gen.render(PROMPTS["whole"].format(text=text))) + gen.max_new_tokens > gen.context_tokens:
        room -= 1  # decoding then re-encoding a cut can merge tokens differently: cut a little earlier
        text = gen.tokenizer.decode(ids[:room]).strip()
    [summary] = gen([PROMPTS["whole"].format(text=text)])
    return {"summary": summary, "steps": [], "read_fraction": min(1.0, room / len(ids)), "cost": asdict(gen.cost)}


def map_reduce(generator: Generator, document: str, chunk_tokens: int, overlap_tokens: int) -> dict:
    """Summarise every chunk (one batch), then combine the partial summaries (level by level if needed)."""
    gen = _fresh(generator)
    chunks = chunk_text(gen.tokenizer, document, chunk_tokens, overlap_tokens)
    partial = gen([PROMPTS["map"].format(text=chunk) for chunk in chunks])
    steps = [{"chunk": c, "summary": s} for c, s in zip(chunks, partial)]
    while len(partial) > 1:
        groups, room = [[]], gen.room(PROMPTS["reduce"])
        for summary in partial:   # greedy grouping: as many consecutive summaries as fit in one prompt
            joined = "\n".join(f"- {s}" for s in groups[-1] + [summary])
            if groups[-1] and len(gen.tokenizer(joined, add_special_tokens=False)["input_ids"]) > room:
                groups.append([])
            groups[-1].append(summary)
        if len(groups) == len(partial):
            raise ValueError("partial summaries too long to combine: raise context_tokens or lower max_new_tokens")
        partial = gen([PROMPTS["reduce"].format(text="\n".join(f"- {s}" for s in g)) for g in groups])
    return {"summary": partial[0], "steps": steps, "n_chunks": len(chunks), "cost": asdict(gen.cost)}


def refine(generator: Generator, document: str, chunk_tokens: int, overlap_tokens: int) -> dict:
    """Summarise the first chunk, then update the summary with each following chunk, in order."""
    gen = _fresh(generator)
    chunks = chunk_text(gen.tokenizer, document, chunk_tokens, overlap_tokens)
    [summary] = gen([PROMPTS["map"].format(text=chunks[0])])
    steps = [{"chunk": chunks[0], "summary": summary}]
    for chunk in chunks[1:]:
        [summary] = gen([PROMPTS["refine"].format(summary=summary, text=chunk)])
        steps.append({"chunk": chunk, "summary": summary})
    return {"summary": summary, "steps": steps, "n_chunks": len(chunks), "cost": asdict(gen.cost)}


STRATEGY_FUNCTIONS = {"truncate": truncate, "map_reduce": map_reduce, "refine": refine}


def run_strategies(generator: Generator, documents: list[str], chunk_tokens: int, overlap_tokens: int,
                   progress: bool = True) -> dict[str, list[dict]]:
    """{strategy: one result per document} for the three strategies."""
    from ..utils import tqdm

    return {name: [STRATEGY_FUNCTIONS[name](generator, d, chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens)
                   for d in tqdm(documents, desc=name, disable=not progress)]
            for name in STRATEGIES}


# --- the tiny profile's runs, cached ------------------------------------------------------------

RUN_RECIPE = {"split": "test", "context_tokens": 384, "chunk_tokens": 200, "overlap_tokens": 24,
              "max_new_tokens": 40, "threads": 1, "version": 1}


def _recipe_documents() -> list[dict]:
    from ..data import load_dataset

    return list(load_dataset("news_summaries", profile="tiny")[RUN_RECIPE["split"]])


def _build(out: Path) -> None:
    import torch

    from ..models import load_causal_lm

    torch.set_num_threads(RUN_RECIPE["threads"])
    model, tokenizer = load_causal_lm(None, dtype=torch.float32)
    model.eval()
    generator = Generator(model, tokenizer, RUN_RECIPE["context_tokens"], RUN_RECIPE["max_new_tokens"])
    rows = _recipe_documents()
    runs = run_strategies(generator, [r["document"] for r in rows], RUN_RECIPE["chunk_tokens"],
                          RUN_RECIPE["overlap_tokens"], progress=False)
    (out / "runs.json").write_text(json.dumps({"ids": [r["id"] for r in rows], "runs": runs}, indent=1))


def _recipe() -> str:
    source = json.dumps([RUN_RECIPE, SYSTEM, PROMPTS, [(r["id"], r["document"]) for r in _recipe_documents()]])
    return "summary_runs " + hashlib.sha256(source.encode()).hexdigest()[:16]


register_derived("summary_runs", "SmolLM2-135M-Instruct's truncate / map-reduce / refine summaries of the "
                 "news_summaries test articles, with their cost (module 11, notebook 03; ~3 CPU min)", _build, _recipe)


def summary_runs(generator: Generator, rows: list[dict], chunk_tokens: int, overlap_tokens: int,
                 model_name: str | None) -> dict[str, list[dict]]:
    """The three strategies' results for `rows` (dicts with id, document): the cached asset when the
    tiny model (`model_name` None) meets the recipe's articles and settings, else generated now."""
    settings = {"context_tokens": generator.context_tokens, "max_new_tokens": generator.max_new_tokens,
                "chunk_tokens": chunk_tokens, "overlap_tokens": overlap_tokens}
    if model_name is None and all(RUN_RECIPE[k] == v for k, v in settings.items()):
        cached = json.loads((require("summary_runs") / "runs.json").read_text())
        if cached["ids"] == [r["id"] for r in rows]:
            return cached["runs"]
    return run_strategies(generator, [r["document"] for r in rows], chunk_tokens, overlap_tokens)
