"""Using a trained model: chat and perplexity with a causal LM, sentence embeddings with an
encoder."""
