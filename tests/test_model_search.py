"""Model search: the local catalog describes the installed weights as the hub would, and the hub
path turns the hub's records into the same table (checked with fake records, offline)."""
import json

import pytest
from huggingface_hub import ModelInfo

from shared import model_search

COLUMNS = ["model", "task", "library", "params_M", "license", "downloads", "likes"]


def test_safetensors_parameters_reads_the_header(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3, 4), "b": torch.zeros(4, dtype=torch.bfloat16)}, tmp_path / "m.safetensors")
    assert model_search.safetensors_parameters(tmp_path / "m.safetensors") == {"F32": 12, "BF16": 4}


def test_local_catalog_lists_the_tiny_models():
    table = model_search.search_models(source="local")
    assert list(table.columns) == COLUMNS
    assert table["task"].tolist() == ["text-generation", "sentence-similarity", "token-classification",
                                      "text2text-generation"]
    params = dict(zip(table["model"], table["params_M"]))
    assert params["HuggingFaceTB/SmolLM2-135M-Instruct"] == pytest.approx(134.5, abs=0.1)  # embeddings tied
    assert params["sentence-transformers/all-MiniLM-L6-v2"] == pytest.approx(22.7, abs=0.1)
    assert table["downloads"].isna().all()  # the hub's counts do not exist offline
    assert params["spacy/en_core_web_sm"] != params["spacy/en_core_web_sm"]  # NaN: spaCy stores no count


def test_local_catalog_filters_by_task():
    assert model_search.search_models("sentence-similarity", source="local")["model"].tolist() == [
        "sentence-transformers/all-MiniLM-L6-v2"]
    assert model_search.search_models("question-answering", source="local").empty


def test_local_cards_are_read_from_the_models_files():
    smollm2 = model_search.model_card("HuggingFaceTB/SmolLM2-135M-Instruct", source="local")
    assert smollm2["license"] == "apache-2.0" and smollm2["languages"] == ["en"]  # from the GGUF header
    assert "GGUF" in smollm2["read_from"]
    spacy = model_search.model_card("spacy/en_core_web_sm", source="local")
    assert spacy["license"] == "mit" and spacy["training_data"][0].startswith("OntoNotes 5")
    assert 0.8 < spacy["reported"]["NER F1"] < 0.9                                 # the authors' own score
    minilm = model_search.model_card("sentence-transformers/all-MiniLM-L6-v2", source="local")
    assert minilm["base_model"] == "nreimers/MiniLM-L6-H384-uncased" and "equal to" in minilm["notes"]
    assert set(smollm2) == set(spacy) == set(minilm)                             # one shape for every card
    with pytest.raises(KeyError, match="local catalog"):
        model_search.model_card("google-t5/t5-small", source="local")


def test_hub_card_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="JOURNEY_PROFILE=tiny"):
        model_search.model_card("distilbert/distilbert-base-cased-distilled-squad", source="hub")


def test_hub_records_give_the_same_table(monkeypatch):
    api_json = {"id": "distilbert/distilbert-base-cased-distilled-squad", "downloads": 123_456, "likes": 250,
                "pipeline_tag": "question-answering", "library_name": "transformers",
                "tags": ["transformers", "question-answering", "license:apache-2.0"],
                "safetensors": {"parameters": {"F32": 65_192_450}, "total": 65_192_450}}
    calls = []

    def fake_hub(task, limit, sort):
        calls.append((task, limit, sort))
        return [ModelInfo(**json.loads(json.dumps(api_json)))]

    monkeypatch.setattr(model_search, "hub_model_infos", fake_hub)
    table = model_search.search_models("question-answering", source="hub", limit=5)
    assert calls == [("question-answering", 5, "downloads")]
    assert table.to_dict("records") == [{"model": api_json["id"], "task": "question-answering",
                                        "library": "transformers", "params_M": 65.2, "license": "apache-2.0",
                                        "downloads": 123_456, "likes": 250}]


def test_hub_search_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="JOURNEY_PROFILE=tiny"):
        model_search.search_models("translation", source="hub")


def test_unknown_source():
    with pytest.raises(ValueError, match="local"):
        model_search.search_models(source="disk")


def test_unknown_size_is_nan_so_the_column_stays_numeric():
    row = model_search.model_row(ModelInfo(id="old/model-without-safetensors", tags=["license:mit"]))
    assert row["params_M"] != row["params_M"] and row["license"] == "mit"  # NaN
