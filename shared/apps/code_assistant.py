"""A code assistant measured by running its code: prompts (zero- and few-shot), batched generation
that stops at the end of the first code block, a self-repair loop that feeds the sandbox's error
back, and the cached generations of notebook 11/02.

    replies = generate(model, tokenizer, [conversation(task, "few_shot")], temperature=0.0)
    runs = generation_runs(model, tokenizer, tasks, "smollm2", RECIPE)   # every stage, cached by recipe

The stages of `generation_runs` (each choice made on the validation tasks only):
1. greedy replies to the validation tasks, zero-shot and few-shot; the prompt style with the higher
   validation pass rate is kept, and answers the test tasks;
2. `samples` sampled replies per validation task at each temperature; the temperature with the
   higher validation pass@`samples` is kept; then `samples` test replies at that temperature;
3. self-repair: each test task whose greedy reply fails gets the error back, up to `repair_rounds`
   times, sampled at the chosen temperature (the same attempts as a plain retry of that many samples).
"""
import hashlib
import inspect
import json

import torch
from transformers import DynamicCache

from ..assets import build_once, register_derived
from .code_eval import check, extract_code, mean_pass_at_k

LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript"}
SYSTEM = "You are a coding assistant. Answer with the code only, in one fenced code block."
REPAIR = "Running your code with the tests failed:\n```\n{error}\n```\nFix the code. Answer with the whole corrected code only."
FEW_SHOT = {  # two worked examples per language, not in the task set
    "python": [("Write a Python function `double(x)` that returns x times two.",
                "```python\ndef double(x):\n    return x * 2\n```"),
               ("Write a Python function `count_words(s)` that returns the number of words in the string s.",
                "```python\ndef count_words(s):\n    return len(s.split())\n```")],
    "javascript": [("Write a JavaScript function `double(x)` that returns x times two.",
                    "```javascript\nfunction double(x) {\n  return x * 2;\n}\n```"),
                   ("Write a JavaScript function `countWords(s)` that returns the number of words in the string s.",
                    "```javascript\nfunction countWords(s) {\n  return s.split(/\\s+/).filter(w => w).length;\n}\n```")],
}
STYLES = ("zero_shot", "few_shot")


def conversation(task: dict, style: str = "zero_shot") -> list[dict]:
    """Chat messages asking for `task`: the system prompt, worked examples (few-shot), the request."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    messages = [{"role": "system", "content": SYSTEM}]
    for question, answer in FEW_SHOT[task["language"]] if style == "few_shot" else []:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return messages + [{"role": "user", "content": task["prompt"]}]


def repair_conversation(messages: list[dict], reply: str, error: str) -> list[dict]:
    """The conversation continued with the failed reply and the sandbox's error message."""
    return messages + [{"role": "assistant", "content": reply}, {"role": "user", "content": REPAIR.format(error=error)}]


def _closed_block(text: str) -> bool:
    """True once the text holds an opening and a closing code fence."""
    return text.count("```") >= 2


def _cut_after_block(reply: str) -> str:
    """The reply up to the end of its first closed code block (a token can run past the fence)."""
    first = reply.find("```")
    second = reply.find("```", first + 3) if first >= 0 else -1
    return reply[:second + 3] if second >= 0 else reply


@torch.no_grad()
def _decode(model, tokenizer, ids, mask, max_new_tokens: int, temperature: float, samples: int = 1) -> list[list[int]]:
    """Greedy or sampled decoding with a KV cache that drops each row as soon as it is finished
    (end of turn, or a closed code block). `model.generate` keeps finished rows in the batch until
    the last one ends, and a chat model's prose after the code would cost as much as the code.
    Each prompt is read once; its cache is then copied for its `samples` rows.

    ids, mask: (B, T), left-padded. Returns the new token ids of each of the B * samples rows."""
    stop = model.generation_config.eos_token_id
    stop = set(stop if isinstance(stop, list) else [stop]) | {tokenizer.eos_token_id}
    cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    cache = DynamicCache()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)     # (B, T): padding does not shift positions
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, **{cache_name: cache}).logits[:, -1]
    if samples > 1:                                    # B prompts -> B * samples rows, prompt i's rows together
        cache.batch_repeat_interleave(samples)
        logits, mask = logits.repeat_interleave(samples, 0), mask.repeat_interleave(samples, 0)
    new = [[] for _ in range(logits.shape[0])]         # row -> its new token ids
    alive = list(range(logits.shape[0]))               # the rows still in the batch
    for step in range(max_new_tokens):
        if temperature > 0:                            # sample from softmax(logits / T)
            probs = torch.softmax(logits.float() / temperature, dim=-1)       # (b, V)
            token = torch.multinomial(probs, 1).squeeze(1)                   # (b,)
        else:
            token = logits.argmax(-1)                                         # (b,)
        keep = []
        for j, (row, t) in enumerate(zip(alive, token.tolist())):
            if t in stop:
                continue
            new[row].append(t)
            if not _closed_block(tokenizer.decode(new[row], skip_special_tokens=True)):
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        index = torch.tensor(keep, device=ids.device)
        cache.batch_select_indices(index)              # drop the finished rows' keys and values
        alive = [alive[j] for j in keep]
        mask = torch.cat([mask[index], mask.new_ones(len(keep), 1)], dim=1)  # (b, T + step + 1)
        logits = model(input_ids=token[index, None], attention_mask=mask, position_ids=mask.sum(-1, keepdim=True) - 1,
                       **{cache_name: cache}).logits[:, -1]
    return new


@torch.no_grad()
def generate(model, tokenizer, conversations: list[list[dict]], temperature: float = 0.0, samples: int = 1,
             max_new_tokens: int = 160, batch_size: int = 16, seed: int = 0) -> list[list[str]]:
    """`samples` replies to each conversation: greedy when temperature is 0, else sampled (seeded
    per batch, so the same call gives the same replies). Returns one list of replies per conversation."""
    if temperature == 0 and samples != 1:
        raise ValueError("greedy decoding gives one reply per prompt: use samples=1, or a temperature > 0")
    texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    per_batch = max(1, batch_size // samples)
    replies = []
    try:
        for start in range(0, len(texts), per_batch):
            inputs = tokenizer(texts[start:start + per_batch], return_tensors="pt", padding=True,
                               add_special_tokens=False).to(model.device)           # (b, T)
            torch.manual_seed(seed + start)
            new = _decode(model, tokenizer, inputs["input_ids"], inputs["attention_mask"], max_new_tokens,
                          temperature, samples)
            decoded = [_cut_after_block(tokenizer.decode(t, skip_special_tokens=True)).strip() for t in new]
            replies += [decoded[i:i + samples] for i in range(0, len(decoded), samples)]
    finally:
        tokenizer.padding_side = padding_side
    return replies


def passes(replies: list[str], task: dict) -> list[bool]:
    """Which replies pass the task's tests, each run in the sandbox after extracting its code."""
    return [check(extract_code(r, task["language"]), task).passed for r in replies]


def self_repair(model, tokenizer, tasks: list[dict], messages: list[list[dict]], replies: list[str],
                rounds: int, max_new_tokens: int = 160, temperature: float = 0.0, seed: int = 0) -> list[list[str]]:
    """Feed each failing reply's error back and ask again, up to `rounds` times per task (sampled at
    `temperature`; greedy mostly repeats the failed reply). Returns, per task, the replies of the
    repair rounds it went through ([] if the first reply passed)."""
    history = [[] for _ in tasks]
    state = [(m, r) for m, r in zip(messages, replies)]              # (conversation so far, last reply)
    for round_ in range(rounds):
        failing = []
        for i, (task, (m, r)) in enumerate(zip(tasks, state)):
            result = check(extract_code(r, task["language"]), task)
            if not result.passed:
                failing.append((i, repair_conversation(m, r, result.error())))
        if not failing:
            break
        new = generate(model, tokenizer, [c for _, c in failing], max_new_tokens=max_new_tokens,
                       temperature=temperature, seed=seed + 1000 * round_)
        for (i, c), (reply,) in zip(failing, new):
            history[i].append(reply)
            state[i] = (c, reply)
    return history


# --- every stage of notebook 11/02, cached by recipe --------------------------------------------

RECIPE = {"max_new_tokens": 80,      # tokens per reply (generation also stops after the first code block)
          "samples": 3,              # sampled replies per task for pass@k (k <= samples)
          "temperatures": [0.3, 0.9],  # candidates for sampling, chosen on validation by pass@samples
          "repair_rounds": 2,        # self-repair rounds per failing task
          "seed": 0}


def _by_split(tasks):
    return {split: [dict(row) for row in tasks[split]] for split in ("validation", "test")}


def build_generations(model, tokenizer, tasks, recipe: dict, progress=None) -> dict:
    """Run the stages in the module docstring; returns replies (and the choices) as plain JSON data.
    The test tasks only ever see the chosen prompt style and temperature."""
    split = _by_split(tasks)
    val, test = split["validation"], split["test"]
    step = progress or (lambda what: None)
    gen = {"max_new_tokens": recipe["max_new_tokens"]}
    runs = {"recipe": recipe, "greedy": {}, "sampled": {}, "repair": {}}
    for style in STYLES:
        step(f"greedy, {style}, validation")
        replies = generate(model, tokenizer, [conversation(t, style) for t in val], **gen)
        runs["greedy"][style] = {t["task_id"]: r[0] for t, r in zip(val, replies)}
    runs["style"] = style = choose_style(runs, val)
    step(f"greedy, {style}, test")
    replies = generate(model, tokenizer, [conversation(t, style) for t in test], **gen)
    runs["greedy"][style].update({t["task_id"]: r[0] for t, r in zip(test, replies)})
    for temperature in recipe["temperatures"]:
        step(f"sampled, T={temperature}, validation")
        replies = generate(model, tokenizer, [conversation(t, style) for t in val], temperature=temperature,
                           samples=recipe["samples"], seed=recipe["seed"], **gen)
        runs["sampled"][str(temperature)] = {t["task_id"]: r for t, r in zip(val, replies)}
    runs["temperature"] = temperature = choose_temperature(runs, val)
    step(f"sampled, T={temperature}, test")
    replies = generate(model, tokenizer, [conversation(t, style) for t in test], temperature=temperature,
                       samples=recipe["samples"], seed=recipe["seed"] + 1, **gen)
    runs["sampled"][str(temperature)].update({t["task_id"]: r for t, r in zip(test, replies)})
    step("self-repair, test")
    history = self_repair(model, tokenizer, test, [conversation(t, style) for t in test],
                          [runs["greedy"][style][t["task_id"]] for t in test], recipe["repair_rounds"],
                          temperature=temperature, seed=recipe["seed"] + 2, **gen)
    runs["repair"] = {t["task_id"]: h for t, h in zip(test, history)}
    return runs


def choose_style(runs: dict, validation: list[dict]) -> str:
    """The prompt style with the higher greedy pass rate on `validation` (a tie keeps zero-shot, the shorter prompt)."""
    rate = {s: sum(passes([runs["greedy"][s][t["task_id"]]], t)[0] for t in validation) for s in STYLES}
    return max(STYLES, key=lambda s: (rate[s], s == "zero_shot"))


def choose_temperature(runs: dict, validation: list[dict]) -> float:
    """The temperature with the higher pass@samples on `validation` (a tie keeps the lower one)."""
    k = runs["recipe"]["samples"]
    score = {float(T): mean_pass_at_k([passes(runs["sampled"][T][t["task_id"]], t) for t in validation], k)
             for T in runs["sampled"]}
    return max(score, key=lambda T: (score[T], -T))


def recipe_key(model_name: str, tasks, recipe: dict) -> str:
    """Changes whenever the generations would: model, prompts, tasks and settings."""
    text = json.dumps([model_name, SYSTEM, REPAIR, FEW_SHOT, recipe, _by_split(tasks), "v2"], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def generation_runs(model, tokenizer, tasks, model_name: str, recipe: dict = RECIPE, progress=None) -> dict:
    """`build_generations`, cached under the asset cache by recipe (built once per model, tasks and recipe)."""
    slug = model_name.replace("/", "--")

    def build(out):
        (out / "runs.json").write_text(json.dumps(build_generations(model, tokenizer, tasks, recipe, progress), indent=1))
    folder = build_once(f"code_assistant_{slug}", build, recipe_key(model_name, tasks, recipe))
    return json.loads((folder / "runs.json").read_text())


def _build_tiny(out):
    from ..data import load_dataset
    from ..models import load_causal_lm

    torch.set_num_threads(1)  # deterministic and what CI's tiny profile uses
    model, tokenizer = load_causal_lm()
    runs = build_generations(model.eval(), tokenizer, load_dataset("code_tasks", "tiny"), RECIPE)
    (out / "runs.json").write_text(json.dumps(runs, indent=1))


def _tiny_recipe():
    from ..data import load_dataset
    return recipe_key("smollm2", load_dataset("code_tasks", "tiny"), RECIPE)


register_derived("code_assistant_smollm2", "SmolLM2-135M's replies to the code tasks (notebook 11/02)",
                 _build_tiny, _tiny_recipe)
