"""Named model loaders that return standard transformers objects: `(model, tokenizer)`.

| role       | tiny (offline, CPU)                        | full (hub), unless `full_name` says otherwise |
|------------|--------------------------------------------|-----------------------------------------------|
| causal LM  | SmolLM2-135M-Instruct (from its GGUF)      | SmolLM2-360M-Instruct (same family, chat template) |
| encoder    | all-MiniLM-L6-v2 (BERT architecture)       | bert-base-uncased                             |
| seq2seq    | a small T5 pretrained by `shared.train.tiny_t5`  | t5-small                                |

The tiny weights are verified by SHA-256 when `journey assets` installs them; a missing one
raises `AssetMissing` naming that command.

`HUB_MODELS` lists every hub model the full profile loads, with the facts its code relies on
(which loader, what head, whether it has a chat template, its stored dtype). The full profile
cannot run offline, so `tests/test_full_profile.py` checks each notebook's full config against
this catalogue instead: a name that is not a causal LM passed to `load_causal_lm`, `chat()` on a
model without a chat template, or a bfloat16 checkpoint loaded without a dtype (a T4 has no
bfloat16) fails there, not after an hour on a GPU.
"""
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from .assets import require
from .profile import active_profile, require_hub

TINY_FOLDERS = {"causal_lm": "smollm2", "encoder": "minilm", "seq2seq": "t5_tiny"}
FULL_DEFAULTS = {"causal_lm": "HuggingFaceTB/SmolLM2-360M-Instruct", "encoder": "bert-base-uncased",
                 "seq2seq": "t5-small"}


@dataclass(frozen=True)
class HubModel:
    """What the course's code relies on about a hub model (its config.json and model card)."""
    role: str             # the loader that loads it: "causal_lm", "encoder" or "seq2seq"; "text_to_image" and
                          # "clip": loaded by diffusers / transformers in shared.train.text_to_image;
                          # "video_lm" (full only): shared.vision.video_lm.load_video_lm
    architecture: str     # config.json `architectures[0]`: the class its weights were saved from
    task: str             # the hub's pipeline tag: what its head (or training) is for
    chat_template: bool   # its tokenizer has a chat template (chat, chat_batch, apply_chat_template)
    stored_dtype: str     # dtype of the checkpoint, which `from_pretrained` keeps unless told otherwise
    parameters_m: float   # millions of parameters (model card)


HUB_MODELS = {  # every hub model a full profile loads; aliases in HUB_ALIASES
    "HuggingFaceTB/SmolLM2-135M-Instruct": HubModel("causal_lm", "LlamaForCausalLM", "text-generation", True, "bfloat16", 135),
    "HuggingFaceTB/SmolLM2-360M-Instruct": HubModel("causal_lm", "LlamaForCausalLM", "text-generation", True, "bfloat16", 362),
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": HubModel("causal_lm", "LlamaForCausalLM", "text-generation", True, "bfloat16", 1711),
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": HubModel("causal_lm", "Qwen2ForCausalLM", "text-generation", True, "bfloat16", 1544),
    "openai-community/gpt2": HubModel("causal_lm", "GPT2LMHeadModel", "text-generation", False, "float32", 124),
    "google-bert/bert-base-uncased": HubModel("encoder", "BertForMaskedLM", "fill-mask", False, "float32", 110),
    "distilbert/distilbert-base-uncased": HubModel("encoder", "DistilBertForMaskedLM", "fill-mask", False, "float32", 67),
    "FacebookAI/roberta-base": HubModel("encoder", "RobertaForMaskedLM", "fill-mask", False, "float32", 125),
    "microsoft/deberta-v3-small": HubModel("encoder", "DebertaV2Model", "fill-mask", False, "float32", 141),
    "sentence-transformers/all-MiniLM-L6-v2": HubModel("encoder", "BertModel", "sentence-similarity", False, "float32", 22.7),
    "sentence-transformers/all-mpnet-base-v2": HubModel("encoder", "MPNetForMaskedLM", "sentence-similarity", False, "float32", 109),
    "distilbert/distilbert-base-cased-distilled-squad": HubModel(
        "encoder", "DistilBertForQuestionAnswering", "question-answering", False, "float32", 65),
    "google-t5/t5-small": HubModel("seq2seq", "T5ForConditionalGeneration", "translation", False, "float32", 60.5),
    "Helsinki-NLP/opus-mt-en-de": HubModel("seq2seq", "MarianMTModel", "translation", False, "float32", 74),
    # loaded by diffusers / transformers directly (shared.train.text_to_image), not by a course loader;
    # SD 1.5: UNet 860M + CLIP text encoder 123M + VAE 84M, float32 weights (fp16 variant on the hub)
    "stable-diffusion-v1-5/stable-diffusion-v1-5": HubModel(
        "text_to_image", "StableDiffusionPipeline", "text-to-image", False, "float32", 1066),
    "openai/clip-vit-large-patch14": HubModel(
        "clip", "CLIPModel", "zero-shot-image-classification", False, "float32", 428),
    # video-language models (role "video_lm": shared.vision.video_lm.load_video_lm), full profile only
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct": HubModel(
        "video_lm", "SmolVLMForConditionalGeneration", "image-text-to-text", True, "bfloat16", 256),
    "HuggingFaceTB/SmolVLM2-2.2B-Instruct": HubModel(
        "video_lm", "SmolVLMForConditionalGeneration", "image-text-to-text", True, "bfloat16", 2246),
}
HUB_ALIASES = {"gpt2": "openai-community/gpt2", "bert-base-uncased": "google-bert/bert-base-uncased",
               "t5-small": "google-t5/t5-small"}  # the old short names the hub still redirects


def hub_model(name: str) -> HubModel | None:
    """The catalogue entry of a hub id (or of its short alias); None for a model not listed."""
    return HUB_MODELS.get(HUB_ALIASES.get(name, name))


def tiny_model_dir(role: str) -> Path:
    """The local folder of the tiny profile's model for `role`, converted or trained on first use."""
    if role == "seq2seq":
        from .train import tiny_t5  # noqa: F401  (registers the derived asset "t5_tiny")
    return require(TINY_FOLDERS[role])


def load_spacy(full_name: str = "en_core_web_sm"):
    """A spaCy English pipeline. Tiny: en_core_web_sm 3.8.0 from its offline copy; full: the named
    pipeline, installed if missing (`python -m spacy download NAME`)."""
    import spacy

    from .data import ner as _ner_data  # noqa: F401  (registers spaCy's pipeline, "spacy_en_core_web_sm"; imported
    #                                     here: shared.data imports `datasets`, over a second for a model server)

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
    known = hub_model(name)
    if known is not None and known.role != role:
        raise ValueError(f"{name!r} is a {known.role} ({known.architecture}), not a {role}: "
                         f"load it with load_{known.role}()")
    require_hub(f"model {name!r}")
    return name


def _load(role, model_class, full_name, **model_kwargs):
    source = model_source(role, full_name)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = model_class.from_pretrained(source, **model_kwargs)
    if tokenizer.pad_token is None:  # e.g. gpt2 has no pad token; reuse end-of-text for padding
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
