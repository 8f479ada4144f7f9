"""The constrained SFT data of module 6, notebook 04: every rewritten answer passes the IFEval
verifier of its constraint (if-verifiable), and the original answers are not rewritten by accident."""
import json

import pytest

from shared.train.instruction_tuning import (
    CONSTRAINTS,
    END_PHRASE,
    comply,
    constrain,
    shorten,
    verify,
)

ROW = {"instruction": "Describe the water cycle.", "input": "",
       "output": "Water evaporates from oceans and lakes. It condenses into clouds. Then it falls as rain or snow, "
                 "and flows back to the sea through rivers, soaking into the ground on the way to the aquifers."}


def test_shorten_keeps_whole_sentences_within_the_word_limit():
    assert shorten(ROW["output"], 12) == "Water evaporates from oceans and lakes. It condenses into clouds."
    assert shorten("one two three four five", 3) == "one two three"      # a long first sentence is cut


@pytest.mark.parametrize("name", list(CONSTRAINTS))
def test_rewritten_answer_obeys_its_constraint(name):
    row = constrain(ROW, name, max_words=30)
    assert row["instruction"].endswith(CONSTRAINTS[name][2])                # the constraint is asked for
    assert verify(row, row["output"])                                       # and the answer obeys it


def test_the_verifiers_reject_what_breaks_the_constraint():
    rows = {name: constrain(ROW, name, max_words=30) for name in CONSTRAINTS}
    assert not verify(rows["lowercase"], "Water evaporates.")
    assert not verify(rows["json"], "answer: water evaporates")
    assert not verify(rows["end_phrase"], f"{END_PHRASE} Water evaporates.")
    assert not verify(rows["short"], " ".join(["word"] * 40))
    assert json.loads(comply("a \"quoted\" answer", "json", ROW["instruction"]))["answer"] == 'a "quoted" answer'
