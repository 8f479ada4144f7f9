"""Google Cloud Functions entry point: `functions-framework --source shared/serve/gcf_main.py --target chat`.

The function receives a Flask request and hands it to the same FastAPI app that `journey serve` and
the Lambda handler serve (`shared.serve.serverless.gcf_app`: built on first use, kept while the
instance is warm)."""
import flask
import functions_framework

from shared.serve.serverless import asgi_call, gcf_app


@functions_framework.http
def chat(request: flask.Request):
    status, headers, body = asgi_call(gcf_app(), request.method, request.path, request.get_data(),
                                      {k: v for k, v in request.headers.items() if k.lower() != "host"})
    keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", "retry-after")}
    return flask.Response(body, status=status, headers=keep)
