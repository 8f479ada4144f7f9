"""Instruction-following and preference data: Alpaca-style instructions and chosen/rejected pairs.

Tiny reads the demo sets that LLaMA-Factory ships in its source distribution (999 Alpaca-style
instructions, 300 preference pairs); full reads the hub datasets named below.
"""
import json

from datasets import Dataset, DatasetDict

from ..assets import PackageFile, register, require
from .registry import dataset, hub

# LLaMA-Factory (hiyouga; Apache-2.0 code) ships small demo datasets in data/. They state no license
# of their own: alpaca_en_demo looks like Alpaca-GPT4 (CC BY-NC 4.0) and dpo_en_demo like
# UltraFeedback-style pairs. Research and teaching use only; see data/README.md.
LLAMAFACTORY_DATA = register(PackageFile(
    "llamafactory_data", "LLaMA-Factory's demo datasets (instructions, preferences, captioned clips)",
    "llamafactory==0.9.5", "llamafactory-0.9.5.tar.gz",
    "1702c0bfb864e80577a59521d2edcacd2aab05ec6aee06188fcba335a589681f", "llamafactory-0.9.5/data/"))


def llamafactory_json(filename: str) -> list[dict]:
    """A JSON list from LLaMA-Factory's data/ folder, e.g. "alpaca_en_demo.json"."""
    return json.loads((require("llamafactory_data") / filename).read_text(encoding="utf-8"))


def _three_way_split(rows: list[dict], n_validation: int, n_test: int, seed: int = 0) -> DatasetDict:
    """train / validation / test drawn once with a fixed seed (validation for choices, test once)."""
    shuffled = Dataset.from_list(rows).shuffle(seed=seed)
    n_train = len(shuffled) - n_validation - n_test
    return DatasetDict(train=shuffled.select(range(n_train)),
                       validation=shuffled.select(range(n_train, n_train + n_validation)),
                       test=shuffled.select(range(n_train + n_validation, len(shuffled))))


# --- Alpaca-style instructions ------------------------------------------------------------------

def _alpaca_cleaned() -> DatasetDict:
    rows = hub("yahma/alpaca-cleaned", split="train").shuffle(seed=0)
    n = len(rows)
    return DatasetDict(train=rows.select(range(n - 1_000)), validation=rows.select(range(n - 1_000, n - 500)),
                       test=rows.select(range(n - 500, n)))


@dataset("instructions", ["instruction", "input", "output"],
         "Alpaca-style instructions: an instruction, an optional input, the reference output",
         "yahma/alpaca-cleaned (51,760 rows; the last 1,000 after a seeded shuffle held out)",
         full=_alpaca_cleaned)
def _instructions_tiny():
    rows = [{key: row[key] for key in ("instruction", "input", "output")} for row in llamafactory_json("alpaca_en_demo.json")]
    return _three_way_split(rows, n_validation=50, n_test=100)


# --- preference pairs ---------------------------------------------------------------------------

def _last_turn(message) -> str:
    """The text of a reply given as a string, a {"from", "value"} turn, or a list of chat messages."""
    if isinstance(message, str):
        return message
    if isinstance(message, dict):
        return message.get("value") or message.get("content", "")
    return message[-1]["content"]


def _ultrafeedback() -> DatasetDict:
    def pair(row):
        return {"prompt": row["prompt"], "chosen": _last_turn(row["chosen"]), "rejected": _last_turn(row["rejected"])}

    parts = {split: hub("HuggingFaceH4/ultrafeedback_binarized", split=name)
             for split, name in (("train", "train_prefs"), ("test", "test_prefs"))}
    return DatasetDict({split: ds.map(pair, remove_columns=ds.column_names) for split, ds in parts.items()})


@dataset("preferences", ["prompt", "chosen", "rejected"],
         "pairwise preferences: a prompt, the preferred reply and the rejected one",
         "HuggingFaceH4/ultrafeedback_binarized (train_prefs / test_prefs, last turn of each reply)",
         full=_ultrafeedback)
def _preferences_tiny():
    rows = [{"prompt": "\n\n".join(turn["value"] for turn in row["conversations"]),
             "chosen": _last_turn(row["chosen"]), "rejected": _last_turn(row["rejected"])}
            for row in llamafactory_json("dpo_en_demo.json")]
    return _three_way_split(rows, n_validation=30, n_test=30)
