"""Model parts written to be read, each tested against a reference implementation: attention,
LayerNorm/RMSNorm, the transformer encoder, the GPT, the Llama parts, the RNN LM and BERT-style
masking."""
