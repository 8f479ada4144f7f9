"""Topic models, the parts the libraries do not give: topic words of an embedding-based topic model
(class-based TF-IDF, as in BERTopic), coherence of any model's topic words with gensim, and the
cached sentence embeddings that notebook 11/06 clusters.

    words = c_tf_idf_top_words(docs, clusters, vocabulary_args, n_words=10)  # {cluster: [word, ...]}
    coherence(topics, texts, measure="c_v")                                  # mean over topics

c-TF-IDF (Grootendorst, 2022): join the documents of each cluster into one document, then weight
term t in cluster c by  tf(t, c) * log(1 + A / f(t)),  with tf(t, c) the frequency of t in c
normalised by the cluster's length (L1), f(t) the frequency of t over all clusters and A the
average number of words per cluster. Words frequent in one cluster and rare elsewhere score high.
"""
import numpy as np
from scipy import sparse

from ..assets import register_derived


def c_tf_idf(counts: sparse.spmatrix, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster ids (K,), weights (K, V)) from a document-term count matrix (N, V) and each
    document's cluster (N,)."""
    ids = np.unique(clusters)
    membership = sparse.csr_matrix((np.ones(len(clusters)), (np.searchsorted(ids, clusters), np.arange(len(clusters)))),
                                   shape=(len(ids), len(clusters)))    # (K, N): 1 where document n is in cluster k
    per_cluster = np.asarray((membership @ counts).todense(), dtype=float)  # (K, V) summed counts
    tf = per_cluster / np.maximum(per_cluster.sum(1, keepdims=True), 1)      # (K, V) L1-normalised
    average_words = per_cluster.sum() / len(ids)                             # A
    idf = np.log(1 + average_words / np.maximum(per_cluster.sum(0), 1))      # (V,)
    return ids, tf * idf


def top_words(weights: np.ndarray, vocabulary, n_words: int = 10) -> list[list[str]]:
    """The `n_words` highest-weighted words of each row of a (K, V) topic-word matrix."""
    vocabulary = np.asarray(vocabulary)
    return [list(vocabulary[np.argsort(-row)[:n_words]]) for row in weights]


def coherence(topics: list[list[str]], texts: list[list[str]], measure: str = "c_v", dictionary=None,
              per_topic: bool = False, window_size: int | None = None):
    """Mean (or, with `per_topic`, each topic's) coherence of the topic word lists, measured on the
    tokenised reference `texts` with gensim's CoherenceModel ("c_v", "c_npmi", "u_mass", ...)."""
    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel

    dictionary = dictionary or Dictionary(texts)
    topics = [[w for w in topic if w in dictionary.token2id] for topic in topics]
    model = CoherenceModel(topics=topics, texts=texts, dictionary=dictionary, coherence=measure,
                           window_size=window_size, processes=1)
    return model.get_coherence_per_topic() if per_topic else model.get_coherence()


# --- cached sentence embeddings of the tiny profile's 20 Newsgroups sample -------------------------
EMBEDDING_RECIPE = {"dataset": "20newsgroups", "split": "train", "n_documents": 1500, "seed": 0,
                    "max_length": 128, "precision": "bf16", "encoder": "all-MiniLM-L6-v2 (tiny profile)", "version": 1}


def newsgroups_sample(n_documents: int, seed: int = 0, split: str = "train"):
    """A seeded sample of 20 Newsgroups posts (text, label, topic)."""
    from ..data import load_dataset

    posts = load_dataset("20newsgroups")[split].shuffle(seed=seed)
    return posts.select(range(min(n_documents, len(posts))))


def _build_embeddings(out) -> None:
    import json

    import torch

    from ..models import load_encoder
    from .sentiment import embed_texts, texts_digest

    torch.manual_seed(0)
    model, tokenizer = load_encoder()
    model.eval()
    posts = newsgroups_sample(EMBEDDING_RECIPE["n_documents"], EMBEDDING_RECIPE["seed"], EMBEDDING_RECIPE["split"])
    embeddings = embed_texts(model, tokenizer, posts["text"], EMBEDDING_RECIPE["max_length"],
                             EMBEDDING_RECIPE["precision"], truncation_side="right")
    np.save(out / "embeddings.npy", embeddings)
    (out / "texts.json").write_text(json.dumps({"sha256": texts_digest(posts["text"])}))


def _recipe() -> str:
    import json

    return json.dumps(EMBEDDING_RECIPE, sort_keys=True)


def cached_embeddings(path) -> tuple[np.ndarray, str]:
    """(embeddings (N, H), texts digest) from the derived asset "newsgroups_embeddings"."""
    import json

    return np.load(path / "embeddings.npy"), json.loads((path / "texts.json").read_text())["sha256"]


register_derived("newsgroups_embeddings", "all-MiniLM-L6-v2 embeddings of the 20 Newsgroups sample of notebook 11/06 "
                 "(tiny profile)", _build_embeddings, _recipe)
