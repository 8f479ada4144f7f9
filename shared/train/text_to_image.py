"""Text-to-image with a small diffusion model (module 11, notebook 07): Fashion-MNIST images at
16x16, prompts written as sentences and embedded by the real MiniLM encoder, a `diffusers`
`UNet2DConditionModel` that predicts the noise (shared.nn.ddpm) with classifier-free guidance, and
a separate small CNN that judges the generated images.

    recipe = TextToImageRecipe()
    folder = trained_text_to_image(recipe)                 # built once, then cached
    unet, classifier, log = load_text_to_image(folder, recipe)
    prompts = PromptBank.embed(encoder, tokenizer, ["a photo of a sneaker", ...])
    images = generate(unet, ddpm, prompts, scale=3.0, num_steps=20, generator=g)   # (N, 1, 16, 16) in [-1, 1]

What the tiny model can do: draw the rough shape of a prompted clothing class in 16x16 grey
pixels. What it cannot: anything outside the 10 classes, colour, composition ("a boot next to a
bag"), attributes the training prompts never named. The prompts say only the class, in several
phrasings, so the text encoder has to map a new phrasing ("footwear for running") near a known one.

Importing this module registers the tiny recipe as the derived asset "text_to_image_fmnist"
(`journey assets` builds it: a few CPU minutes on one core).
"""
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..assets import build_once, register_derived
from ..nn.ddpm import DDPM, classifier_free_guidance
from ..utils import tqdm
from .pretrain import cosine_with_warmup

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# Prompts written for the course, several phrasings per Fashion-MNIST class. "train" phrasings
# condition the UNet during training; "validation" and "test" phrasings are never seen in
# training: the text encoder must place them near the training phrasings of their class.
PROMPTS = {
    "train": (
        ("a photo of a t-shirt", "a t-shirt", "a short-sleeved top", "a plain tee"),
        ("a photo of trousers", "a pair of trousers", "long pants", "a pair of jeans"),
        ("a photo of a pullover", "a pullover", "a warm sweater", "a knitted jumper"),
        ("a photo of a dress", "a dress", "a summer dress", "a long dress for women"),
        ("a photo of a coat", "a coat", "a winter coat", "a jacket with buttons"),
        ("a photo of a sandal", "a sandal", "an open summer shoe", "a pair of sandals"),
        ("a photo of a shirt", "a shirt", "a button-up shirt", "a shirt with a collar"),
        ("a photo of a sneaker", "a sneaker", "a running shoe", "a sports shoe"),
        ("a photo of a bag", "a bag", "a handbag", "a shopping bag"),
        ("a photo of an ankle boot", "an ankle boot", "a short leather boot", "a pair of boots"),
    ),
    "validation": ("a picture of a tee shirt", "a picture of some trousers", "a picture of a sweater",
                   "a picture of a dress", "a picture of an overcoat", "a picture of a sandal",
                   "a picture of a shirt", "a picture of a trainer shoe", "a picture of a purse",
                   "a picture of an ankle boot"),
    "test": ("an image of a cotton t-shirt", "an image of slacks", "an image of a wool pullover",
             "an image of an evening dress", "an image of a raincoat", "an image of a flat sandal",
             "an image of a dress shirt", "an image of a white sneaker", "an image of a leather bag",
             "an image of a winter boot"),
}
TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"  # full profile; tiny: the offline copy of it
NULL_PROMPT = ""  # the "no condition" prompt of classifier-free guidance (as in Stable Diffusion)


@dataclass(frozen=True)
class TextToImageRecipe:
    """One training run; the defaults are the tiny profile's cached asset."""
    image_size: int = 16                       # pixels per side (28x28 padded to 32, then 2x2 average pools)
    n_validation: int = 5_000                  # images held out of the training split (last of a seeded shuffle)
    channels: tuple = (16, 32, 64)             # UNet block widths (16x16, 8x8, 4x4)
    heads: int = 2                             # attention heads in the cross-attention blocks
    steps: int = 1_000                         # UNet optimizer steps
    batch_size: int = 64                       # images per step
    lr: float = 2e-3                           # peak AdamW learning rate (warmup, then cosine)
    warmup: int = 50                           # linear warmup steps
    p_uncond: float = 0.1                      # probability of replacing the prompt by "" (for guidance)
    ema: float = 0.99                          # decay of the weight average used for sampling
    num_train_timesteps: int = 1000            # T of the noise schedule
    classifier_epochs: int = 2                 # epochs of the judge CNN over the training images
    seed: int = 0                              # weights, batch order, noise, prompt phrasing

    def cache_name(self) -> str:
        return "text_to_image_fmnist" if self == TextToImageRecipe() else "text_to_image_" + fingerprint(self)


def fingerprint(recipe: TextToImageRecipe) -> str:
    return hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:16]


def recipe_string(recipe: TextToImageRecipe | None = None) -> str:
    """Changes whenever the build would: the recipe, the prompts and the profile (its text encoder)."""
    from ..profile import active_profile

    recipe = recipe or TextToImageRecipe()
    prompts = hashlib.sha256(json.dumps(PROMPTS).encode()).hexdigest()[:8]
    return f"text to image v1 {fingerprint(recipe)} prompts {prompts} profile {active_profile().name}"


# --- data -----------------------------------------------------------------------------------------

def to_model_images(images: np.ndarray, size: int = 16) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, size, size) in [-1, 1]: pad to 32 (background), average-pool."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 127.5 - 1).unsqueeze(1)   # (N, 1, 28, 28)
    x = F.pad(x, (2, 2, 2, 2), value=-1.0)                                                # (N, 1, 32, 32)
    return F.adaptive_avg_pool2d(x, size) if size != 32 else x                            # (N, 1, size, size)


def image_splits(recipe: TextToImageRecipe) -> dict:
    """{"train", "validation", "test"} -> (images (N, 1, S, S) in [-1, 1], labels (N,)). Validation is
    held out of Fashion-MNIST's training split; test is its test split."""
    from ..data.images import fashion_mnist

    images, labels = fashion_mnist("train")
    order = np.random.default_rng(0).permutation(len(labels))
    train, val = order[:-recipe.n_validation], order[-recipe.n_validation:]
    test_images, test_labels = fashion_mnist("test")
    size = recipe.image_size
    return {"train": (to_model_images(images[train], size), torch.from_numpy(labels[train].astype(np.int64))),
            "validation": (to_model_images(images[val], size), torch.from_numpy(labels[val].astype(np.int64))),
            "test": (to_model_images(test_images, size), torch.from_numpy(test_labels.astype(np.int64)))}


# --- prompts through the text encoder ---------------------------------------------------------

@dataclass
class PromptBank:
    """Prompts embedded once: the encoder's token vectors (what the UNet cross-attends to) and mask."""
    texts: list
    states: torch.Tensor      # (P, L, H) last hidden states of the text encoder, padded to L tokens
    mask: torch.Tensor        # (P, L) 1 = real token, 0 = padding
    labels: list = field(default_factory=list)   # class index of each prompt (-1: the null prompt)

    @classmethod
    @torch.no_grad()
    def embed(cls, encoder, tokenizer, texts: list, labels: list | None = None, max_length: int = 16) -> "PromptBank":
        batch = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length,
                          return_tensors="pt")
        states = encoder(**batch).last_hidden_state                       # (P, L, H)
        return cls(list(texts), states.float(), batch["attention_mask"], list(labels or []))

    def take(self, index: torch.Tensor) -> tuple:
        """(states (B, L, H), mask (B, L)) of the prompts at `index` (B,)."""
        return self.states[index], self.mask[index]


def training_prompts() -> tuple[list, list]:
    """(texts, labels): every training phrasing of every class, then the null prompt (label -1)."""
    texts = [text for phrasings in PROMPTS["train"] for text in phrasings]
    labels = [c for c, phrasings in enumerate(PROMPTS["train"]) for _ in phrasings]
    return texts + [NULL_PROMPT], labels + [-1]


# --- the two networks -------------------------------------------------------------------------

def make_unet(recipe: TextToImageRecipe, text_dim: int = 384):
    """A small `UNet2DConditionModel`: ResNet blocks at every width, cross-attention to the prompt's
    token vectors at the two coarser ones (and in the middle)."""
    from diffusers import UNet2DConditionModel

    n = len(recipe.channels)
    return UNet2DConditionModel(
        sample_size=recipe.image_size, in_channels=1, out_channels=1,          # grey images
        block_out_channels=recipe.channels, layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",),
        cross_attention_dim=text_dim,                                          # the text encoder's width
        attention_head_dim=recipe.heads)                                       # (diffusers: the number of heads)


class JudgeCNN(nn.Module):
    """The separately trained classifier that labels generated images; `features` (64 numbers per
    image, before the last layer) are what diversity and the Fréchet distance are measured on."""

    def __init__(self, n_classes: int = 10, feature_dim: int = 64, size: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),         # (B, 32, S/2, S/2)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),        # (B, 64, S/4, S/4)
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, feature_dim), nn.ReLU())  # (B, feature_dim)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)                                                    # (B, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))                                         # (B, n_classes) logits


@torch.no_grad()
def judge(classifier: JudgeCNN, images: torch.Tensor, batch_size: int = 1000) -> tuple:
    """(predicted class (N,), features (N, D)) of images (N, 1, S, S) in [-1, 1]."""
    classifier.eval()
    preds, feats = [], []
    for start in range(0, len(images), batch_size):
        f = classifier.features(images[start:start + batch_size])
        preds.append(classifier.head(f).argmax(-1))
        feats.append(f)
    return torch.cat(preds), torch.cat(feats)


def train_classifier(recipe: TextToImageRecipe, images: torch.Tensor, labels: torch.Tensor, progress=True) -> tuple:
    """(JudgeCNN, losses): Adam, batches of 128, `classifier_epochs` passes, light noise augmentation
    (generated images are never perfectly clean)."""
    torch.manual_seed(recipe.seed)
    model = JudgeCNN(size=recipe.image_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(recipe.seed)
    losses = []
    for _ in tqdm(range(recipe.classifier_epochs), desc="judge CNN", disable=not progress):
        for batch in torch.randperm(len(labels), generator=g).split(128):
            x = images[batch] + 0.05 * torch.randn(images[batch].shape, generator=g)
            loss = F.cross_entropy(model(x), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return model.eval(), losses


# --- training the text-conditioned UNet -------------------------------------------------------

def ema_update(average: nn.Module, model: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, parameter by parameter."""
    with torch.no_grad():
        for a, p in zip(average.parameters(), model.parameters()):
            a.lerp_(p, 1 - decay)


def train_unet(recipe: TextToImageRecipe, images: torch.Tensor, labels: torch.Tensor, bank: PromptBank,
               max_steps: int | None = None, progress: bool = True) -> tuple:
    """(UNet, EMA UNet, losses): each step draws a batch, a phrasing of each image's class (the null
    prompt with probability p_uncond), a timestep and noise, and minimises the DDPM loss."""
    import copy

    from ..utils import get_device

    torch.manual_seed(recipe.seed)
    device = get_device()                                                              # tiny: "cpu"
    unet = make_unet(recipe, bank.states.shape[-1]).to(device)
    average = copy.deepcopy(unet).requires_grad_(False)
    ddpm = DDPM(recipe.num_train_timesteps)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=recipe.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_with_warmup(step, recipe.warmup, recipe.steps, 0.1))
    by_class = [torch.tensor([i for i, c in enumerate(bank.labels) if c == k]) for k in range(len(CLASSES))]
    null = bank.labels.index(-1)
    g = torch.Generator().manual_seed(recipe.seed)
    losses = []
    steps = recipe.steps if max_steps is None else min(max_steps, recipe.steps)
    for _ in tqdm(range(steps), desc="UNet", disable=not progress, mininterval=5):
        batch = torch.randint(len(labels), (recipe.batch_size,), generator=g)          # (B,) image ids
        x0, y = images[batch], labels[batch]                                           # (B, 1, S, S), (B,)
        pick = torch.randint(len(by_class[0]), (len(y),), generator=g)                 # which phrasing
        prompt = torch.stack([by_class[c][i] for c, i in zip(y.tolist(), pick.tolist())])
        drop = torch.rand(len(y), generator=g) < recipe.p_uncond                       # classifier-free: forget the prompt
        prompt = torch.where(drop, torch.full_like(prompt, null), prompt)
        states, mask = (v.to(device) for v in bank.take(prompt))                       # (B, L, H), (B, L)
        t = torch.randint(ddpm.T, (len(y),), generator=g)                              # (B,) noise levels
        noise = torch.randn(x0.shape, generator=g)
        x0, t, noise = x0.to(device), t.to(device), noise.to(device)
        def eps_model(x_t, t, states=states, mask=mask):                              # eps_theta(x_t, t, prompt)
            return unet(x_t, t, states, encoder_attention_mask=mask).sample

        loss = ddpm.loss(eps_model, x0, t, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        ema_update(average, unet, recipe.ema)
        losses.append(loss.item())
    return unet.eval(), average.eval(), losses


# --- sampling with classifier-free guidance ----------------------------------------------------

@torch.no_grad()
def generate(unet, ddpm: DDPM, prompts: PromptBank, index: torch.Tensor, null: PromptBank, scale: float,
             num_steps: int = 20, method: str = "ddim", generator: torch.Generator | None = None,
             progress: bool = False) -> torch.Tensor:
    """One image per entry of `index` (prompt ids into `prompts`): (N, 1, S, S) in [-1, 1]. With
    guidance the UNet sees each image twice per step (with its prompt and with the null prompt)."""
    states, mask = (v.to(unet.device) for v in prompts.take(index))             # (N, L, H), (N, L)
    null_states = null.states[:1].to(unet.device).expand_as(states)
    null_mask = null.mask[:1].to(unet.device).expand_as(mask)
    size = unet.config.sample_size

    def eps(x, t):
        if scale == 0:                                                          # the prompt is ignored
            return unet(x, t, null_states, encoder_attention_mask=null_mask).sample
        if scale == 1:                                                          # plain conditional model
            return unet(x, t, states, encoder_attention_mask=mask).sample
        both = unet(torch.cat([x, x]), t, torch.cat([states, null_states]),
                    encoder_attention_mask=torch.cat([mask, null_mask])).sample  # (2N, 1, S, S)
        cond, uncond = both.chunk(2)
        return classifier_free_guidance(cond, uncond, scale)

    bar = partial(tqdm, desc=f"{method} x{num_steps}, scale {scale:g}", leave=False) if progress else iter
    return ddpm.sample(eps, (len(index), 1, size, size), num_steps, method, generator, progress=bar,
                       device=unet.device).cpu()


# --- measuring generated images ----------------------------------------------------------------

def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D), (M, D):
    |mu_a - mu_b|^2 + tr(Ca + Cb - 2 (Ca Cb)^(1/2)). On Inception features this is FID; here it is
    computed on whatever features are passed (the course uses its judge CNN's)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr (Ca Cb)^(1/2) = sum of sqrt(eigenvalues of Ca^(1/2) Cb Ca^(1/2)), a symmetric PSD matrix
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows (N, D): how spread out a set of images is."""
    d = torch.cdist(features.double(), features.double())                     # (N, N)
    n = len(features)
    return float(d.sum() / (n * (n - 1)))


# --- the cached run ------------------------------------------------------------------------------

def build(out: Path, recipe: TextToImageRecipe | None = None) -> None:
    """Train the judge CNN and the UNet; save both (the UNet's weight average), and `run.json`
    (recipe, losses, judge accuracy, CPU seconds)."""
    from ..models import load_encoder

    recipe = recipe or TextToImageRecipe()
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)  # the same floats on any core count
    start = time.process_time()
    try:
        splits = image_splits(recipe)
        classifier, judge_losses = train_classifier(recipe, *splits["train"])
        judge_cpu = time.process_time() - start
        accuracy = {s: float((judge(classifier, splits[s][0])[0] == splits[s][1]).float().mean())
                    for s in ("validation", "test")}
        encoder, tokenizer = load_encoder(TEXT_ENCODER)
        texts, labels = training_prompts()
        bank = PromptBank.embed(encoder, tokenizer, texts, labels)
        _, average, losses = train_unet(recipe, *splits["train"], bank)
    finally:
        torch.set_num_threads(threads)
    average.save_pretrained(out / "unet")
    torch.save(classifier.state_dict(), out / "judge.pt")
    report = {"recipe": asdict(recipe), "losses": losses, "judge_losses": judge_losses,
              "judge_accuracy": accuracy, "judge_cpu_seconds": round(judge_cpu, 1),
              "cpu_seconds": round(time.process_time() - start, 1)}
    (out / "run.json").write_text(json.dumps(report))


def trained_text_to_image(recipe: TextToImageRecipe | None = None) -> Path:
    """The folder of the run with `recipe`: trained on first use, then cached."""
    recipe = recipe or TextToImageRecipe()
    return build_once(recipe.cache_name(), partial(build, recipe=recipe), recipe_string(recipe))


def load_text_to_image(folder: Path, recipe: TextToImageRecipe | None = None) -> tuple:
    """(UNet (weight average, on the GPU if there is one), judge CNN (CPU), run.json) of a cached run."""
    from diffusers import UNet2DConditionModel

    from ..utils import get_device

    recipe = recipe or TextToImageRecipe()
    folder = Path(folder)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet").to(get_device()).eval()
    classifier = JudgeCNN(size=recipe.image_size)
    classifier.load_state_dict(torch.load(folder / "judge.pt"))
    return unet, classifier.eval(), json.loads((folder / "run.json").read_text())


ASSET = register_derived("text_to_image_fmnist", "a text-conditioned diffusion UNet (diffusers) and a judge CNN "
                         "trained on Fashion-MNIST at 16x16 with MiniLM prompts (shared.train.text_to_image)",
                         partial(build, recipe=TextToImageRecipe()), recipe_string)


# --- the full profile: a real pretrained text-to-image model -----------------------------------

@torch.no_grad()
def clip_score(clip_id: str, images: list, texts: list, batch_size: int = 16) -> np.ndarray:
    """CLIP score of each (image, text) pair (Hessel et al., 2021, as torchmetrics computes it):
    100 * max(cos(image embedding, text embedding), 0), with a pretrained CLIP from the hub."""
    from transformers import CLIPModel, CLIPProcessor

    from ..profile import require_hub

    require_hub(f"CLIP {clip_id!r}")
    model, processor = CLIPModel.from_pretrained(clip_id).eval(), CLIPProcessor.from_pretrained(clip_id)
    scores = []
    for start in range(0, len(images), batch_size):
        batch = processor(text=texts[start:start + batch_size], images=images[start:start + batch_size],
                          return_tensors="pt", padding=True, truncation=True)
        out = model(**batch)
        cos = F.cosine_similarity(out.image_embeds, out.text_embeds, dim=-1)   # (B,)
        scores.append((100 * cos.clamp(min=0)).numpy())
    return np.concatenate(scores)


def stable_diffusion_sweep(pipeline_id: str, prompts: list, scales: list, per_prompt: int, num_steps: int,
                           seed: int = 0) -> dict:
    """{scale: list of PIL images, `per_prompt` per prompt in prompt order}, from a pretrained
    Stable Diffusion pipeline (fp16 on a GPU) with its own classifier-free guidance. The pipeline
    switches guidance off for any scale <= 1 (it then uses the prompt alone), so scale 0, "ignore
    the prompt", is run as the empty prompt: the unconditional model, as in `generate`."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from ..profile import require_hub

    require_hub(f"text-to-image pipeline {pipeline_id!r}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32                # a T4 has no bfloat16
    pipe = StableDiffusionPipeline.from_pretrained(pipeline_id, torch_dtype=dtype).to(device)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)           # the sampler of this notebook
    pipe.set_progress_bar_config(disable=True)
    images = {}
    for scale in scales:
        generator = torch.Generator(device).manual_seed(seed)                  # the same noise at every scale
        images[scale] = [img for prompt in prompts
                         for img in pipe("" if scale == 0 else prompt, num_images_per_prompt=per_prompt,
                                         guidance_scale=scale,
                                         num_inference_steps=num_steps, generator=generator).images]
    return images
