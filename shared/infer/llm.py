"""Everyday calls on a causal LM: chat with it, and measure its perplexity on text."""
import math

import torch


def chat(model, tokenizer, prompt: str, max_new_tokens: int = 40, system: str | None = None) -> str:
    """Greedy reply to one user message, using the tokenizer's chat template."""
    return chat_batch(model, tokenizer, [prompt], max_new_tokens=max_new_tokens, system=system)[0]


def chat_batch(model, tokenizer, prompts: list[str], max_new_tokens: int = 40, system: str | None = None,
               batch_size: int = 16, stop_strings: list[str] | None = None) -> list[str]:
    """`chat` for many user messages at once: greedy replies, `batch_size` prompts per forward pass."""
    system_part = [{"role": "system", "content": system}] if system else []
    return reply_batch(model, tokenizer, [system_part + [{"role": "user", "content": p}] for p in prompts],
                       max_new_tokens=max_new_tokens, batch_size=batch_size, stop_strings=stop_strings)


@torch.no_grad()
def reply_batch(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 40,
                batch_size: int = 16, stop_strings: list[str] | None = None) -> list[str]:
    """Greedy assistant replies to many conversations (each a list of {"role", "content"} messages
    ending with a user turn), `batch_size` conversations per forward pass. A reply ends early at any of
    `stop_strings` (e.g. ["\\n"] for a one-line answer; the stop string stays in the reply).

    Prompts are padded on the left, so every row's next token is predicted at the same last position."""
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    replies = []
    try:
        for start in range(0, len(conversations), batch_size):
            texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                     for c in conversations[start:start + batch_size]]
            inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            stop = {"stop_strings": stop_strings, "tokenizer": tokenizer} if stop_strings else {}
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id, **stop)  # (B, T + new_tokens)
            new_tokens = output[:, inputs["input_ids"].shape[1]:]                # (B, new_tokens)
            replies += [r.strip() for r in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = padding_side
    return replies


@torch.no_grad()
def perplexity(model, tokenizer, texts: list[str], max_length: int = 512) -> float:
    """exp(mean negative log-likelihood per predicted token) over all `texts`, each scored alone."""
    total_nll, total_tokens = 0.0, 0
    for text in texts:
        ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).input_ids
        ids = ids.to(model.device)                       # (1, T)
        logits = model(ids).logits[:, :-1]              # (1, T-1, V): predictions for tokens 2..T
        nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten(),
                                                reduction="sum")
        total_nll += nll.item()
        total_tokens += ids.shape[1] - 1
    return math.exp(total_nll / total_tokens)
