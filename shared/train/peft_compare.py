"""Parameter-efficient fine-tuning methods under one protocol: the runs of module 7, notebook 02.

    cfg = PEFTCompareConfig()                  # the tiny profile's runs
    results = load_results(compare_dir(cfg))   # method -> measured numbers (lora_finetune's fields + latency)

The same data, batches, steps, evaluation and measurements as `shared.train.lora_finetune` (LoRA vs
full fine-tuning), for five methods that add or free a small number of weights:
- `lora`: peft's LoRA on q_proj and v_proj (low-rank update of the weights; mergeable);
- `ia3`: peft's IA3, learned vectors that rescale keys, values and the MLP's inner activations
  (Liu et al., 2022; mergeable);
- `prefix`: peft's prefix tuning, learned key/value vectors prepended in every layer (Li & Liang, 2021),
  initialised from the model's own keys and values of a text;
- `prompt`: peft's prompt tuning, learned embeddings prepended to the input (Lester et al., 2021),
  initialised from the embedding of a text;
- `houlsby`: the course's bottleneck adapters after every attention output and MLP output
  (`shared.nn.adapters`, Houlsby et al., 2019; peft has none).

Each trained model is also timed at inference: a forward pass of a fixed batch of instruction prompts (what
the model reads before it writes the first answer token), against the base model.
"""
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from ..assets import build_once, register_derived
from .lora_finetune import LoRASweepConfig, collate, run_all


@dataclass
class PEFTCompareConfig(LoRASweepConfig):
    """The comparison's runs with `lora_finetune`'s loop. The fields it reads are pinned here, so that a
    change to the LoRA sweep's own budget does not silently change (and rebuild) this comparison."""
    max_length: int = 80                  # tokens per example: chat prompt + answer (answer cut to fit)
    max_prompt_tokens: int = 48           # keep instructions whose prompt leaves >= 32 answer tokens
    n_validation: int = 20                # at most this many held-out validation answers (nothing is chosen on them)
    n_test: int = 100                     # at most this many held-out test answers (every method is reported)
    steps: int = 16                       # optimizer steps per method
    batch_size: int = 4                   # examples per step
    warmup_steps: int = 2                 # linear warmup, then linear decay to 0
    eval_batch_size: int = 10
    precision: str = "bf16"               # "bf16" (CPU), "fp16" (T4, with loss scaling), "fp32"
    seed: int = 0
    lora_r: int = 8                       # LoRA rank on q_proj, v_proj (alpha = 2r)
    ia3_targets: tuple = ("k_proj", "v_proj", "down_proj")   # IA3's rescaled activations (the paper's choice)
    n_virtual_tokens: int = 10            # prefix / prompt length
    prompt_init_text: str = "Answer the instruction helpfully and accurately."  # prompt tuning's start
    bottleneck: int = 16                  # Houlsby adapter width m
    lrs: tuple = (("lora", 1e-3), ("ia3", 3e-3), ("prefix", 5e-3), ("prompt", 3e-2), ("houlsby", 1e-3))
    latency_batch: int = 4                # prompts in the timed inference batch (the instructions, no answers)
    latency_repeats: int = 2              # timed forward passes of each model, in turns (the fastest is kept)

    def cache_name(self) -> str:
        return "peft_compare_" + (self.model or "smollm2").replace("/", "_").lower()

    def runs(self) -> list[dict]:
        return [dict(name=method, method=method, lr=lr) for method, lr in self.lrs]

    def test_runs(self) -> tuple:
        return tuple(method for method, _ in self.lrs)   # nothing is chosen among them: all are reported


def prepare_peft(model, run: dict, cfg: PEFTCompareConfig):
    """Make `model` trainable with the method `run["method"]` (see the module docstring)."""
    from peft import (
        IA3Config,
        LoraConfig,
        PrefixTuningConfig,
        PromptTuningConfig,
        PromptTuningInit,
        TaskType,
        get_peft_model,
    )

    from ..models import model_source
    from ..nn.adapters import add_adapters

    method = run["method"]
    if method == "houlsby":
        return add_adapters(model, ["o_proj", "down_proj"], bottleneck=cfg.bottleneck)
    configs = {
        "lora": lambda: LoraConfig(task_type=TaskType.CAUSAL_LM, r=cfg.lora_r, lora_alpha=2 * cfg.lora_r,
                                   lora_dropout=0.0, target_modules=["q_proj", "v_proj"]),
        "ia3": lambda: IA3Config(task_type=TaskType.CAUSAL_LM, target_modules=list(cfg.ia3_targets),
                                 feedforward_modules=["down_proj"]),
        "prefix": lambda: PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=cfg.n_virtual_tokens),
        "prompt": lambda: PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=cfg.n_virtual_tokens,
                                             prompt_tuning_init=PromptTuningInit.TEXT,
                                             prompt_tuning_init_text=cfg.prompt_init_text,
                                             tokenizer_name_or_path=model_source("causal_lm", cfg.model)),
    }
    if method not in configs:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join([*configs, 'houlsby'])}")
    peft_model = get_peft_model(model, configs[method]())
    if method == "prefix":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_source("causal_lm", cfg.model))
        init_prefix_from_text(peft_model, tokenizer, cfg.prompt_init_text)
    return peft_model


def init_prefix_from_text(peft_model, tokenizer, text: str) -> None:
    """Start the prefix as the keys and values the model itself computes for `text` (repeated or cut
    to the prefix length), as Li & Liang (2021) did with real words. peft's default, random N(0, 1)
    keys and values, hands the attention of every layer a block of noise at step 0."""
    import torch

    config = peft_model.peft_config[peft_model.active_adapter]
    n = config.num_virtual_tokens
    ids = tokenizer(text, add_special_tokens=False).input_ids
    ids = torch.tensor([(ids * n)[:n]], device=peft_model.device)                   # (1, n)
    with torch.no_grad():
        cache = peft_model.get_base_model()(input_ids=ids, use_cache=True).past_key_values
        # per layer: keys, values (1, kv_heads, n, head_dim) -> peft's layout (n, layers * 2 * kv_heads * head_dim)
        kv = torch.stack([t[0] for layer in cache.layers for t in (layer.keys, layer.values)])  # (2L, kv_heads, n, hd)
        weight = kv.permute(2, 0, 1, 3).reshape(n, -1)
        peft_model.prompt_encoder[peft_model.active_adapter].embedding.weight.copy_(weight)


def forward_seconds(models: dict, batch, repeats: int) -> dict:
    """name -> the fastest of `repeats` forward passes of `batch` through that model (CPU time on a CPU,
    wall time on a GPU). The models take turns, so a change in the machine's load hits them all alike; each
    timed pass follows an untimed one of the same model."""
    import torch

    cuda = torch.cuda.is_available()
    clock = time.perf_counter if cuda else time.process_time
    times = {name: [] for name in models}
    with torch.no_grad():
        for _ in range(repeats):
            for name, model in models.items():
                model.eval()
                model(**batch)             # untimed: the first pass after another model's runs slower
                if cuda:
                    torch.cuda.synchronize()
                start = clock()
                model(**batch)
                if cuda:
                    torch.cuda.synchronize()
                times[name].append(clock() - start)
    return {name: min(t) for name, t in times.items()}


def build(out: Path, cfg: PEFTCompareConfig | None = None) -> None:
    """Train every method (`lora_finetune.run_all`), then time each trained model's forward pass."""
    import torch

    from ..models import load_causal_lm
    from ..utils import get_device
    from .lora_finetune import tokenized_splits

    cfg = cfg or PEFTCompareConfig()
    trained = {}

    def prepare(model, run, cfg):
        trained[run["name"]] = model = prepare_peft(model, run, cfg)
        return model

    run_all(out, cfg, prepare)
    results = json.loads((out / "results.json").read_text())
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    try:
        base, tokenizer = load_causal_lm(cfg.model, dtype=torch.float32)
        base.to(get_device())
        rows = tokenized_splits(tokenizer, cfg)["validation"][: cfg.latency_batch]
        prompts = [{"input_ids": r["input_ids"][:r["prompt_tokens"]], "labels": []} for r in rows]  # what inference reads
        batch = {k: v.to(get_device()) for k, v in collate(prompts, tokenizer.pad_token_id).items() if k != "labels"}
        for name, seconds in forward_seconds({"base": base, **trained}, batch, cfg.latency_repeats).items():
            results["runs"][name]["forward_seconds"] = seconds
    finally:
        torch.set_num_threads(threads)
    (out / "results.json").write_text(json.dumps(results, indent=1))


def recipe(cfg: PEFTCompareConfig | None = None) -> str:
    from ..profile import active_profile

    cfg = cfg or PEFTCompareConfig()
    unused = ("full_lr", "lora_lr", "alpha_over_r", "main_r", "ranks", "module_sets")   # the LoRA sweep's own runs
    config = json.dumps({**{k: v for k, v in asdict(cfg).items() if k not in unused}, "profile": active_profile().name},
                        sort_keys=True, default=list)
    return "peft compare v7 sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


def compare_dir(cfg: PEFTCompareConfig) -> Path:
    """The folder of the comparison run with `cfg`: trained on first use, then cached."""
    return build_once(cfg.cache_name(), partial(build, cfg=cfg), recipe(cfg))


ASSET = register_derived(PEFTCompareConfig().cache_name(),
                         "PEFT methods compared on SmolLM2-135M instructions (shared.train.peft_compare)",
                         partial(build, cfg=PEFTCompareConfig()), recipe)
