"""Does a chatbot remember? A fact in turn 1, two unrelated turns, a question about it in turn 4.

    recalled(reply, answers)        the reply contains an acceptable answer, after normalisation
    play_history(model, tok, rows)  turns 1-3 of every scripted conversation, with the model's own replies
    memory_test(model, tok, rows)   turn 4 asked three ways, one row per conversation and condition:
        history   the whole conversation (what the chatbot sends while it fits its budget)
        trimmed   the history trimmed to `trim_budget` tokens by `chat.trim_history` (turn 1 falls out)
        none      the question alone (a memory-less bot: the baseline)

Replies are greedy and the conversations run as one left-padded batch per turn (`reply_batch`).
The set is `shared.data.load_dataset("chat_memory")`.
"""
import re

from ..infer.llm import reply_batch
from .chat import prompt_ids, trim_history

CONDITIONS = ("history", "trimmed", "none")


def normalise(text: str) -> str:
    """Lower case, letters and digits only: "KL 1025." and "kl1025" compare equal."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def recalled(reply: str, answers: list[str]) -> bool:
    """Any acceptable answer appears in the reply (both normalised)."""
    return any(normalise(a) and normalise(a) in normalise(reply) for a in answers)


def play_history(model, tokenizer, rows, system: str, reply_tokens: int) -> list[list[dict]]:
    """The first three turns of each conversation: the fact, then the two filler messages, each
    answered by the model. Returns each conversation's messages (without the system prompt)."""
    histories = [[] for _ in rows]
    system_part = [{"role": "system", "content": system}] if system else []
    for turn in range(3):
        users = [r["fact"] if turn == 0 else r["filler"][turn - 1] for r in rows]
        conversations = [system_part + h + [{"role": "user", "content": u}] for h, u in zip(histories, users)]
        replies = reply_batch(model, tokenizer, conversations, max_new_tokens=reply_tokens)
        for history, user, reply in zip(histories, users, replies):
            history += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    return histories


def memory_test(model, tokenizer, rows, system: str, reply_tokens: int = 12, answer_tokens: int = 12,
                trim_budget: int = 96) -> list[dict]:
    """One dict per conversation and condition: id, condition, prompt_tokens, fact_in_prompt,
    echoed (the model's own replies in turns 1-3 hold the answer), reply, recalled (see the module
    docstring)."""
    histories = play_history(model, tokenizer, rows, system, reply_tokens)
    system_part = [{"role": "system", "content": system}] if system else []

    def count(messages):
        return len(prompt_ids(tokenizer, messages))

    prompts = {"history": [], "trimmed": [], "none": []}
    echoed = [recalled(" ".join(m["content"] for m in h if m["role"] == "assistant"), r["answers"])
              for r, h in zip(rows, histories)]
    for row, history in zip(rows, histories):
        question = {"role": "user", "content": row["question"]}
        prompts["history"].append(system_part + history + [question])
        prompts["trimmed"].append(trim_history(system_part + history + [question], trim_budget, count))
        prompts["none"].append(system_part + [question])
    results = []
    for condition in CONDITIONS:
        replies = reply_batch(model, tokenizer, prompts[condition], max_new_tokens=answer_tokens)
        for row, messages, echo, reply in zip(rows, prompts[condition], echoed, replies):
            results.append({"id": row["id"], "condition": condition, "prompt_tokens": count(messages),
                            "fact_in_prompt": any(m["content"] == row["fact"] for m in messages), "echoed": echo,
                            "reply": reply, "recalled": recalled(reply, row["answers"])})
    return results
