"""LoRA against full fine-tuning of a causal LM on instructions: the runs of module 7, notebook 01.

    cfg = SWEEP                                # the tiny profile's runs (a LoRASweepConfig)
    folder = sweep_dir(cfg)                    # trained once and cached (`journey assets` builds it)
    results = load_results(folder)             # run name -> measured numbers
    adapter = safetensors.torch.load_file(folder / "lora_r8_qv.safetensors")   # the main run's A and B

Every run starts from the same pre-trained model, sees the same batches in the same order and is
scored on the same held-out answers (the loss on the answer tokens only: the prompt is given, not
graded). Each run records what the notebook compares:
- quality: the held-out loss before and after training (validation for every run; test once, for
  the two runs the lesson compares: full fine-tuning and the main LoRA run);
- trainable parameters, and the size of the checkpoint that has to be stored (measured on disk);
- time per optimizer step (the median over the run's steps, first step excluded): CPU time of the
  process on a CPU (one thread; other programs on the machine do not change it), wall time on a GPU;
- training memory, measured tensor by tensor after the first step: weights, gradients, AdamW state,
  the activations autograd saves for the backward pass and the bfloat16/float16 weight copies autocast
  keeps for it (`saved_tensors_hooks`); on a GPU also
  `torch.cuda.max_memory_allocated`.

A step of SmolLM2-135M costs about a CPU second, so the tiny profile's runs (`SWEEP`, about three CPU
minutes in all) are the derived asset "lora_sweep_smollm2", built by `journey assets`.
"""
import hashlib
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from ..assets import build_once, register_derived

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


@dataclass
class LoRASweepConfig:
    """The runs of one sweep. The defaults are the tiny-profile protocol that module 7/02 shares
    (`PEFTCompareConfig`); the tiny profile's own cached sweep is `SWEEP`, a cheaper budget of it."""
    model: str | None = None        # None: the profile's causal LM (tiny: SmolLM2-135M-Instruct)
    max_length: int = 80            # tokens per example: chat prompt + answer (answer cut to fit)
    max_prompt_tokens: int = 48     # keep instructions whose prompt leaves >= 32 answer tokens
    n_validation: int = 50          # at most this many held-out answers for every choice (rank, modules)
    n_test: int = 100               # at most this many held-out answers, scored once for the runs compared
    steps: int = 24                 # optimizer steps per run
    batch_size: int = 4             # examples per step
    warmup_steps: int = 3           # linear warmup, then linear decay to 0
    full_lr: float = 5e-5           # full fine-tuning: every weight moves
    lora_lr: float = 1e-3           # LoRA: only A and B, which start at zero/small, so a larger step
    alpha_over_r: float = 2.0       # alpha = 2r: the common choice (scaling alpha/r = 2 for every rank)
    main_r: int = 8                 # the main LoRA run: r = 8 on q_proj and v_proj (Hu et al., 2021)
    ranks: tuple = (1, 4, 8, 64)    # the rank sweep (on q_proj, v_proj)
    module_sets: dict = field(default_factory=lambda: {  # which Linear layers get LoRA (at main_r)
        "qv": ("q_proj", "v_proj"), "attention": ATTENTION, "all_linear": ATTENTION + MLP})
    eval_batch_size: int = 10
    precision: str = "bf16"         # "bf16" (CPUs with AMX, A100), "fp16" (T4, with loss scaling), "fp32"
    seed: int = 0

    def cache_name(self) -> str:
        return "lora_sweep_" + (self.model or "smollm2").replace("/", "_").lower()

    def runs(self) -> list[dict]:
        """Every run of the sweep: name, method, rank and target modules."""
        runs = [dict(name="full", method="full", r=None, targets=None)]
        for r in self.ranks:
            runs.append(dict(name=f"lora_r{r}_qv", method="lora", r=r, targets=self.module_sets["qv"]))
        for key, targets in self.module_sets.items():
            if key != "qv":
                runs.append(dict(name=f"lora_r{self.main_r}_{key}", method="lora", r=self.main_r, targets=targets))
        return runs

    def main_run(self) -> str:
        return f"lora_r{self.main_r}_qv"

    def test_runs(self) -> tuple:
        """The runs scored on the test answers (once): the two the lesson compares."""
        return ("full", self.main_run())


# --- data: chat-formatted instructions, loss on the answer only -------------------------------------

def prompt_of(row: dict) -> list[dict]:
    """The chat messages that ask the instruction (with its input, if any)."""
    text = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")
    return [{"role": "user", "content": text}]


def encode(row: dict, tokenizer, max_length: int) -> dict:
    """Chat prompt + answer + end-of-turn as `input_ids`; `labels` = the ids with the prompt set to -100."""
    prompt_ids = tokenizer.apply_chat_template(prompt_of(row), add_generation_prompt=True, tokenize=True,
                                               return_dict=False)
    answer_ids = tokenizer(row["output"] + "<|im_end|>", add_special_tokens=False).input_ids
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": ids, "labels": labels, "prompt_tokens": len(prompt_ids)}


def tokenized_splits(tokenizer, cfg: LoRASweepConfig):
    """train / validation / test of the offline instructions, encoded, keeping short enough prompts."""
    from ..data import load_dataset

    data = load_dataset("instructions")
    out = {}
    for split, n in (("train", None), ("validation", cfg.n_validation), ("test", cfg.n_test)):
        rows = [encode(row, tokenizer, cfg.max_length) for row in data[split]]
        rows = [row for row in rows if row["prompt_tokens"] <= cfg.max_prompt_tokens]
        out[split] = rows[:n] if n else rows
    return out


def collate(rows: list[dict], pad_id: int):
    """Right-pad a batch: input_ids with `pad_id`, labels with -100, and the attention mask."""
    import torch

    length = max(len(row["input_ids"]) for row in rows)
    pad = lambda seq, value: seq + [value] * (length - len(seq))  # noqa: E731
    return {"input_ids": torch.tensor([pad(r["input_ids"], pad_id) for r in rows]),              # (B, T)
            "attention_mask": torch.tensor([pad([1] * len(r["input_ids"]), 0) for r in rows]),   # (B, T)
            "labels": torch.tensor([pad(r["labels"], -100) for r in rows])}                      # (B, T)


def autocast(device: str, precision: str):
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None)


def answer_loss(model, rows: list[dict], pad_id: int, batch_size: int, precision: str) -> float:
    """Mean cross-entropy (nats) per answer token over `rows`: every answer token weighs the same."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(device) for k, v in collate(rows[start:start + batch_size], pad_id).items()}
            with autocast(device.type, precision):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            logits = logits[:, -batch["input_ids"].shape[1]:]                # prompt tuning prepends virtual tokens
            targets = batch["labels"][:, 1:]                               # predict token t+1 from t
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets,
                                                       ignore_index=-100, reduction="sum")
            total += losses.item()
            count += (targets != -100).sum().item()
    return total / count


# --- memory, measured ---------------------------------------------------------------------------------

def tensor_bytes(tensors) -> int:
    """Bytes of distinct storages among `tensors` (a view of a stored tensor costs nothing more)."""
    seen, total = set(), 0
    for t in tensors:
        if t is None or not hasattr(t, "untyped_storage"):
            continue
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def saved_for_backward_bytes(model, batch, precision: str) -> tuple[int, int]:
    """What autograd keeps from a forward pass for the backward pass, measured with
    `saved_tensors_hooks`: (activation bytes, bytes of the low-precision weight copies that autocast
    makes and keeps). The weights themselves are counted once, as weights, not here."""
    import torch

    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    weight_shapes = {tuple(p.shape) for p in model.parameters()} | {tuple(p.shape[::-1]) for p in model.parameters()}
    activations, weight_copies = [], []

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights:             # a new tensor, not a parameter
            is_copy = t.dim() <= 2 and tuple(t.shape) in weight_shapes  # activations are (B, T, ...)
            (weight_copies if is_copy else activations).append(t)
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(batch["input_ids"].device.type, precision):
        model(**batch)  # the hooks record what this forward saves; the graph is freed on return
    return tensor_bytes(activations), tensor_bytes(weight_copies)


# --- one run ------------------------------------------------------------------------------------------

def prepare_lora(model, run: dict, cfg):
    """Full fine-tuning (every weight trains) or the course's LoRA on `run["targets"]` at `run["r"]`."""
    from ..nn.lora import add_lora

    if run["method"] == "lora":
        return add_lora(model, run["targets"], r=run["r"], alpha=cfg.alpha_over_r * run["r"])
    if run["method"] != "full":
        raise ValueError(f"unknown method {run['method']!r}")
    return model


def train_run(run: dict, cfg, data: dict, out: Path, prepare=prepare_lora) -> dict:
    """Fine-tune a fresh copy of the base model, made trainable by `prepare(model, run, cfg)`, with the
    learning rate `run["lr"]` (else cfg.full_lr / cfg.lora_lr); return its measured numbers."""
    import torch
    from safetensors.torch import save_file, save_model
    from transformers import get_linear_schedule_with_warmup

    from ..models import load_causal_lm
    from ..utils import get_device

    device = torch.device(get_device())
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_causal_lm(cfg.model, dtype=torch.float32)
    model.to(device)
    torch.manual_seed(cfg.seed)                                      # the same new weights for every run of a method
    model = prepare(model, run, cfg)
    trainable = [p for p in model.parameters() if p.requires_grad]
    lr = run.get("lr") or (cfg.full_lr if run["method"] == "full" else cfg.lora_lr)
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    scaler = torch.amp.GradScaler(enabled=cfg.precision == "fp16")
    order = torch.randperm(len(data["train"]), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    pad_id = tokenizer.pad_token_id

    def batch_at(step):
        idx = [order[(step * cfg.batch_size + i) % len(order)] for i in range(cfg.batch_size)]
        return {k: v.to(device) for k, v in collate([data["train"][i] for i in idx], pad_id).items()}

    result = {**run, "lr": lr, "trainable_params": sum(p.numel() for p in trainable),
              "total_params": sum(p.numel() for p in model.parameters()),
              "validation_loss": None, "train_loss": [], "step_seconds": []}
    result["activation_bytes"], result["autocast_weight_copy_bytes"] = saved_for_backward_bytes(
        model, batch_at(0), cfg.precision)
    clock = time.perf_counter if device.type == "cuda" else time.process_time  # CPU: this process's CPU time
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(cfg.steps):
        model.train()
        batch = batch_at(step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        with autocast(device.type, cfg.precision):
            loss = model(**batch).loss
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        scaler.step(optimizer)
        scaler.update()
        if step == 0:                                               # everything training holds, measured
            result["weight_bytes"] = tensor_bytes(model.parameters())
            result["gradient_bytes"] = tensor_bytes(p.grad for p in trainable)
            result["optimizer_bytes"] = tensor_bytes(v for state in optimizer.state.values()
                                                     for v in state.values() if torch.is_tensor(v) and v.dim() > 0)
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        result["step_seconds"].append(clock() - start)
        result["train_loss"].append(loss.item())
    if device.type == "cuda":
        result["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
    result["training_bytes"] = (result["weight_bytes"] + result["gradient_bytes"]
                                + result["optimizer_bytes"] + result["activation_bytes"]
                                + result["autocast_weight_copy_bytes"])
    result["median_step_seconds"] = statistics.median(result["step_seconds"][1:])
    result["validation_loss"] = answer_loss(model, data["validation"], pad_id, cfg.eval_batch_size, cfg.precision)
    # the checkpoint: for LoRA only A and B; for full fine-tuning every weight (measured on disk)
    path = out / f"{run['name']}.safetensors"
    if run["method"] == "full":
        save_model(model, str(path))                                # the tied embedding stored once
    else:                                                           # only what was trained (LoRA: every A and B)
        save_file({k: p.detach().contiguous().cpu() for k, p in model.named_parameters() if p.requires_grad}, str(path))
    result["checkpoint_bytes"] = path.stat().st_size
    if run["name"] in cfg.test_runs():
        result["test_loss"] = answer_loss(model, data["test"], pad_id, cfg.eval_batch_size, cfg.precision)
    if run["method"] == "full":
        path.unlink()                                               # measured; too big to keep in the cache
    return result


def run_all(out: Path, cfg, prepare=prepare_lora) -> None:
    """Every run of `cfg.runs()` plus the base model's held-out losses, into `results.json`; each
    run's trained weights (but full fine-tuning's) as `<run>.safetensors`."""
    import torch
    from tqdm.auto import tqdm

    from ..models import load_causal_lm
    from ..utils import get_device

    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)                                    # the same floats on any core count
    try:
        base, tokenizer = load_causal_lm(cfg.model, dtype=torch.float32)
        data = tokenized_splits(tokenizer, cfg)
        base.to(get_device())
        results = {"base": {"name": "base", "method": "none",
                            "validation_loss": answer_loss(base, data["validation"], tokenizer.pad_token_id,
                                                           cfg.eval_batch_size, cfg.precision),
                            "test_loss": answer_loss(base, data["test"], tokenizer.pad_token_id,
                                                     cfg.eval_batch_size, cfg.precision)}}
        del base
        for run in tqdm(cfg.runs(), desc="runs"):
            results[run["name"]] = train_run(run, cfg, data, out, prepare)
    finally:
        torch.set_num_threads(threads)
    sizes = {split: len(rows) for split, rows in data.items()}
    (out / "results.json").write_text(json.dumps({"config": asdict(cfg), "sizes": sizes, "runs": results}, indent=1))


# The tiny profile's cached sweep (notebook 7/01): the default protocol at a build budget of about three CPU
# minutes. Two examples per step (24 steps: the same number of updates), answers cut to fit 64 tokens (at
# least 16 answer tokens; the same instructions), and ranks 1, 8, 64 (a factor 8 apart) on q_proj, v_proj.
SWEEP = LoRASweepConfig(max_length=64, batch_size=2, ranks=(1, 8, 64))


def build(out: Path, cfg: LoRASweepConfig | None = None) -> None:
    """The sweep: full fine-tuning and the LoRA runs (`LoRASweepConfig.runs`)."""
    run_all(out, cfg or SWEEP)


def recipe(cfg: LoRASweepConfig | None = None) -> str:
    """Changes whenever the runs would: the config, and the profile (its data and base model)."""
    from ..profile import active_profile

    cfg = cfg or SWEEP
    config = json.dumps({**asdict(cfg), "profile": active_profile().name}, sort_keys=True, default=list)
    return "lora sweep v1 sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


def sweep_dir(cfg: LoRASweepConfig) -> Path:
    """The folder of the sweep run with `cfg`: trained on first use, then cached."""
    return build_once(cfg.cache_name(), partial(build, cfg=cfg), recipe(cfg))


def load_results(folder: Path) -> dict:
    """`results.json` of a sweep: its config, split sizes and run name -> measured numbers."""
    return json.loads((Path(folder) / "results.json").read_text())


ASSET = register_derived(SWEEP.cache_name(),
                         "LoRA vs full fine-tuning of SmolLM2-135M on instructions (shared.train.lora_finetune)",
                         partial(build, cfg=SWEEP), recipe)
