"""Knowledge distillation of a language model: a small GPT (`shared.nn.gpt.GPT`) learns from the
next-token distributions of a larger teacher (SmolLM2) that shares its tokenizer.

    loss = distillation_loss(student_logits, teacher_logits, targets, temperature=2.0, alpha=0.5)
    values, indices = teacher_topk(teacher, windows, k=32)       # once, before training
    loss = topk_distillation_loss(student_logits, values, indices, targets, temperature=2.0, alpha=0.5)

The loss (Hinton et al., 2015) mixes two terms, averaged over tokens:
    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))  +  (1 - alpha) * CE(student, targets)
Dividing the logits by a temperature T > 1 flattens both distributions, so the student also learns
how the teacher ranks the unlikely tokens; the T^2 keeps the gradient of the soft term on the same
scale whatever T is (its gradient shrinks as 1/T^2).

Storing the teacher's full distribution costs vocab floats per token (49,152 for SmolLM2), so the
practical recipe keeps only its top-k logits: the teacher runs once, and training reads k values
and k indices per token. `topk_distillation_loss` renormalises the teacher over its top k and scores
the student's (full-vocabulary) log-probabilities there; with k = vocab it equals `distillation_loss`
(tests/test_distill.py checks both against `torch.nn.functional.kl_div` on the same inputs).
The students train with `fused_distillation_loss`: the same loss and gradient as the top-k loss, with
the gradient written out so that the (tokens, vocab) logits are read a few times instead of going
through several full-size intermediates (the vocabulary dominates a small student's step).

`build` (the derived asset `distilled_students`) precomputes the teacher's top-k once, picks the
temperature on validation text, then trains the same student with cross-entropy only and with
distillation, for several seeds, on the same batches and steps.
"""
import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from ..assets import build_once, register_derived
from ..nn.gpt import GPT, GPTConfig
from ..utils import tqdm
from .pretrain import cosine_with_warmup


def distillation_loss(student_logits, teacher_logits, targets, temperature: float = 2.0, alpha: float = 0.5,
                      ignore_index: int = -100):
    """alpha * T^2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * CE(student, targets), mean per token.

    student_logits, teacher_logits: (..., V); targets: (...) token ids (ignore_index: not scored)."""
    s = student_logits.flatten(0, -2).float()                                   # (N, V)
    t = teacher_logits.flatten(0, -2).float()                                   # (N, V)
    y = targets.flatten()                                                        # (N,)
    keep = y != ignore_index
    log_p_t = F.log_softmax(t[keep] / temperature, dim=-1)                      # teacher, softened
    log_q_s = F.log_softmax(s[keep] / temperature, dim=-1)                      # student, softened
    kl = (log_p_t.exp() * (log_p_t - log_q_s)).sum(-1).mean()                   # KL per token, averaged
    ce = F.cross_entropy(s[keep], y[keep])
    return alpha * temperature ** 2 * kl + (1 - alpha) * ce


def topk_distillation_loss(student_logits, teacher_values, teacher_indices, targets, temperature: float = 2.0,
                           alpha: float = 0.5, ignore_index: int = -100, return_ce: bool = False):
    """distillation_loss with only the teacher's top-k logits per token.

    teacher_values, teacher_indices: (..., k), the k largest teacher logits and their token ids. The
    teacher's softened distribution is renormalised over those k tokens; the student's is over the
    whole vocabulary, read at the same k tokens, so mass it puts elsewhere is penalised too.
    return_ce=True also returns the cross-entropy term (the hard-label loss)."""
    s = student_logits.flatten(0, -2).float()                                   # (N, V)
    v = teacher_values.flatten(0, -2).float()                                   # (N, k)
    idx = teacher_indices.flatten(0, -2).long()                                 # (N, k)
    y = targets.flatten()
    keep = y != ignore_index
    if not keep.all():                                                          # copy only when something is dropped
        s, v, idx, y = s[keep], v[keep], idx[keep], y[keep]
    log_q = F.log_softmax(s, dim=-1)                                            # (n, V), one pass over the vocabulary
    ce = -log_q.gather(-1, y[:, None]).mean()
    log_q_T = log_q if temperature == 1 else F.log_softmax(s / temperature, dim=-1)
    log_p_t = F.log_softmax(v / temperature, dim=-1)                            # (n, k): over the top k only
    kl = (log_p_t.exp() * (log_p_t - log_q_T.gather(-1, idx))).sum(-1).mean()
    loss = alpha * temperature ** 2 * kl + (1 - alpha) * ce
    return (loss, ce) if return_ce else loss


class _FusedTopkDistillation(torch.autograd.Function):
    """topk_distillation_loss (no ignored positions) with its gradient written out, so that the (N, V)
    logits are read a few times instead of materialising several (N, V) intermediates (log-softmaxes,
    the logits divided by T, zero-filled gathers) and their backward passes. Per row:
        d loss / d s = (1 - alpha) (softmax(s) - onehot(y)) + alpha T (softmax(s / T) - p_topk)
    (p_topk: the renormalised teacher scattered at its k token ids; the T^2 and the 1/T of the soft
    term's gradient leave one T), divided by N. values/indices None: cross-entropy only (alpha = 0)."""

    @staticmethod
    def forward(ctx, s, y, values, indices, temperature: float, alpha: float):
        lse = torch.logsumexp(s, dim=-1)                                        # (N,)
        ce = (lse - s.gather(-1, y[:, None])[:, 0]).mean()
        loss, p, lse_T = (1 - alpha) * ce, None, None
        if values is not None:
            lse_T = lse if temperature == 1 else torch.logsumexp(s / temperature, dim=-1)
            log_p = F.log_softmax(values / temperature, dim=-1)                 # (N, k)
            p = log_p.exp()
            log_q = s.gather(-1, indices) / temperature - lse_T[:, None]       # (N, k): student at the k ids
            kl = (p * (log_p - log_q)).sum(-1).mean()
            loss = loss + alpha * temperature ** 2 * kl
        ctx.save_for_backward(s, y, indices, lse, lse_T, p)
        ctx.temperature, ctx.alpha, ctx.distil = temperature, alpha, values is not None
        ctx.mark_non_differentiable(ce)
        return loss, ce

    @staticmethod
    def backward(ctx, grad_loss, grad_ce):
        s, y, indices, lse, lse_T, p = ctx.saved_tensors
        T, alpha, n = ctx.temperature, ctx.alpha, s.shape[0]
        hard, soft = (1 - alpha) / n, (alpha * T / n if ctx.distil else 0.0)
        if ctx.distil and T != 1:
            grad = (s - lse[:, None]).exp_().mul_(hard)                          # softmax(s), scaled
            grad.add_((s / T).sub_(lse_T[:, None]).exp_(), alpha=soft)           # + softmax(s / T), scaled
        else:
            grad = (s - lse[:, None]).exp_().mul_(hard + soft)                   # T = 1: one softmax for both
        grad.scatter_add_(-1, y[:, None], torch.full((n, 1), -hard, dtype=s.dtype, device=s.device))
        if ctx.distil:
            grad.scatter_add_(-1, indices, p.mul(-soft))
        return grad.mul_(grad_loss), None, None, None, None, None


def fused_distillation_loss(student_logits, targets, teacher_values=None, teacher_indices=None,
                            temperature: float = 2.0, alpha: float = 0.5):
    """(loss, cross-entropy) of topk_distillation_loss(..., return_ce=True), every target scored, in fewer
    passes over the logits (what `train_student` trains with; tests/test_distill.py checks loss and
    gradient against topk_distillation_loss). Without teacher values: the cross-entropy alone."""
    s = student_logits.flatten(0, -2).float()                                   # (N, V)
    y = targets.flatten()
    if (y < 0).any():
        raise ValueError("fused_distillation_loss scores every position: use topk_distillation_loss with ignore_index")
    if teacher_values is None:
        return _FusedTopkDistillation.apply(s, y, None, None, 1.0, 0.0)
    v = teacher_values.flatten(0, -2).float()                                   # (N, k)
    idx = teacher_indices.flatten(0, -2).long()                                 # (N, k)
    return _FusedTopkDistillation.apply(s, y, v, idx, temperature, alpha)


@torch.no_grad()
def teacher_topk(teacher, inputs, k: int, batch_size: int = 8, progress: bool = False):
    """The teacher's k largest next-token logits at every position of `inputs` (n, T):
    values (n, T, k) float16 and token ids (n, T, k) int32, computed batch by batch."""
    device = next(teacher.parameters()).device
    values, indices = [], []
    for start in tqdm(range(0, len(inputs), batch_size), desc="teacher top-k", disable=not progress, leave=False):
        logits = teacher(inputs[start:start + batch_size].to(device)).logits.float()  # (b, T, V)
        top = logits.topk(k, dim=-1)
        values.append(top.values.half().cpu())
        indices.append(top.indices.int().cpu())
    return torch.cat(values), torch.cat(indices)


# --- the derived asset: students trained with and without the teacher ----------------------------

@dataclass(frozen=True)
class DistillRecipe:
    teacher: str | None = None      # load_causal_lm name (None: the offline SmolLM2-135M-Instruct)
    train_tokens: int = 8_192       # training tokens (wikitext train), cut into windows
    val_tokens: int = 4_096         # validation tokens (wikitext validation), for choosing the temperature
    block_size: int = 128           # tokens per window (student context)
    k: int = 32                     # teacher logits kept per token
    n_layer: int = 2                # student GPT
    n_head: int = 2
    n_embd: int = 64
    batch_size: int = 2             # windows per step
    steps: int = 60                 # optimizer steps (the same for every student)
    lr: float = 3e-3                # peak AdamW learning rate (warmup, then cosine to lr / 10)
    weight_decay: float = 0.1
    alpha: float = 0.5              # weight of the soft (teacher) term
    temperatures: tuple = (1.0, 2.0)  # tried on validation with the first seed
    seeds: tuple = (0, 1, 2)

    def cache_name(self) -> str:
        return "distilled_students" if self == DistillRecipe() else f"distilled_students_{fingerprint(self)}"

    def student_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd)


def fingerprint(recipe: DistillRecipe) -> str:
    return hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:16]


def recipe_string(recipe: DistillRecipe | None = None) -> str:
    from ..profile import active_profile

    recipe = recipe or DistillRecipe()
    return f"distill v2 {fingerprint(recipe)} profile {active_profile().name}"


def token_windows(tokenizer, texts: list[str], n_tokens: int, block_size: int) -> torch.Tensor:
    """Non-overlapping windows (n, block_size + 1) of the first n_tokens tokens of the texts joined."""
    ids = []
    for text in texts:
        ids += tokenizer(text + "\n\n").input_ids
        if len(ids) >= n_tokens:
            break
    n = min(n_tokens, len(ids)) // (block_size + 1)
    return torch.tensor(ids[:n * (block_size + 1)]).view(n, block_size + 1)


def train_student(recipe: DistillRecipe, vocab_size: int, windows, seed: int, temperature: float | None = None,
                  topk=None, val_windows=None, device: str = "cpu", progress: bool = False):
    """A student trained for recipe.steps on batches of `windows` (n, T+1) drawn with `seed`.
    temperature None: cross-entropy only; else the top-k distillation loss with topk = (values, indices).
    Returns (model, {"train_loss": [...], "val_loss": float or None})."""
    torch.manual_seed(seed)
    model = GPT(recipe.student_config(vocab_size)).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(seed)                    # the same batches for both losses
    losses = []
    model.train()
    for step in tqdm(range(recipe.steps), desc="student", disable=not progress, leave=False):
        for group in opt.param_groups:
            group["lr"] = recipe.lr * cosine_with_warmup(step, recipe.steps // 10, recipe.steps, 0.1)
        rows = torch.randint(len(windows), (recipe.batch_size,), generator=generator)
        x, y = windows[rows, :-1].to(device), windows[rows, 1:].to(device)  # (B, T)
        logits, _ = model(x)                                              # (B, T, V)
        if temperature is None:                                           # cross-entropy only
            loss, ce = fused_distillation_loss(logits, y)
        else:                                                             # = topk_distillation_loss, fewer passes
            values, indices = (t[rows].to(device) for t in topk)          # (B, T, k)
            loss, ce = fused_distillation_loss(logits, y, values, indices, temperature, recipe.alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(ce.item())                                          # the hard-label loss, comparable
    val = mean_loss(model, val_windows, device) if val_windows is not None else None
    return model, {"train_ce": losses, "val_loss": val}


@torch.no_grad()
def mean_loss(model: GPT, windows, device: str = "cpu", batch_size: int = 8) -> float:
    """Mean next-token cross-entropy (nats) of a GPT over windows (n, T+1)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        w = windows[start:start + batch_size].to(device)
        logits, _ = model(w[:, :-1])
        total += F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item()
        count += w[:, 1:].numel()
    model.train()
    return total / count


def _train_one(recipe: DistillRecipe, out: str, name: str, seed: int, temperature: float | None) -> dict:
    """One student (in its own process on the CPU: one torch thread), trained on the windows and the
    teacher's top-k saved in `out`; writes out/<name>.pt and returns its log."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)                                    # the same floats on any core count
    cpu_start = time.process_time()
    data = torch.load(Path(out) / "teacher_topk.pt")
    model, log = train_student(recipe, data["vocab_size"], data["train_windows"], seed, temperature,
                               (data["values"], data["indices"]), data["val_windows"], device)
    torch.save(model.state_dict(), Path(out) / f"{name}.pt")
    print(f"{name}: validation loss {log['val_loss']:.4f}", flush=True)
    return {**log, "cpu_seconds": time.process_time() - cpu_start}


def _student_pool(workers: int):
    """`workers` spawned processes on the CPU, kept for every student of a build (each start imports
    torch and loads the teacher's top-k again); None on a GPU, where the students train in order."""
    if torch.cuda.is_available():
        return contextlib.nullcontext(None)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _in_processes(tasks: list[tuple], pool) -> list:
    """_train_one(*task) for each task: in the processes of `pool`, in order when it is None."""
    if pool is None:
        return [_train_one(*task) for task in tasks]
    return list(pool.map(_train_one, *zip(*tasks)))


def build(out: Path, recipe: DistillRecipe | None = None, workers: int = 3) -> None:
    """Writes into `out`: the token windows and the teacher's top-k on the training windows
    (`teacher_topk.pt`), one state dict per student (`ce_seed<k>.pt`, `kd_seed<k>.pt`) and
    `history.json`. Each student depends only on its seed and temperature, so they train in
    `workers` processes at once: first the temperature sweep (first seed) and the cross-entropy
    students, then the distilled students of the other seeds at the chosen temperature."""
    from ..data import load_dataset
    from ..models import load_causal_lm

    recipe = recipe or DistillRecipe()
    out = Path(out)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)                                    # the same floats on any core count
    try:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        teacher, tok = load_causal_lm(recipe.teacher, dtype=torch.float32)
        teacher.to(device).eval()
        wikitext = load_dataset("wikitext")
        train = token_windows(tok, wikitext["train"]["text"], recipe.train_tokens, recipe.block_size)
        val = token_windows(tok, wikitext["validation"]["text"], recipe.val_tokens, recipe.block_size)
        cached = out / "teacher_topk.pt"                            # a build resumed in the same folder
        if cached.exists() and torch.equal(torch.load(cached)["train_windows"], train):
            values, indices = (torch.load(cached)[key] for key in ("values", "indices"))
        else:
            values, indices = teacher_topk(teacher, train[:, :-1], recipe.k)
        with torch.no_grad():
            teacher_val = sum(F.cross_entropy(teacher(w[None, :-1].to(device)).logits[0], w[1:].to(device)).item()
                              for w in val) / len(val)               # the teacher's loss on the same windows
        teacher_seconds = time.process_time() - cpu_start
        del teacher
        torch.save({"values": values, "indices": indices, "train_windows": train, "val_windows": val,
                    "vocab_size": len(tok)}, cached)
        history = {"recipe": asdict(recipe), "vocab_size": len(tok), "teacher_cpu_seconds": round(teacher_seconds, 1),
                   "teacher_val_loss": teacher_val, "runs": {}}
        first = recipe.seeds[0]
        sweep = [(recipe, str(out), f"kd_T{T:g}_seed{first}", first, T) for T in recipe.temperatures]
        hard = [(recipe, str(out), f"ce_seed{seed}", seed, None) for seed in recipe.seeds]
        with _student_pool(workers) as pool:
            logs = dict(zip([t[2] for t in sweep + hard], _in_processes(sweep + hard, pool)))
            temperature_val = {T: logs[f"kd_T{T:g}_seed{first}"]["val_loss"] for T in recipe.temperatures}
            best_T = min(temperature_val, key=temperature_val.get)
            soft = [(recipe, str(out), f"kd_seed{seed}", seed, best_T) for seed in recipe.seeds[1:]]
            logs.update(zip([t[2] for t in soft], _in_processes(soft, pool)))
        cpu_students = sum(log["cpu_seconds"] for log in logs.values())
        (out / f"kd_T{best_T:g}_seed{first}.pt").rename(out / f"kd_seed{first}.pt")
        logs[f"kd_seed{first}"] = logs[f"kd_T{best_T:g}_seed{first}"]
        for T in recipe.temperatures:
            (out / f"kd_T{T:g}_seed{first}.pt").unlink(missing_ok=True)
        history["temperature_val_loss"] = {str(T): v for T, v in temperature_val.items()}
        history["temperature"] = best_T
        history["runs"] = {f"{m}_seed{seed}": logs[f"{m}_seed{seed}"] for m in ("ce", "kd") for seed in recipe.seeds}
        history["sweep_runs"] = {f"T{T:g}": logs[f"kd_T{T:g}_seed{first}"] for T in recipe.temperatures}
        history["cpu_seconds"] = round(time.process_time() - cpu_start + cpu_students, 1)
        history["student_cpu_seconds"] = round(cpu_students, 1)
        history["seconds"] = round(time.perf_counter() - wall_start, 1)
        (out / "history.json").write_text(json.dumps(history))
    finally:
        torch.set_num_threads(threads)


def distilled_students(recipe: DistillRecipe | None = None) -> Path:
    """The folder of the runs trained with `recipe`: built on first use, then cached."""
    recipe = recipe or DistillRecipe()
    return build_once(recipe.cache_name(), partial(build, recipe=recipe), recipe_string(recipe))


def load_students(folder: Path, recipe: DistillRecipe, device: str = "cpu"):
    """({"ce": {seed: GPT}, "kd": {seed: GPT}}, history dict) from a folder written by `build`."""
    history = json.loads((Path(folder) / "history.json").read_text())
    students = {"ce": {}, "kd": {}}
    for method in students:
        for seed in recipe.seeds:
            model = GPT(recipe.student_config(history["vocab_size"]))
            model.load_state_dict(torch.load(Path(folder) / f"{method}_seed{seed}.pt", map_location=device))
            students[method][seed] = model.to(device).eval()
    return students, history


ASSET = register_derived("distilled_students", "GPT students of SmolLM2-135M, cross-entropy vs top-k distillation, "
                         "3 seeds (shared.train.distill, notebook 9/03)", partial(build, recipe=DistillRecipe()),
                         recipe_string)


@torch.no_grad()
def gpt_perplexity(model: GPT, tokenizer, texts: list[str], max_length: int) -> float:
    """`shared.infer.llm.perplexity` for a `GPT`: exp(mean NLL per predicted token), each text scored
    alone on its first max_length tokens, so that a student and its teacher are scored on the same tokens."""
    total_nll, total_tokens = 0.0, 0
    device = next(model.parameters()).device
    for text in texts:
        ids = torch.tensor([tokenizer(text).input_ids[:max_length]], device=device)  # (1, T)
        logits, _ = model(ids)
        total_nll += F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()
        total_tokens += ids.shape[1] - 1
    return float(torch.tensor(total_nll / total_tokens).exp())
