"""Sentence embeddings from an encoder: mean of the token vectors, padding excluded."""
import torch


@torch.no_grad()
def sentence_embeddings(model, tokenizer, texts: list[str], batch_size: int = 32,
                        max_length: int = 256, normalize: bool = True) -> torch.Tensor:
    """(N, H) embeddings; with `normalize`, rows have unit length so `a @ b.T` is cosine similarity."""
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt").to(model.device)
        hidden = model(**batch).last_hidden_state           # (B, T, H)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1): 1 = real token
        pooled = (hidden * mask).sum(1) / mask.sum(1)       # (B, H)
        chunks.append(pooled)
    embeddings = torch.cat(chunks)                          # (N, H)
    return torch.nn.functional.normalize(embeddings, dim=-1) if normalize else embeddings
