"""Dialogue evaluation sets, written for this project (provenance in data/README.md)."""
from .registry import dataset

CHAT_MEMORY_SHA256 = "bb19d03ef1a9a3f4d57452ba5d6836321cfc747ca4965270c48357e771fac4bb"


@dataset("chat_memory", ["id", "fact", "filler", "question", "answers"],
         "scripted 4-turn conversations: a fact in turn 1, two unrelated turns, a question about the fact in "
         "turn 4; `answers` are the acceptable answers (lower case), matched in the reply after normalisation",
         "the same file (written for the project)", full=None)
def _chat_memory():
    import hashlib

    from datasets import Dataset, DatasetDict

    from ..paths import data_dir
    from .registry import jsonl_rows

    digest = hashlib.sha256((data_dir() / "chat_memory.jsonl").read_bytes()).hexdigest()
    if digest != CHAT_MEMORY_SHA256:
        raise RuntimeError(f"data/chat_memory.jsonl has SHA-256 {digest}, expected {CHAT_MEMORY_SHA256}")
    return DatasetDict(test=Dataset.from_list(jsonl_rows("chat_memory.jsonl")))
