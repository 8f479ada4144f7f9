"""shared.text.word_vectors: the benchmark files load completely, and 3CosAdd / 3CosMul / similarity
give the right answers on vectors built by hand."""
import numpy as np
import pytest

from shared.text.word_vectors import (
    Analogy,
    analogy_accuracy,
    covered_questions,
    load_analogies,
    load_similarity,
    nearest,
    random_similarity_band,
    similarity_spearman,
)


def test_benchmark_files_load_completely():
    questions = load_analogies()
    assert len(questions) == 19544
    assert len({q.section for q in questions}) == 14
    assert (questions[0].a, questions[0].b, questions[0].c, questions[0].d) == ("athens", "greece", "baghdad", "iraq")
    assert sum(q.syntactic for q in questions) == 10675  # the paper's 8,869 semantic + 10,675 syntactic
    assert len(load_similarity("wordsim353")) == 353
    assert len(load_similarity("simlex999")) == 999


# a toy space: gender along axis 0, royalty along axis 1, plus a distractor
VOCAB = ["man", "woman", "king", "queen", "apple"]
VECTORS = np.array([[1, 0, 0.1], [-1, 0, 0.1], [1, 1, 0.1], [-1, 1, 0.1], [0, -1, 1]], dtype=float)


@pytest.mark.parametrize("method", ["add", "mul"])
def test_offset_analogy_on_a_hand_built_space(method):
    questions = [Analogy("family", "man", "woman", "king", "queen"), Analogy("family", "woman", "man", "queen", "king"),
                 Analogy("family", "man", "unknown", "king", "queen")]
    result = analogy_accuracy(VECTORS, VOCAB, questions, method=method)
    assert (result.covered, result.total) == (2, 3)
    assert result.accuracy == 1.0 and result.predictions == ["queen", "king"]


def test_question_words_are_never_the_answer():
    # b - a + c = c exactly when a == b: the nearest word would be c itself, which is excluded
    result = analogy_accuracy(VECTORS, VOCAB, [Analogy("x", "man", "man", "king", "queen")])
    assert result.predictions[0] not in ("man", "king")


def test_only_c_baseline_answers_the_nearest_neighbour_of_c():
    # neighbours of "man": king, then apple, queen, woman; "king" is not one of a, b, c here
    assert nearest(VECTORS, VOCAB, "man", k=1)[0][0] == "king"
    result = analogy_accuracy(VECTORS, VOCAB, [Analogy("x", "woman", "queen", "man", "apple")], method="only_c")
    assert result.predictions == ["king"] and result.accuracy == 0.0


def test_similarity_spearman_is_one_for_a_monotone_match():
    # cosines with "man": king 0.70 > apple 0.07 > woman -0.98; the human scores rank them the same way
    pairs = [("man", "king", 9.0), ("man", "apple", 5.0), ("man", "woman", 1.0), ("man", "nothing", 3.0)]
    rho, covered = similarity_spearman(VECTORS, VOCAB, pairs)
    assert covered == 3 and rho == pytest.approx(1.0)


def test_covered_questions_need_all_four_words():
    questions = [Analogy("s", "man", "woman", "king", "queen"), Analogy("s", "man", "woman", "king", "prince")]
    assert covered_questions(questions, VOCAB) == questions[:1]


def test_random_vectors_score_around_zero():
    vocab = [f"w{i}" for i in range(40)]
    rng = np.random.default_rng(1)
    pairs = [(f"w{rng.integers(40)}", f"w{rng.integers(40)}", float(rng.random())) for _ in range(200)]
    mean, std = random_similarity_band(vocab, pairs, dim=8, draws=30)
    assert abs(mean) < 0.05 and 0.02 < std < 0.2
