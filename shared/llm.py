"""Everyday calls on a causal LM: chat with it, and measure its perplexity on text."""
import math

import torch


@torch.no_grad()
def chat(model, tokenizer, prompt: str, max_new_tokens: int = 40, system: str | None = None) -> str:
    """Greedy reply to one user message, using the tokenizer's chat template."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                            pad_token_id=tokenizer.pad_token_id)
    reply = output[0, inputs["input_ids"].shape[1]:]  # (new_tokens,)
    return tokenizer.decode(reply, skip_special_tokens=True).strip()


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
