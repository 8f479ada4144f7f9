"""llm-journey's helper package, in layers.

- `shared/` (top level) is the course runtime, the machinery every notebook stands on:
  `start`/`notebook` (seeds, profile, versions), `profile` (`pick(tiny=, full=)`), `ledger`
  (record and expect results), `paths`, `curriculum`, `cli` (`journey`), `assets` (offline
  files, and derived assets that other modules register), `corpora` (raw offline text),
  `data` (named datasets), `models` and `model_search` (model loaders), `metrics` (local
  `evaluate` metrics) and `utils`.
- `shared/text/`: working with text: tokenization, BPE, n-gram LMs, augmentation, word vectors,
  GloVe, QA scoring, diversity metrics, classical baselines, generated translation data.
- `shared/nn/`: model parts written to be read: attention, norms, the encoder, the GPT, Llama
  parts, the RNN LM, masked-LM masking, the DDPM/DDIM diffusion schedule; adapters such as LoRA go
  here too.
- `shared/train/`: training: the pre-training loop, FLOPs, the tiny T5; later distillation,
  optimisers and the text-to-image diffusion run.
- `shared/infer/`: using a trained model: chat and perplexity, sentence embeddings; later the KV
  cache's measurements, quantization and pruning.
- `shared/serve/`: the server, guards and monitoring.
- `shared/apps/`: complete applications on top of the layers above: the Gradio chatbot
  (`journey chat`) and its memory test, the code sandbox and assistant, the summariser, "Ask the
  course".
- `shared/ops/`: operations around a service: the quality gate, the CI/CD pipeline.

A new component goes into the subpackage of the part of the stack it teaches, keeps a file name
that says what it is, and imports the runtime, never the other way round at import time
(`tests/test_import_layers.py` fails on any import loop inside `shared`).
"""
from .ledger import ExpectationFailed
from .profile import active_profile, pick


def __getattr__(name):  # `start` and `Run` import torch: only when a notebook asks for them, so that
    if name in ("Run", "start"):  # a process that needs `shared` but not torch (a router, a test) starts fast
        from . import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'shared' has no attribute {name!r}")


__all__ = ["ExpectationFailed", "Run", "active_profile", "pick", "start"]
__version__ = "0.1.0"
