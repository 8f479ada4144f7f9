"""Supervised instruction tuning (SFT) on verifiable constraints: the run of module 6, notebook 04.

    cfg = InstructionTuningConfig()
    data = constrained_splits(load_dataset("instructions"), cfg)   # rows with a constraint each
    folder = tuned_dir(cfg)            # LoRA SFT of SmolLM2, trained once and cached (`journey assets`)
    results = load_results(folder)     # losses, and the base and tuned model's answers on held-out prompts

The setting. SmolLM2-135M-Instruct is already instruction-tuned, so plain Alpaca SFT would teach it
little we could measure. Instead every Alpaca instruction gets one IFEval-style constraint appended
("Your entire response must be in lowercase letters.", "Wrap your entire output in JSON format.",
...) and its reference answer is rewritten, by a rule, to obey it. The base model follows such
constraints only sometimes; SFT on (constrained prompt, compliant answer) pairs should make it follow
them on held-out instructions. The constraints are checked by the IFEval verifiers (`if-verifiable`).

The loss is on the answer tokens only (the prompt's labels are -100, `lora_finetune.encode`); the
training run is the course's LoRA (`shared.nn.lora`) with a plain PyTorch loop. The notebook replays
its first step live and runs the same step with `trl.SFTTrainer`.
"""
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from ..assets import build_once, register_derived
from .lora_finetune import autocast, collate, encode

END_PHRASE = "Is there anything else I can help with?"

# name -> (IFEval instruction id, its kwargs, the sentence appended to the prompt). The sentences
# are the project's own wording of IFEval's instruction types (Zhou et al., 2023).
CONSTRAINTS = {
    "lowercase": ("change_case:english_lowercase", {},
                  "Your entire response must be in English and in lowercase letters; no capital letters are allowed."),
    "title": ("detectable_format:title", {},
              "Give your answer a title wrapped in double angular brackets, such as <<my title>>."),
    "end_phrase": ("startend:end_checker", {"end_phrase": END_PHRASE},
                   f"Finish your response with this exact phrase: {END_PHRASE} No other words should follow it."),
    "postscript": ("detectable_content:postscript", {"postscript_marker": "P.S."},
                   "At the end of your response, add a postscript starting with P.S."),
    "short": ("length_constraints:number_words", {"relation": "less than", "num_words": 40},
              "Answer with less than 40 words."),
    "json": ("detectable_format:json_format", {},
             "Wrap your entire output in JSON format."),
}


def shorten(text: str, max_words: int) -> str:
    """The first sentences of `text` that fit in `max_words` words (at least the first sentence, cut)."""
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    out = []
    for sentence in sentences:
        if len(" ".join(out + [sentence]).split()) > max_words:
            break
        out.append(sentence)
    return " ".join(out) if out else " ".join(sentences[0].split()[:max_words])


def title_of(instruction: str) -> str:
    """A short title made from the instruction's first words."""
    words = re.sub(r"[^A-Za-z0-9 ]", " ", instruction).split()[:4]
    return " ".join(words).capitalize()


def comply(answer: str, constraint: str, instruction: str) -> str:
    """Rewrite a (shortened) reference answer so that it obeys `constraint`."""
    if constraint == "lowercase":
        return answer.lower()
    if constraint == "title":
        return f"<<{title_of(instruction)}>>\n{answer}"
    if constraint == "end_phrase":
        return f"{answer} {END_PHRASE}"
    if constraint == "postscript":
        return f"{answer}\n\nP.S. I hope this helps."
    if constraint == "short":
        return answer
    if constraint == "json":
        return json.dumps({"answer": answer})
    raise ValueError(f"unknown constraint {constraint!r}")


def constrain(row: dict, constraint: str, max_words: int) -> dict:
    """An Alpaca row with `constraint` appended to its prompt and its answer rewritten to obey it;
    `instruction` holds the whole prompt (instruction, input, constraint) and `input` is empty."""
    prompt = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "") + "\n\n" + CONSTRAINTS[constraint][2]
    return {"instruction": prompt, "input": "", "output": comply(shorten(row["output"], max_words), constraint, row["instruction"]),
            "reference": shorten(row["output"], max_words), "constraint": constraint}


def constrained_splits(data, cfg) -> dict:
    """train / validation / test rows, each with one constraint, the constraints taken in turn."""
    names = list(CONSTRAINTS)
    return {split: [constrain(row, names[i % len(names)], cfg.max_answer_words) for i, row in enumerate(data[split])]
            for split in ("train", "validation", "test")}


def verify(row: dict, response: str) -> bool:
    """Does `response` obey the row's constraint? (IFEval's strict check, `if-verifiable`.)"""
    from if_verifiable import IFEvalSample, evaluate_output_for_sample

    instruction_id, kwargs, _ = CONSTRAINTS[row["constraint"]]
    sample = IFEvalSample(key=0, prompt=row["instruction"], instruction_id_list=[instruction_id], kwargs=[kwargs])
    results, _ = evaluate_output_for_sample("ifeval", sample, response)
    return bool(results[0].strict_pass)


@dataclass
class InstructionTuningConfig:
    """The cached SFT run; the defaults are the tiny profile's."""
    model: str | None = None      # None: the profile's causal LM (tiny: SmolLM2-135M-Instruct)
    max_answer_words: int = 30    # reference answers cut to their first sentences within this many words
    max_length: int = 160         # tokens per example: chat prompt + answer
    max_prompt_tokens: int = 112  # drop the few instructions with a longer prompt
    steps: int = 40               # optimizer steps
    batch_size: int = 5           # examples per step (padded to the longest)
    lr: float = 1e-3              # AdamW on the LoRA A, B only
    warmup_steps: int = 4         # linear warmup, then linear decay to 0
    r: int = 8                    # LoRA rank
    alpha: float = 16.0           # LoRA alpha (scale alpha / r = 2)
    targets: tuple = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    n_eval: int = 60              # held-out test prompts answered by the base and the tuned model (10 per constraint)
    max_new_tokens: int = 80      # greedy answer length cap (the tuned answers need < 70)
    eval_batch_size: int = 20     # validation examples per answer-loss batch
    generate_batch_size: int = 60  # prompts answered together (one batch: a decoding step costs little more for 60 than for 20)
    precision: str = "bf16"       # autocast dtype for training and answering: "bf16", "fp16" (T4), "fp32"
    seed: int = 0

    def cache_name(self) -> str:
        return "instruction_sft_" + (self.model or "smollm2").replace("/", "_").lower()


def tokenize(rows: list[dict], tokenizer, cfg) -> list[dict]:
    """`encode` every row (chat prompt, answer, prompt masked with -100), dropping over-long prompts."""
    out = [{**encode(row, tokenizer, cfg.max_length), "index": i} for i, row in enumerate(rows)]
    return [row for row in out if row["prompt_tokens"] <= cfg.max_prompt_tokens]


def batch_order(n: int, cfg) -> list[int]:
    import torch

    return torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed)).tolist()


def batch_rows(train: list[dict], step: int, cfg) -> list[dict]:
    """The examples of optimizer step `step` (a seeded shuffle, taken in turn)."""
    order = batch_order(len(train), cfg)
    return [train[order[(step * cfg.batch_size + i) % len(order)]] for i in range(cfg.batch_size)]


def lora_model(cfg):
    """The base model with fresh LoRA adapters (seeded), and its tokenizer."""
    import torch

    from ..models import load_causal_lm
    from ..nn.lora import add_lora

    model, tokenizer = load_causal_lm(cfg.model, dtype=torch.float32)
    torch.manual_seed(cfg.seed)
    return add_lora(model, cfg.targets, r=cfg.r, alpha=cfg.alpha), tokenizer


def train_step(model, optimizer, schedule, scaler, rows, pad_id, cfg) -> float:
    """One optimizer step on `rows`; returns the loss (mean cross-entropy per answer token)."""
    import torch

    device = next(model.parameters()).device
    model.train()
    batch = {k: v.to(device) for k, v in collate(rows, pad_id).items()}
    with autocast(device.type, cfg.precision):
        loss = model(**batch).loss                                 # labels -100 on prompt and padding
    scaler.scale(loss).backward()                                  # fp16: loss scaling; else unchanged
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    schedule.step()
    return loss.item()


def make_optimizer(model, cfg):
    import torch
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    scaler = torch.amp.GradScaler(enabled=cfg.precision == "fp16")  # fp16 (T4) needs loss scaling
    return optimizer, get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps), scaler


def generate(model, tokenizer, rows: list[dict], cfg) -> list[str]:
    """Greedy answers to the rows' chat prompts (left-padded batches, under the training's autocast)."""
    import torch

    from .lora_finetune import prompt_of

    model.eval()
    tokenizer.padding_side = "left"
    answers = []
    for start in range(0, len(rows), cfg.generate_batch_size):
        texts = [tokenizer.apply_chat_template(prompt_of(r), add_generation_prompt=True, tokenize=False)
                 for r in rows[start:start + cfg.generate_batch_size]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad(), autocast(model.device.type, cfg.precision):
            out = model.generate(**batch, max_new_tokens=cfg.max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        answers += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    tokenizer.padding_side = "right"
    return [a.strip() for a in answers]


def build(out: Path, cfg: "InstructionTuningConfig | None" = None) -> None:
    """Base answers, the SFT run (losses per step, held-out answer loss), tuned answers; LoRA weights."""
    import copy

    import torch
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from ..data import load_dataset
    from ..nn.lora import lora_state_dict, merge_lora
    from .lora_finetune import answer_loss

    cfg = cfg or InstructionTuningConfig()
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)                                   # the same floats on any core count
    start = time.process_time()
    try:
        rows = constrained_splits(load_dataset("instructions"), cfg)
        model, tokenizer = lora_model(cfg)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model.to(device)
        pad_id = tokenizer.pad_token_id
        train = tokenize(rows["train"], tokenizer, cfg)
        validation = tokenize(rows["validation"], tokenizer, cfg)
        by_length = sorted(validation, key=lambda row: len(row["input_ids"]))  # scored in batches of similar length: less padding
        test_rows = rows["test"][:cfg.n_eval]
        result = {"base_validation_loss": answer_loss(model, by_length, pad_id, cfg.eval_batch_size, cfg.precision),
                  # LoRA B = 0: the base model; merged away (W + 0), the same answers without the adapters' cost
                  "base_answers": generate(merge_lora(copy.deepcopy(model)), tokenizer, test_rows, cfg)}
        optimizer, schedule, scaler = make_optimizer(model, cfg)
        losses = []
        for step in tqdm(range(cfg.steps), desc="SFT steps"):
            losses.append(train_step(model, optimizer, schedule, scaler, batch_rows(train, step, cfg), pad_id, cfg))
        result["train_loss"] = losses
        result["validation_loss"] = answer_loss(model, by_length, pad_id, cfg.eval_batch_size, cfg.precision)
        result["tuned_answers"] = generate(model, tokenizer, test_rows, cfg)
        save_file({k: v.contiguous().cpu() for k, v in lora_state_dict(model).items()}, str(out / "lora.safetensors"))
    finally:
        torch.set_num_threads(threads)
    result.update(config=asdict(cfg), n_train=len(train), n_validation=len(validation),
                  cpu_seconds=time.process_time() - start)
    (out / "results.json").write_text(json.dumps(result, indent=1))


def recipe(cfg: "InstructionTuningConfig | None" = None) -> str:
    from ..profile import active_profile

    cfg = cfg or InstructionTuningConfig()
    config = json.dumps({**asdict(cfg), "profile": active_profile().name, "constraints": CONSTRAINTS}, sort_keys=True, default=list)
    return "instruction sft v2 sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


def tuned_dir(cfg: InstructionTuningConfig) -> Path:
    """The folder of the run with `cfg`: trained on first use, then cached."""
    return build_once(cfg.cache_name(), partial(build, cfg=cfg), recipe(cfg))


def load_results(folder: Path) -> dict:
    return json.loads((Path(folder) / "results.json").read_text())


ASSET = register_derived(InstructionTuningConfig().cache_name(),
                         "SFT (LoRA) of SmolLM2-135M on instructions with verifiable constraints (shared.train.instruction_tuning)",
                         partial(build, cfg=InstructionTuningConfig()), recipe)
