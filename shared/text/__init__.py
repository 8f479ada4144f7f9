"""Working with text: tokenizers (BPE from scratch, and measuring HF tokenizers), n-gram language
models, augmentation, word vectors and GloVe, QA answer scoring, diversity of generated text,
classical baselines, and generated translation data."""
