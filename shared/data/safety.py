"""Source files for safety data: the PromptInject attack and prompt catalogue (Perez & Ribeiro,
2022; MIT), read from the package's prompt_data.py without importing it."""
import ast

from ..assets import PackageFile, register, require

register(PackageFile(
    "promptinject_prompt_data", "PromptInject's catalogue of app prompts and goal-hijacking / prompt-leaking attacks (MIT)",
    "promptinject==0.1.1.1", "promptinject-0.1.1.1-py3-none-any.whl",
    "98d020b6878c0c32703110d19c0b1651868e906da0f3b1472d349923bda5fedf", "promptinject/prompt_data.py"))


def promptinject_tables() -> dict:
    """The module-level literals of PromptInject's prompt_data.py (name -> dict/list/str), read with
    `ast.literal_eval`, so none of its code runs."""
    tree = ast.parse(require("promptinject_prompt_data").read_text(encoding="utf-8"))
    tables = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                tables[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:  # not a literal (none expected): leave it out
                continue
    return tables
