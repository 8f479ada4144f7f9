"""Search for pretrained models by task, on the Hugging Face hub or in the local catalog.

    from shared.model_search import search_models
    search_models("question-answering", source="hub", limit=10)   # the hub's most downloaded
    search_models(source="local")                                  # the models the tiny profile has

Both sources give `huggingface_hub.ModelInfo` records, so one function turns them into the same
table. The local catalog describes the weights `journey assets` installed (their hub ids,
licenses from data/README.md, parameters counted from the safetensors headers); the hub's
download and like counts do not exist offline and stay empty.
"""
import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd
from huggingface_hub import ModelInfo
from safetensors import safe_open

from .models import tiny_model_dir
from .profile import require_hub

HUB_FIELDS = ["downloads", "likes", "pipeline_tag", "library_name", "tags", "safetensors"]
SOURCES = ("hub", "local")
LOCAL_MODELS = {  # role -> what the local weights are: hub id of the original, task, library, license
    "causal_lm": ("HuggingFaceTB/SmolLM2-135M-Instruct", "text-generation", "transformers", "apache-2.0"),
    "encoder": ("sentence-transformers/all-MiniLM-L6-v2", "sentence-similarity", "sentence-transformers", "apache-2.0"),
    "seq2seq": ("local/t5-tiny", "text2text-generation", "transformers", "mit"),
}


def safetensors_parameters(path: Path) -> dict[str, int]:
    """Parameter count per dtype, read from the file's header only (no weights loaded)."""
    counts = Counter()
    with safe_open(path, framework="np") as weights:
        for name in weights.keys():
            tensor = weights.get_slice(name)
            counts[tensor.get_dtype()] += math.prod(tensor.get_shape())
    return dict(counts)


def local_model_infos() -> list[ModelInfo]:
    """The installed tiny-profile models, described as the hub describes a model."""
    infos = []
    for role, (model_id, task, library, license_id) in LOCAL_MODELS.items():
        folder = tiny_model_dir(role)
        config = json.loads((folder / "config.json").read_text())
        parameters = safetensors_parameters(folder / "model.safetensors")
        infos.append(ModelInfo(
            id=model_id, pipeline_tag=task, library_name=library, config=config,
            tags=[library, config["model_type"], task, f"license:{license_id}", "local"],
            safetensors={"parameters": parameters, "total": sum(parameters.values())}))
    return infos


def hub_model_infos(task: str | None, limit: int, sort: str) -> list[ModelInfo]:
    """The hub's models for `task` (a pipeline tag such as "translation"), best first by `sort`."""
    require_hub("searching the model hub")
    from huggingface_hub import HfApi

    return list(HfApi().list_models(pipeline_tag=task, sort=sort, limit=limit, expand=HUB_FIELDS))


def model_row(info: ModelInfo) -> dict:
    """One table row: what you check before choosing a model (task, size, license, popularity)."""
    license_id = next((t.split(":", 1)[1] for t in info.tags or [] if t.startswith("license:")), None)
    total = info.safetensors.total if info.safetensors else None
    return {"model": info.id, "task": info.pipeline_tag, "library": info.library_name,
            "params_M": round(total / 1e6, 1) if total else float("nan"), "license": license_id,
            "downloads": info.downloads, "likes": info.likes}


def search_models(task: str | None = None, source: str = "hub", limit: int = 10,
                  sort: str = "downloads") -> pd.DataFrame:
    """Models for `task` (None: any task) as a table, from the hub or the local catalog."""
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: use one of {', '.join(SOURCES)}")
    if source == "hub":
        infos = hub_model_infos(task, limit, sort)
    else:
        infos = [info for info in local_model_infos() if task in (None, info.pipeline_tag)][:limit]
    columns = ["model", "task", "library", "params_M", "license", "downloads", "likes"]
    return pd.DataFrame([model_row(info) for info in infos], columns=columns)
