"""Fine-tune a causal LM to write the format a tag asks for (a story or a poem), the Hugging Face
way: the recipe of module 4, notebook 01, and its cached run.

    tokenized = tokenize_tagged(load_dataset("stories_poems"), tokenizer, max_length=128)
    trainer = make_trainer(model, tokenizer, tokenized, FormatFinetuneConfig(), output_dir, seed=0)
    trainer.train()
    folder = fine_tuned_dir(FormatFinetuneConfig())   # the whole run, trained once and cached

Every training text starts with its tag (`Story:` / `Poem:`) on a line of its own; the tag is
given, not graded (its labels are -100), so the loss asks "how well does the model write a poem,
knowing it should write a poem?".

A training step of SmolLM2-135M costs about 3 s on one CPU core (bfloat16 autocast), so the tiny
profile's real fine-tune (40 steps) is the derived asset "stories_poems_smollm2", built once by
`journey assets` with exactly these functions (about 2.5 CPU minutes); the notebook runs two steps
live to show the loop and then loads that run.
"""
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from ..assets import build_once, register_derived

FORMAT_TAGS = {"story": "Story:", "poem": "Poem:"}  # plain words the pre-trained model already knows


def tag_line(fmt: str) -> str:
    """The prompt that asks for a text of format `fmt`: its tag on a line of its own."""
    if fmt not in FORMAT_TAGS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMAT_TAGS)}")
    return FORMAT_TAGS[fmt] + "\n"


def encode_tagged(row: dict, tokenizer, max_length: int) -> dict:
    """tag + text + end-of-text as `input_ids`; `labels` the same ids with the tag set to -100."""
    tag_ids = tokenizer(tag_line(row["format"]), add_special_tokens=False).input_ids
    text_ids = tokenizer(row["text"], add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    text_ids = text_ids[:max_length - len(tag_ids)]
    return {"input_ids": tag_ids + text_ids, "labels": [-100] * len(tag_ids) + text_ids}


def tokenize_tagged(data, tokenizer, max_length: int):
    """`encode_tagged` over every split; keeps the `format` column for the per-format evaluation."""
    return data.map(partial(encode_tagged, tokenizer=tokenizer, max_length=max_length),
                    remove_columns=["title", "text"])


def of_format(rows, fmt: str):
    """The rows of format `fmt`, without the `format` column (the model takes only token columns)."""
    return rows.select([i for i, f in enumerate(rows["format"]) if f == fmt]).remove_columns("format")


@dataclass
class FormatFinetuneConfig:
    """The settings of one fine-tuning run; the defaults are the tiny profile's cached run."""
    model: str | None = None      # None: the profile's causal LM (tiny: SmolLM2-135M-Instruct)
    max_length: int = 128         # tokens per training text (the longest tiny text has 110)
    max_steps: int = 40           # optimizer steps: 160 texts, about 1.5 passes over the 108
    batch_size: int = 4           # texts per step
    lr: float = 1e-4              # peak learning rate (AdamW), then linear decay to 0
    warmup_steps: int = 4         # linear warmup
    eval_steps: int = 8           # evaluate the held-out texts every this many steps
    eval_batch_size: int = 10     # 10 = all held-out texts of a format in one batch
    precision: str = "bf16"       # "bf16" (CPUs with AMX, A100), "fp16" (T4), "fp32"
    seed: int = 0

    def cache_name(self) -> str:
        return "stories_poems_" + (self.model or "smollm2").replace("/", "_").lower()


def make_trainer(model, tokenizer, tokenized, cfg: FormatFinetuneConfig, output_dir, seed: int):
    """A `Trainer` over the training texts that evaluates each format's held-out texts apart."""
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from ..data import STORY_POEM_FORMATS
    from ..utils import get_device

    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=cfg.max_steps, learning_rate=cfg.lr,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.eval_batch_size,
        warmup_steps=cfg.warmup_steps, lr_scheduler_type="linear", logging_steps=1,
        eval_strategy="steps", eval_steps=cfg.eval_steps, save_strategy="no", report_to="none",
        bf16=cfg.precision == "bf16", fp16=cfg.precision == "fp16", use_cpu=get_device() == "cpu",
        prediction_loss_only=True,  # evaluation needs the loss only: do not collect the logits
        dataloader_pin_memory=False, seed=seed,
        data_seed=seed)  # the batch order from its own generator: not moved by sampling before train()
    # pads input_ids with the pad token and labels with -100 (see the notebook for why not the LM collator)
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    test_sets = {fmt: of_format(tokenized["test"], fmt) for fmt in STORY_POEM_FORMATS}
    return Trainer(model=model, args=args, train_dataset=tokenized["train"].remove_columns("format"),
                   eval_dataset=test_sets, data_collator=collator)


def build(out: Path, cfg: FormatFinetuneConfig | None = None) -> None:
    """Fine-tune `cfg.model` on the stories and poems; save the model, its tokenizer and
    `run.json` (the config, the held-out losses before training and every logged value)."""
    import torch

    from ..data import load_dataset
    from ..models import load_causal_lm

    cfg = cfg or FormatFinetuneConfig()
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)  # the same floats on any core count
    try:
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            model, tokenizer = load_causal_lm(cfg.model)
            tokenized = tokenize_tagged(load_dataset("stories_poems"), tokenizer, cfg.max_length)
            trainer = make_trainer(model, tokenizer, tokenized, cfg, out / "trainer", cfg.seed)
            before = trainer.evaluate()
            trainer.train()
    finally:
        torch.set_num_threads(threads)
    shutil.rmtree(out / "trainer", ignore_errors=True)  # nothing is saved there (save_strategy="no")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = {"config": asdict(cfg), "before": before, "log_history": trainer.state.log_history}
    (out / "run.json").write_text(json.dumps(report, indent=1))


def recipe(cfg: FormatFinetuneConfig | None = None) -> str:
    """Changes whenever the run would: the config, and the profile (its data and base model)."""
    from ..profile import active_profile

    cfg = cfg or FormatFinetuneConfig()
    config = json.dumps({**asdict(cfg), "profile": active_profile().name}, sort_keys=True)
    return "format fine-tune v1 sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


def fine_tuned_dir(cfg: FormatFinetuneConfig) -> Path:
    """The folder of the model fine-tuned with `cfg`: trained on first use, then cached (the tiny
    profile's default run is built ahead by `journey assets`)."""
    return build_once(cfg.cache_name(), partial(build, cfg=cfg), recipe(cfg))


def load_run(folder: Path) -> dict:
    """`run.json` of a cached run: config, held-out losses before training, the log history."""
    return json.loads((Path(folder) / "run.json").read_text())


ASSET = register_derived(FormatFinetuneConfig().cache_name(),
                         "SmolLM2-135M fine-tuned on the course's stories and poems (shared.train.format_finetune)",
                         partial(build, cfg=FormatFinetuneConfig()), recipe)
