"""A preference dataset for news summaries, then a reward model and DPO on it: module 7, notebook 03.

    cfg = PreferenceConfig()
    folder = preference_dir(cfg)              # built once and cached (`journey assets` builds it)
    results = json.loads((folder / "results.json").read_text())

The build (a few CPU minutes on SmolLM2-135M, so a derived asset):
1. candidates: for each training prompt (a news lead from `summarization` train), the model samples one
   summary at each of `cfg.temperatures`; every two candidates of a prompt make a pair.
2. judges, on the annotator-labelled pairs (`data/news_summary_preferences.jsonl`, validation prompts):
   the metric judge and the LLM judge in both orders (`shared.infer.judge`; under bfloat16 autocast when
   `precision` is "bf16"); their Cohen's kappa with the annotator's labels picks the judge that labels
   the training pairs (validation for the choice).
3. reward-model features: the frozen model's last hidden state at the last token of prompt + answer,
   for every training candidate, every annotator-labelled answer and every held-out output; the
   Bradley-Terry head on top is trained in the notebook (it takes a fraction of a second).
4. DPO: `trl.DPOTrainer` with LoRA on the judge-labelled training pairs (mixed precision per `precision`;
   no gradient checkpointing on a CPU, where memory is not the limit); before and after, the DPO
   loss, implicit-reward accuracy and margin on the annotator-labelled pairs (`shared.train.dpo`).
5. held-out outputs: greedy summaries of the starting model and the DPO model for `cfg.n_eval_prompts`
   test leads, for the win rate (scored in the notebook by the reward model and the judges).
"""
import gc
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from ..assets import build_once, register_derived

INSTRUCTION = "Summarise this news in one short sentence.\n\n{document}"
LABELS_FILE = "news_summary_preferences.jsonl"


@dataclass
class PreferenceConfig:
    """The tiny profile's build; the notebook's full config overrides the sizes."""
    model: str | None = None            # None: the profile's causal LM (tiny: SmolLM2-135M-Instruct)
    n_train_prompts: int = 24           # training leads (summarization train, seeded sample)
    n_eval_prompts: int = 24            # held-out test leads for the win rate
    temperatures: tuple = (0.3, 0.7, 1.1)   # one sampled candidate per temperature and prompt
    max_new_tokens: int = 32            # tokens per summary
    max_document_words: int = 400       # longer documents are cut (full: CNN/DailyMail articles), so the answer fits
    tie_margin: float = 0.02            # metric judge: ROUGE-1 differences below this are ties
    dpo_steps: int = 12                 # DPOTrainer optimizer steps
    dpo_batch_size: int = 4             # pairs per step
    dpo_lr: float = 5e-4                # LoRA learning rate
    beta: float = 0.1                   # DPO's KL strength
    lora_r: int = 8                     # LoRA rank on q_proj, v_proj (alpha = 2r)
    max_length: int = 160               # tokens of prompt + answer in DPO
    gradient_checkpointing: bool = False    # recompute activations in the backward pass: less memory (a T4), one more forward
    precision: str = "bf16"             # "bf16" (CPU: DPO training and the LLM judge), "fp16" (T4: DPO training), "fp32"
    seed: int = 0

    def cache_name(self) -> str:
        return "preference_dpo_" + (self.model or "smollm2").replace("/", "_").lower()


def prompt_messages(document: str) -> list[dict]:
    return [{"role": "user", "content": INSTRUCTION.format(document=document)}]


LABELS_SHA256 = "7f457efd7c30766f289bcd6abbff20d401ca250ea7be5dadf530cdf54d2d5181"


def annotator_labels() -> list[dict]:
    """The labelled pairs written for the project (data/news_summary_preferences.jsonl; provenance and
    guideline in data/README.md), SHA-256 checked so that a changed file cannot silently change results."""
    from ..data.registry import jsonl_rows
    from ..paths import data_dir

    digest = hashlib.sha256((data_dir() / LABELS_FILE).read_bytes()).hexdigest()
    if digest != LABELS_SHA256:
        raise RuntimeError(f"data/{LABELS_FILE} has SHA-256 {digest}, expected {LABELS_SHA256}")
    return jsonl_rows(LABELS_FILE)


def sample_summaries(model, tokenizer, documents: list[str], temperature: float | None, max_new_tokens: int,
                     seed: int, batch_size: int = 8) -> list[str]:
    """One summary per document: sampled at `temperature` (plain sampling: no top-k, no top-p), or greedy
    when `temperature` is None. Seeded per batch, so a rerun gives the same text."""
    import torch

    texts = [tokenizer.apply_chat_template(prompt_messages(d), add_generation_prompt=True, tokenize=False)
             for d in documents]
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    out = []
    try:
        for start in range(0, len(texts), batch_size):
            inputs = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                               add_special_tokens=False).to(model.device)
            torch.manual_seed(seed + start)
            sampling = ({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature
                        else {"do_sample": False})
            with torch.no_grad():
                ids = model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     **sampling)
            out += [t.strip() for t in tokenizer.batch_decode(ids[:, inputs["input_ids"].shape[1]:],
                                                              skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = padding_side
    return out


def encode_pair(tokenizer, document: str, answer: str, max_length: int) -> dict:
    """Chat prompt + answer + end of turn: input_ids, attention_mask, completion_mask (1 on the answer)."""
    prompt = tokenizer.apply_chat_template(prompt_messages(document), add_generation_prompt=True, tokenize=True,
                                           return_dict=False)
    answer_ids = tokenizer(answer + "<|im_end|>", add_special_tokens=False).input_ids
    ids = (prompt + answer_ids)[:max_length]
    return {"input_ids": ids, "completion_mask": ([0] * len(prompt) + [1] * len(answer_ids))[:max_length]}


def padded(rows: list[dict], pad_id: int):
    """Right-padded (B, T) tensors of input_ids, attention_mask, completion_mask."""
    import torch

    length = max(len(r["input_ids"]) for r in rows)
    pad = lambda seq, v: seq + [v] * (length - len(seq))
    return (torch.tensor([pad(r["input_ids"], pad_id) for r in rows]),
            torch.tensor([pad([1] * len(r["input_ids"]), 0) for r in rows]),
            torch.tensor([pad(r["completion_mask"], 0) for r in rows]))


def score_answers(model, tokenizer, documents: list[str], answers: list[str], max_length: int,
                  batch_size: int = 8, logps: bool = True, features: bool = True):
    """One forward pass per distinct (document, answer) gives both scores the build needs:
    - log pi(answer | chat prompt of document), summed over the answer's tokens (a list, or None);
    - the last hidden state at the last token of prompt + answer + end of turn, (N, d) (or None).
    A pair that repeats (every candidate is in two training pairs) runs once."""
    import torch

    from .dpo import completion_logps

    distinct = list(dict.fromkeys(zip(documents, answers)))                    # first-seen order
    rows = [encode_pair(tokenizer, d, a, max_length) for d, a in distinct]
    out_logps, feats = [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            ids, mask, completion = (t.to(model.device) for t in padded(rows[start:start + batch_size],
                                                                          tokenizer.pad_token_id))
            if logps:
                out = model(input_ids=ids, attention_mask=mask, output_hidden_states=features)
                out_logps += completion_logps(model, ids, mask, completion, logits=out.logits).tolist()
            else:                                                      # no logits needed: only the last one
                out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, logits_to_keep=1)
            if features:
                hidden = out.hidden_states[-1]                                                 # (B, T, d)
                last = mask.sum(dim=1) - 1                                                     # (B,)
                feats.append(hidden[torch.arange(len(ids)), last].float().cpu())
    index = [{pair: i for i, pair in enumerate(distinct)}[pair] for pair in zip(documents, answers)]
    return ([out_logps[i] for i in index] if logps else None), (torch.cat(feats)[index] if features else None)


def answer_logps(model, tokenizer, documents: list[str], answers: list[str], max_length: int,
                 batch_size: int = 8) -> list[float]:
    """log pi(answer | chat prompt of document), summed over the answer's tokens."""
    return score_answers(model, tokenizer, documents, answers, max_length, batch_size, features=False)[0]


def reward_features(model, tokenizer, documents: list[str], answers: list[str], max_length: int,
                    batch_size: int = 8):
    """The frozen model's last hidden state at the last token of prompt + answer + end of turn: (N, d)."""
    return score_answers(model, tokenizer, documents, answers, max_length, batch_size, logps=False)[1]


def candidate_pairs(prompt_rows: list[dict], candidates: list[list[str]], temperatures) -> list[dict]:
    """Every two candidates of a prompt: {document, reference, a, b, temperature_a, temperature_b}."""
    pairs = []
    for row, answers in zip(prompt_rows, candidates):
        for i in range(len(answers)):
            for j in range(i + 1, len(answers)):
                pairs.append({"document": row["document"], "reference": row["summary"], "a": answers[i],
                              "b": answers[j], "temperature_a": temperatures[i], "temperature_b": temperatures[j]})
    return pairs


def preference_rows(pairs: list[dict], labels: list[str]) -> list[dict]:
    """The standard format: {prompt, chosen, rejected} (conversational), ties dropped."""
    rows = []
    for pair, label in zip(pairs, labels):
        if label != "tie":
            chosen, rejected = (pair["a"], pair["b"]) if label == "A" else (pair["b"], pair["a"])
            rows.append({"prompt": prompt_messages(pair["document"]),
                         "chosen": [{"role": "assistant", "content": chosen}],
                         "rejected": [{"role": "assistant", "content": rejected}]})
    return rows


def dpo_scores(policy, tokenizer, pairs: list[dict], labels: list[str], cfg, reference_logps=None,
               pair_logps=None):
    """On the non-tie labelled pairs: DPO loss, implicit-reward accuracy and mean margin of `policy`
    against the reference, and the accuracy of the reference's own likelihood as a judge.

    `reference_logps`: the reference's (chosen, rejected) log-probs, as returned by the call on the
    reference itself (None: `policy` is the reference). `pair_logps`: `policy`'s log-probs of every
    pair's a and b answers, if already computed (else computed here).
    Returns (scores, `policy`'s log-probs)."""
    import torch

    from .dpo import dpo_loss

    kept = [i for i, lab in enumerate(labels) if lab != "tie"]
    chosen = [pairs[i]["a"] if labels[i] == "A" else pairs[i]["b"] for i in kept]
    rejected = [pairs[i]["b"] if labels[i] == "A" else pairs[i]["a"] for i in kept]
    if pair_logps is None:
        logps = answer_logps(policy, tokenizer, [pairs[i]["document"] for i in kept] * 2, chosen + rejected,
                             cfg.max_length)
    else:
        by_answer = dict(zip([(p["document"], p["a"]) for p in pairs] + [(p["document"], p["b"]) for p in pairs],
                             pair_logps))
        logps = [by_answer[pairs[i]["document"], y] for i, y in zip(kept * 2, chosen + rejected)]
    pc, pr = torch.tensor(logps[:len(kept)]), torch.tensor(logps[len(kept):])
    ref_c, ref_r = reference_logps if reference_logps is not None else (pc, pr)
    loss, rc, rr = dpo_loss(pc, pr, ref_c, ref_r, beta=cfg.beta)
    return {"n": len(kept), "dpo_loss": loss.item(), "reward_accuracy": (rc > rr).float().mean().item(),
            "reward_margin": (rc - rr).mean().item(),
            "reference_likelihood_accuracy": (ref_c > ref_r).float().mean().item(),
            "margins": (rc - rr).tolist()}, (pc, pr)


def train_dpo(model, tokenizer, rows: list[dict], cfg, out: Path):
    """LoRA + `trl.DPOTrainer` on `rows`; returns (the trained peft model, its log history)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(output_dir=str(out / "dpo_run"), per_device_train_batch_size=cfg.dpo_batch_size,
                     max_steps=cfg.dpo_steps, learning_rate=cfg.dpo_lr, lr_scheduler_type="linear", warmup_steps=0,
                     beta=cfg.beta, max_length=cfg.max_length, logging_steps=1, report_to=[], save_strategy="no",
                     seed=cfg.seed, data_seed=cfg.seed, fp16=cfg.precision == "fp16", bf16=cfg.precision == "bf16",
                     disable_tqdm=True, dataloader_num_workers=0, gradient_checkpointing=cfg.gradient_checkpointing,
                     use_cpu=not torch.cuda.is_available())                 # transformers wants it for bf16 on a CPU
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=2 * cfg.lora_r, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                      task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora)
    trainer.train()
    history = [{k: v for k, v in entry.items() if isinstance(v, (int, float))} for entry in trainer.state.log_history]
    return trainer.model, history


def build(out: Path, cfg: PreferenceConfig | None = None) -> None:
    import torch

    from ..data import load_dataset
    from ..infer.judge import (
        cohen_kappa,
        llm_judge_probs,
        metric_judge,
        swap_consistent_label,
    )
    from ..models import load_causal_lm
    from ..utils import get_device

    cfg = cfg or PreferenceConfig()
    # bf16: the LLM judge's long prompts (only its P(A) vs P(B) is read) under bfloat16 autocast on a CPU
    judge_autocast = partial(torch.autocast, "cpu", dtype=torch.bfloat16,
                             enabled=cfg.precision == "bf16" and not torch.cuda.is_available())
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)                                    # the same floats on any core count
    seconds = {}
    try:
        torch.manual_seed(cfg.seed)
        model, tokenizer = load_causal_lm(cfg.model, dtype=torch.float32)
        model.to(get_device()).eval()
        data = load_dataset("summarization")
        cut = lambda row: {**row, "document": " ".join(row["document"].split()[:cfg.max_document_words])}
        train_rows = [cut(r) for r in data["train"].shuffle(seed=cfg.seed).select(range(cfg.n_train_prompts))]
        eval_rows = [cut(r) for r in data["test"].shuffle(seed=cfg.seed).select(range(cfg.n_eval_prompts))]
        # 1. candidates at each temperature
        start = time.process_time()
        per_temperature = [sample_summaries(model, tokenizer, [r["document"] for r in train_rows], t,
                                            cfg.max_new_tokens, cfg.seed + k)
                           for k, t in enumerate(cfg.temperatures)]
        candidates = [list(answers) for answers in zip(*per_temperature)]      # prompt -> one answer per temperature
        train_pairs = candidate_pairs(train_rows, candidates, cfg.temperatures)
        seconds["candidates"] = time.process_time() - start
        # 2. judges on the annotator-labelled pairs, then on the training pairs
        start = time.process_time()
        labelled = annotator_labels()
        docs = [p["document"] for p in labelled]
        with judge_autocast():
            p_first = llm_judge_probs(model, tokenizer, docs, [p["a"] for p in labelled], [p["b"] for p in labelled])
            p_swapped = llm_judge_probs(model, tokenizer, docs, [p["b"] for p in labelled], [p["a"] for p in labelled])
        annotator = [p["label"] for p in labelled]
        judges = {"metric": [metric_judge(p["a"], p["b"], p["reference"], cfg.tie_margin) for p in labelled],
                  "llm": [swap_consistent_label(f, 1 - s) for f, s in zip(p_first, p_swapped)]}
        kappas = {name: cohen_kappa(annotator, labels) for name, labels in judges.items()}
        chosen_judge = max(kappas, key=kappas.get)                  # picked on the labelled (validation) pairs
        if chosen_judge == "metric":
            train_labels = [metric_judge(p["a"], p["b"], p["reference"], cfg.tie_margin) for p in train_pairs]
        else:
            docs_t = [p["document"] for p in train_pairs]
            with judge_autocast():
                f = llm_judge_probs(model, tokenizer, docs_t, [p["a"] for p in train_pairs], [p["b"] for p in train_pairs])
                s = llm_judge_probs(model, tokenizer, docs_t, [p["b"] for p in train_pairs], [p["a"] for p in train_pairs])
            train_labels = [swap_consistent_label(x, 1 - y) for x, y in zip(f, s)]
        seconds["judges"] = time.process_time() - start
        # 3. reward-model features of every answer the notebook scores
        start = time.process_time()
        features = {}
        both = reward_features(model, tokenizer, [p["document"] for p in train_pairs] * 2,
                               [p["a"] for p in train_pairs] + [p["b"] for p in train_pairs], cfg.max_length)
        features["train_a"], features["train_b"] = both[:len(train_pairs)], both[len(train_pairs):]
        # the labelled answers: features and the starting model's log-probs (for DPO's scores) in one pass
        labelled_logps, both = score_answers(model, tokenizer, docs * 2, [p["a"] for p in labelled]
                                             + [p["b"] for p in labelled], cfg.max_length)
        features["labelled_a"], features["labelled_b"] = both[:len(labelled)], both[len(labelled):]
        seconds["reward_features"] = time.process_time() - start
        # 4. DPO with LoRA; scores on the annotator-labelled pairs before and after
        start = time.process_time()
        before, reference_logps = dpo_scores(model, tokenizer, labelled, annotator, cfg, pair_logps=labelled_logps)
        base_outputs = sample_summaries(model, tokenizer, [r["document"] for r in eval_rows], None,
                                        cfg.max_new_tokens, cfg.seed)
        seconds["dpo_before"] = time.process_time() - start
        start = time.process_time()
        rows = preference_rows(train_pairs, train_labels)
        policy, history = train_dpo(model, tokenizer, rows, cfg, out)
        seconds["dpo_train"] = time.process_time() - start
        start = time.process_time()
        policy.eval()
        merged = policy.merge_and_unload()                          # plain weights: inference at no extra cost
        after, _ = dpo_scores(merged, tokenizer, labelled, annotator, cfg, reference_logps)
        seconds["dpo_after"] = time.process_time() - start
        # 5. held-out outputs of both models, and their features for the reward model
        start = time.process_time()
        dpo_outputs = sample_summaries(merged, tokenizer, [r["document"] for r in eval_rows], None,
                                       cfg.max_new_tokens, cfg.seed)
        del model, policy, merged                                   # one model in memory at a time (a T4 in full)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        reference, _ = load_causal_lm(cfg.model, dtype=torch.float32)   # the starting model: the reward model's trunk
        reference.to(get_device()).eval()
        eval_docs = [r["document"] for r in eval_rows]
        features["eval_base"] = reward_features(reference, tokenizer, eval_docs, base_outputs, cfg.max_length)
        features["eval_dpo"] = reward_features(reference, tokenizer, eval_docs, dpo_outputs, cfg.max_length)
        with judge_autocast():
            pb = llm_judge_probs(reference, tokenizer, eval_docs, dpo_outputs, base_outputs)   # DPO shown as A
            ps = llm_judge_probs(reference, tokenizer, eval_docs, base_outputs, dpo_outputs)   # DPO shown as B
        seconds["eval"] = time.process_time() - start
    finally:
        torch.set_num_threads(threads)
    torch.save(features, out / "reward_features.pt")
    results = {
        "config": asdict(cfg), "cpu_seconds": seconds,
        "train_pairs": [{**p, "judge_label": lab} for p, lab in zip(train_pairs, train_labels)],
        "labelled": {"annotator": annotator, "judges": judges, "kappa": kappas, "chosen_judge": chosen_judge,
                     "llm_p_a_first": p_first, "llm_p_a_swapped": p_swapped},
        "dpo": {"before": before, "after": after, "history": history, "n_train_rows": len(rows)},
        "eval": [{"document": r["document"], "reference": r["summary"], "base": b, "dpo": d,
                  "llm_p_dpo_first": x, "llm_p_dpo_second": 1 - y}
                 for r, b, d, x, y in zip(eval_rows, base_outputs, dpo_outputs, pb, ps)],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))


def recipe(cfg: PreferenceConfig | None = None) -> str:
    """Changes whenever the build would: the config, the profile, and the annotator's labels."""
    from ..paths import data_dir
    from ..profile import active_profile

    cfg = cfg or PreferenceConfig()
    labels = hashlib.sha256((data_dir() / LABELS_FILE).read_bytes()).hexdigest()
    config = json.dumps({**asdict(cfg), "profile": active_profile().name, "labels": labels}, sort_keys=True,
                        default=list)
    return "preference dpo v3 sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


def preference_dir(cfg: PreferenceConfig) -> Path:
    """The folder of the build with `cfg`: built on first use, then cached."""
    return build_once(cfg.cache_name(), partial(build, cfg=cfg), recipe(cfg))


ASSET = register_derived(PreferenceConfig().cache_name(),
                         "News-summary preference pairs, judges, reward features and a DPO run on SmolLM2-135M "
                         "(shared.train.preference_dpo)",
                         partial(build, cfg=PreferenceConfig()), recipe)
