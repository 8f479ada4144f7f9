"""shared.train.topic_classifier: the metrics against scikit-learn, the mean-pooled head against a
hand computation on a tiny random BERT, and the splits."""
import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score
from transformers import BertConfig

from shared.train.topic_classifier import TopicClassifierConfig, classification_metrics, mean_pooled_class, recipe


def test_classification_metrics_match_sklearn():
    labels, guesses = [0, 1, 2, 2, 1, 0, 2, 2, 3], [0, 2, 2, 2, 1, 1, 0, 2, 3]
    scores = classification_metrics(guesses, labels)
    assert scores["accuracy"] == pytest.approx(np.mean(np.array(labels) == np.array(guesses)))
    for name, reference in [("precision", precision_score), ("recall", recall_score), ("f1", f1_score)]:
        assert scores[f"macro_{name}"] == pytest.approx(reference(labels, guesses, average="macro"))
        assert scores[f"micro_{name}"] == pytest.approx(scores["accuracy"])  # one label per example


def test_mean_pooled_head_reads_the_mean_of_the_real_tokens():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, num_labels=3)
    model = mean_pooled_class()(config).eval()
    input_ids = torch.tensor([[2, 5, 7, 9], [3, 4, 0, 0]])
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 2]))
        hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        expected = torch.stack([hidden[0].mean(0), hidden[1, :2].mean(0)]) @ model.classifier.weight.T + model.classifier.bias
        short = model(input_ids=input_ids[1:, :2], attention_mask=attention_mask[1:, :2]).logits
    torch.testing.assert_close(output.logits, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(short[0], output.logits[1], rtol=1e-5, atol=1e-5)  # padding changes nothing
    assert output.loss == pytest.approx(torch.nn.functional.cross_entropy(expected, torch.tensor([0, 2])).item(), rel=1e-5)
    assert not any(name.startswith("bert.pooler") for name, _ in model.named_parameters())


def test_recipe_and_cache_name_follow_the_config():
    assert TopicClassifierConfig().cache_name() == "newsgroups_classifier"
    other = TopicClassifierConfig(n_train=500)
    assert other.cache_name() != "newsgroups_classifier" and recipe(other) != recipe(TopicClassifierConfig())
