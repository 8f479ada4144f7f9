"""A real pretrained video-language model (full profile only: it needs the hub and a GPU).

    model, processor = load_video_lm("HuggingFaceTB/SmolVLM2-256M-Video-Instruct")
    describe_clip(model, processor, frames, "Describe this video in one sentence.")

The frames come from our own reader (`shared.vision.video.sample_frames`), so the model sees
exactly the frames we chose; the processor only resizes and normalises them.
"""
import numpy as np


def load_video_lm(name: str, dtype=None):
    """(model, processor) of an image-text-to-text model that takes video (SmolVLM2, Qwen2-VL)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..models import model_source
    from ..utils import get_device

    source = model_source("video_lm", name)
    device = get_device()
    # bfloat16 checkpoints: float16 on a GPU (a T4 has no bfloat16), float32 on a CPU
    dtype = dtype or (torch.float16 if device == "cuda" else torch.float32)
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype).to(device).eval()
    return model, AutoProcessor.from_pretrained(source)


def describe_clip(model, processor, frames: np.ndarray, prompt: str, max_new_tokens: int = 40) -> str:
    """The model's greedy answer to `prompt` about a clip given as (T, H, W, 3) uint8 RGB frames."""
    import torch

    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=text, videos=[list(frames)], return_tensors="pt").to(model.device)
    inputs = {k: v.to(model.dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.no_grad():
        ids = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = ids[:, inputs["input_ids"].shape[1]:]
    return processor.batch_decode(new, skip_special_tokens=True)[0].strip()
