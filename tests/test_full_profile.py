"""The full profile cannot run offline, so what can be checked without the hub is checked here:
every model and dataset a notebook's full config names, against how the notebook's code uses it.

- Models: each `load_causal_lm` / `load_encoder` / `load_seq2seq` / `model_source` call is traced
  to the name it gets in the full profile (a literal, `cfg["key"]` from `full=dict(...)`, or the
  loader's default) and checked against `shared.models.HUB_MODELS`: the model is listed, it is
  loaded by the loader of its role, `chat`/`chat_batch`/`apply_chat_template` only meet models
  with a chat template, `sentence_embeddings` only sentence encoders, `AutoModelForQuestionAnswering`
  only a trained span head, and a bfloat16 checkpoint is loaded with an explicit dtype (a T4 has
  no bfloat16). Every hub id ("owner/name") in a full config must be listed too.
- Datasets: every `load_dataset(name)` is registered; the splits the code indexes exist in the
  full version (FULL_SPLITS below, from the registry's full builders), and `.select(range(n))`
  never asks for more rows than the split has.
"""
import ast
import json
from pathlib import Path

import pytest

from shared.assets import AssetMissing
from shared.data import DATASETS, load_dataset
from shared.models import FULL_DEFAULTS, HUB_ALIASES, HUB_MODELS, hub_model, tiny_model_dir

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("module*/*.ipynb"))
LOADERS = {"load_causal_lm": "causal_lm", "load_encoder": "encoder", "load_seq2seq": "seq2seq"}
NEEDS_CHAT_TEMPLATE = {"chat", "chat_batch"}          # first argument: the model
NEEDS_SENTENCE_ENCODER = {"sentence_embeddings"}      # first argument: the model
# split -> rows of each registered dataset's full version (None: not fixed in advance), from the
# builders in shared/data/ and the hub datasets' cards. A new dataset with a full builder needs a row.
FULL_SPLITS = {
    "imdb": {"train": 25_000, "test": 25_000},
    "rotten_tomatoes": {"train": 8_530, "test": 1_066},
    "news": {"train": 120_000, "test": 7_600},                     # AG News
    "wikipedia": {"train": 20_000},                                # the first 20,000 articles, streamed
    "wikitext": {"train": None, "validation": None, "test": None}, # WikiText-103 lines joined into articles
    "books": {"train": 100},                                       # the first 100 Gutenberg books
    "qa": {"test": 10_570},                                        # SQuAD v1.1 validation
    "translation": {"train": 29_000, "test": 1_000},               # Multi30k
    "translation_en_de": {"test": 1_000},
    "stories_poems": {"train": None, "test": None},                # 2,000 + 200 stories, and the poems
    "summarization": {"train": 287_113, "test": 11_490},           # CNN/DailyMail 3.0.0
    "news_summaries": {"validation": 13_368, "test": 11_490},      # CNN/DailyMail 3.0.0
    "20newsgroups": {"train": 11_314, "test": 7_532},
    "instructions": {"train": 50_760, "validation": 500, "test": 500},
    "preferences": {"train": 61_135, "test": 2_000},               # UltraFeedback train_prefs / test_prefs
    "conll2003": {"train": 14_041, "validation": 3_250, "test": 3_453},  # sentences (eriktks/conll2003)
}


def code_of(path: str) -> str:
    cells = json.loads((ROOT / path).read_text())["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("!", "%")))  # no shell or magics


def full_config(tree: ast.AST) -> dict:
    """The literal values of `pick(..., full=dict(...))` (expressions that are not literals are left out)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "pick":
            full = next((kw.value for kw in node.keywords if kw.arg == "full"), None)
            if isinstance(full, ast.Call) and getattr(full.func, "id", None) == "dict":
                config = {}
                for kw in full.keywords:
                    try:
                        config[kw.arg] = ast.literal_eval(kw.value)
                    except ValueError:
                        pass
                return config
    return {}


class Unknown:
    """A value the check cannot work out statically (a loop variable, a computed name)."""


def resolve(node, config: dict):
    """A string/number/None for a literal or `cfg["key"]`, else Unknown."""
    if node is None:
        return None
    if isinstance(node, ast.Constant):
        return node.value
    if (isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "cfg"
            and isinstance(node.slice, ast.Constant)):
        return config.get(node.slice.value, Unknown)
    return Unknown


def keyword(call: ast.Call, name: str):
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def argument(call: ast.Call, position: int, name: str):
    """The argument passed by keyword `name` or at `position`, or None."""
    value = keyword(call, name)
    return value if value is not None or len(call.args) <= position else call.args[position]


def called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def model_uses(path: str) -> list[dict]:
    """One dict per model the notebook loads in the full profile: name, role, the call, and what
    the code then does with it (`needs`)."""
    tree = ast.parse(code_of(path))
    config = full_config(tree)
    uses, by_variable = [], {}  # variable name -> use (the model or its tokenizer)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = called_name(node)
        if name in LOADERS:
            role, model = LOADERS[name], resolve(argument(node, 0, "full_name"), config)
        elif name == "model_source":
            role, model = resolve(argument(node, 0, "role"), config), resolve(argument(node, 1, "full_name"), config)
        else:
            continue
        if role is Unknown or model is Unknown:
            continue
        use = {"name": model or FULL_DEFAULTS[role], "role": role, "call": node, "needs": set(), "line": node.lineno}
        uses.append(use)
    for node in ast.walk(tree):  # `model, tokenizer = load_x(...)`: remember both names
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            use = next((u for u in uses if u["call"] is node.value), None)
            targets = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets
            for target in targets if use else []:
                if isinstance(target, ast.Name):
                    by_variable[target.id] = use
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = called_name(node)
        first = node.args[0] if node.args else None
        if name in NEEDS_CHAT_TEMPLATE | NEEDS_SENTENCE_ENCODER and isinstance(first, ast.Name) and first.id in by_variable:
            by_variable[first.id]["needs"].add("chat template" if name in NEEDS_CHAT_TEMPLATE else "sentence encoder")
        if (name == "apply_chat_template" and isinstance(node.func, ast.Attribute)
                and getattr(node.func.value, "id", None) in by_variable):
            by_variable[node.func.value.id]["needs"].add("chat template")
    return uses


def model_problems(use: dict) -> list[str]:
    name, call = use["name"], use["call"]
    model = hub_model(name)
    if model is None:
        return [f"{name!r} is not in shared.models.HUB_MODELS: add it with its facts (role, head, chat template, dtype)"]
    problems = []
    if model.role != use["role"]:
        problems.append(f"{name!r} is a {model.role} ({model.architecture}), loaded as a {use['role']}")
    if "chat template" in use["needs"] and not model.chat_template:
        problems.append(f"{name!r} has no chat template, but the code chats with it")
    if "sentence encoder" in use["needs"] and model.task != "sentence-similarity":
        problems.append(f"{name!r} ({model.task}) was not trained for sentence embeddings")
    model_class = keyword(call, "model_class")
    if getattr(model_class, "id", None) == "AutoModelForQuestionAnswering" and model.task != "question-answering":
        problems.append(f"{name!r} has no trained question-answering head")
    if called_name(call) == "load_causal_lm" and model.stored_dtype == "bfloat16" and keyword(call, "dtype") is None:
        problems.append(f"{name!r} is stored in bfloat16, which a T4 lacks: pass dtype= (float16 or float32)")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_full_profile_models_fit_how_the_code_uses_them(path):
    problems = [f"line {use['line']}: {p}" for use in model_uses(path) for p in model_problems(use)]
    assert not problems, f"{path} (full profile):\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_hub_ids_in_full_configs_are_catalogued(path):
    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)

    hub_ids = [s for s in strings(full_config(ast.parse(code_of(path)))) if s.count("/") == 1 and " " not in s]
    unknown = [s for s in hub_ids if hub_model(s) is None]
    assert not unknown, f"{path}: full config names {unknown}, missing from shared.models.HUB_MODELS"


def test_defaults_are_catalogued_in_their_role():
    for role, name in FULL_DEFAULTS.items():
        assert hub_model(name) is not None and hub_model(name).role == role, (role, name)
    assert hub_model(FULL_DEFAULTS["causal_lm"]).chat_template  # chat(lm, ...) works with the default LM
    assert all(target in HUB_MODELS for target in HUB_ALIASES.values())


@pytest.mark.parametrize("role, hub_id", [("causal_lm", "HuggingFaceTB/SmolLM2-135M-Instruct"),
                                          ("encoder", "sentence-transformers/all-MiniLM-L6-v2")])
def test_catalogue_agrees_with_the_offline_copies(role, hub_id):
    """The tiny profile's models are hub models too: their local config and tokenizer confirm the facts."""
    try:
        folder = tiny_model_dir(role)
    except AssetMissing as missing:
        pytest.skip(f"offline model not installed: {missing}")
    config = json.loads((folder / "config.json").read_text())
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    has_template = (folder / "chat_template.jinja").exists() or "chat_template" in tokenizer_config
    assert config["architectures"][0] == HUB_MODELS[hub_id].architecture
    assert has_template == HUB_MODELS[hub_id].chat_template


def test_model_source_refuses_a_model_of_another_role(monkeypatch):
    from shared import models

    monkeypatch.setattr(models, "active_profile", lambda: type("Full", (), {"name": "full"})())
    with pytest.raises(ValueError, match="not a causal_lm"):
        models.model_source("causal_lm", "sentence-transformers/all-MiniLM-L6-v2")


# --- datasets ----------------------------------------------------------------------------------

def dataset_uses(path: str) -> list[tuple[str, str | None, object, int]]:
    """(dataset, split or None, rows asked for by .select(range(n)) or None, line) per use."""
    tree = ast.parse(code_of(path))
    config = full_config(tree)
    variables = {}  # name -> (dataset, split or None)

    def source_of(node):
        """(dataset, split or None) that an expression reads, through .shuffle()/.select() chains."""
        if isinstance(node, ast.Call) and called_name(node) == "load_dataset" and isinstance(node.args[0], ast.Constant):
            return node.args[0].value, None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return source_of(node.func.value)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            inner = source_of(node.value)
            if inner and inner[1] is None:
                return inner[0], node.slice.value
            return inner
        if isinstance(node, ast.Name):
            return variables.get(node.id)
        return None

    for node in ast.walk(tree):  # names bound to a dataset or to one of its splits
        if isinstance(node, ast.Assign):
            pairs = (zip(node.targets[0].elts, node.value.elts)
                     if isinstance(node.targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple)
                     else [(node.targets[0], node.value)])
            for target, value in pairs:
                if isinstance(target, ast.Name) and source_of(value):
                    variables[target.id] = source_of(value)
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and called_name(node) == "load_dataset" and node.args:
            uses.append((resolve(node.args[0], config), None, None, node.lineno))
        source = source_of(node) if isinstance(node, (ast.Subscript, ast.Call)) else None
        if source and source[1] is not None:
            rows = None
            if (isinstance(node, ast.Call) and called_name(node) == "select" and node.args
                    and isinstance(node.args[0], ast.Call) and called_name(node.args[0]) == "range"):
                rows = resolve(node.args[0].args[-1], config)
            uses.append((*source, rows, node.lineno))
    return uses


def full_splits(name: str) -> dict:
    if DATASETS[name].full is None:  # the offline files are the whole dataset, in both profiles
        try:
            return {split: len(rows) for split, rows in load_dataset(name, profile="tiny").items()}
        except AssetMissing as missing:
            pytest.skip(f"dataset {name!r} not installed: {missing}")
    return FULL_SPLITS[name]


def test_every_dataset_with_a_full_builder_has_its_splits_listed():
    assert {name for name, spec in DATASETS.items() if spec.full is not None} <= set(FULL_SPLITS)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_full_profile_datasets_have_the_splits_and_rows_the_code_reads(path):
    problems = []
    for name, split, rows, line in dataset_uses(path):
        if name is Unknown:
            continue
        if name not in DATASETS:
            problems.append(f"line {line}: unknown dataset {name!r}")
            continue
        splits = full_splits(name)
        if split is not None and split not in splits:
            problems.append(f"line {line}: the full {name!r} has no split {split!r} (it has {sorted(splits)})")
        elif split is not None and isinstance(rows, int) and splits[split] is not None and rows > splits[split]:
            problems.append(f"line {line}: selects {rows:,} rows of {name}/{split}, which has {splits[split]:,}")
    assert not problems, f"{path} (full profile):\n" + "\n".join(problems)
