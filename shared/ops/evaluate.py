"""The quality gate's evaluation: score a release's model on held-out news text, in a process of its own.

    python -m shared.ops.evaluate --out eval.json [--model NAME_OR_DIR] [--weight-bits 8]
                                  [--weight-group-size 64] [--docs 3] [--max-length 128]
    python -m shared.ops.evaluate --worker [--model NAME_OR_DIR] [--docs 3] [--max-length 128]

`--worker` keeps the model loaded and answers one JSON line per job read from stdin
({"weight_bits": 8, "weight_group_size": null} -> the same result as above): a warm evaluation
process, as a CI runner with a model cache keeps, instead of loading the model for every release.

It loads the model exactly as the server does (`shared.serve.server.load_model` and
`quantize_weights`), so the gate judges what would be served, and writes
{"metrics": {"perplexity": ..., "next_token_accuracy": ...}, "tokens": ..., "model": ...}.
The text: the first `--docs` articles of the Lee news corpus (gensim's `lee.cor`, Lee et al., 2005),
which no model here was trained on.
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

EVAL_CORPUS = "lee.cor"


def eval_texts(docs: int) -> list[str]:
    """The first `docs` articles of lee.cor (read from gensim's test data without importing gensim)."""
    import importlib.util

    folder = Path(importlib.util.find_spec("gensim").submodule_search_locations[0]) / "test" / "test_data"
    lines = (folder / EVAL_CORPUS).read_text(encoding="latin-1").splitlines()
    texts = [line.strip() for line in lines if line.strip()]
    if not 1 <= docs <= len(texts):
        raise ValueError(f"--docs must be between 1 and {len(texts)}, got {docs}")
    return texts[:docs]


def score(model, tokenizer, texts: list[str], max_length: int = 128) -> dict:
    """Perplexity (exp of the mean NLL per predicted token) and top-1 next-token accuracy over `texts`."""
    import torch
    import torch.nn.functional as F

    nll, correct, tokens = 0.0, 0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).input_ids
            ids = ids.to(model.device)                               # (1, T)
            logits = model(ids).logits[0, :-1].float()               # (T-1, V): predictions of tokens 2..T
            target = ids[0, 1:]                                      # (T-1,)
            nll += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(-1) == target).sum().item()
            tokens += target.numel()
    return {"perplexity": math.exp(nll / tokens), "next_token_accuracy": correct / tokens, "tokens": tokens}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.ops.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="where to write the JSON result")
    parser.add_argument("--model", help="hub id or local folder (tiny profile: SmolLM2-135M-Instruct, offline)")
    parser.add_argument("--weight-bits", type=int, help="round linear weights to this many bits, as the server does")
    parser.add_argument("--weight-group-size", type=int, help="weights per quantization scale (default: per row)")
    parser.add_argument("--docs", type=int, default=3, help="held-out news articles to score (default 3)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per article, at most (default 128)")
    parser.add_argument("--worker", action="store_true", help="answer jobs (JSON lines) from stdin, model kept loaded")
    args = parser.parse_args(argv)
    if not args.worker and not args.out:
        parser.error("--out is required (or --worker)")

    import torch

    from ..serve.server import load_model, quantize_weights

    torch.set_num_threads(1)
    start = time.perf_counter()
    model, tokenizer, served = load_model(args.model)
    texts = eval_texts(args.docs)

    def evaluate(bits, group_size) -> dict:
        quantize_weights(model, bits, group_size)
        result = score(model, tokenizer, texts, args.max_length)
        tokens = result.pop("tokens")
        return {"metrics": result, "tokens": tokens, "model": served, "weight_bits": bits,
                "weight_group_size": group_size, "docs": args.docs, "seconds": time.perf_counter() - start}

    if not args.worker:
        out = evaluate(args.weight_bits, args.weight_group_size)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
        print(json.dumps(out))
        return 0
    original = {k: v.clone() for k, v in model.state_dict().items()}  # every job starts from the stored weights
    print(json.dumps({"ready": served}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        start = time.perf_counter()
        model.load_state_dict(original)
        print(json.dumps(evaluate(job.get("weight_bits"), job.get("weight_group_size"))), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    # results are written and flushed: exit without the interpreter's teardown of torch and transformers
    # (more than a second of CPU per evaluation process, and nothing in it is needed)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
