"""The module-10 app as a serverless function (shared.serve.serverless): the Lambda handler on real
API Gateway v2 events and the Cloud Functions entry point serve the real SmolLM2 with the same
answers, lazy loading waits for the first request, the int8 conversion survives a save and load,
and a cold-start probe in a fresh process reports every phase."""
import base64
import json

import pytest

from shared.serve import serverless
from shared.serve.server import TINY_MODEL_NAME
from shared.serve.serverless import (
    LambdaContext,
    LazyApp,
    api_gateway_v2_event,
    app_for,
    gcf_test_client,
    lambda_handler,
    load_converted,
    probe_cold_start,
    quantize_int8,
    save_converted,
)

BODY = {"model": TINY_MODEL_NAME, "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 8, "temperature": 0}


@pytest.fixture(scope="module")
def loaded():
    from shared.models import load_causal_lm

    model, tokenizer = load_causal_lm(None, dtype="float32")
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def app(loaded):
    return app_for(*loaded, TINY_MODEL_NAME)


def reply(response_body: str) -> str:
    return json.loads(response_body)["choices"][0]["message"]["content"]


def test_api_gateway_v2_event_shape():
    event = api_gateway_v2_event("POST", "/v1/chat/completions", BODY, base64_body=True)
    assert event["version"] == "2.0" and event["requestContext"]["http"]["method"] == "POST"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/v1/chat/completions"
    assert event["isBase64Encoded"] and json.loads(base64.b64decode(event["body"])) == BODY


def test_lambda_and_cloud_functions_serve_the_same_app(app):
    handler = lambda_handler(app)
    plain = handler(api_gateway_v2_event("POST", "/v1/chat/completions", BODY), LambdaContext())
    encoded = handler(api_gateway_v2_event("POST", "/v1/chat/completions", BODY, base64_body=True), LambdaContext())
    assert plain["statusCode"] == encoded["statusCode"] == 200
    assert "Paris" in reply(plain["body"]) and reply(encoded["body"]) == reply(plain["body"])
    missing = handler(api_gateway_v2_event("POST", "/v1/chat/completions", {**BODY, "model": "nope"}), LambdaContext())
    assert missing["statusCode"] == 404 and json.loads(missing["body"])["error"]["code"] == "model_not_found"
    broken = handler(api_gateway_v2_event("POST", "/v1/chat/completions", "{not json"), LambdaContext())
    assert broken["statusCode"] == 400
    client = gcf_test_client(app)
    answer = client.post("/v1/chat/completions", json=BODY)
    assert answer.status_code == 200 and reply(answer.get_data(as_text=True)) == reply(plain["body"])
    assert client.post("/v1/chat/completions", json={**BODY, "messages": []}).status_code == 400


def test_lazy_app_builds_on_the_first_request(app, monkeypatch):
    built = []
    monkeypatch.setattr(serverless, "build_app", lambda **options: built.append(options) or app)
    lazy = LazyApp(converted=None)
    handler = lambda_handler(lazy)
    assert lazy.app is None and not built
    for _ in range(2):
        assert handler(api_gateway_v2_event("GET", "/v1/models"), LambdaContext())["statusCode"] == 200
    assert built == [{"converted": None}] and lazy.app is app   # built once, then reused (warm)


def test_int8_model_survives_save_and_load(loaded, tmp_path):
    import torch

    model, tokenizer = loaded
    int8 = quantize_int8(model)
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in int8.modules())
    size = save_converted(int8, tokenizer, tmp_path)
    fp32 = sum(p.numel() * p.element_size() for p in model.parameters())
    assert size < 0.6 * fp32
    again, tokenizer2 = load_converted(tmp_path)
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(int8(ids).logits, again(ids).logits)
    assert tokenizer2("hello").input_ids == tokenizer("hello").input_ids


def test_cold_start_probe_reports_every_phase():
    probe = probe_cold_start("init", invocations=2)
    assert [c["status"] for c in probe["invocations"]] == [200, 200]
    assert "Paris" in probe["invocations"][0]["text"]
    for key in ("runtime_start_cpu_s", "import_cpu_s", "init_cpu_s", "runtime_start_s", "import_s", "init_s"):
        assert probe[key] > 0, key
    assert probe["init_cpu_s"] > probe["invocations"][1]["cpu_s"]   # loading the model costs more than a reply
    assert probe["total_s"] >= probe["runtime_start_s"] + probe["import_s"] + probe["init_s"]
