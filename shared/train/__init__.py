"""Training: the GPT pre-training loop, FLOPs of a transformer, and the tiny T5 pretrained once as
a derived asset."""
