"""Corpus BLEU through the sacrebleu package, as the hub `sacrebleu` metric."""
import datasets
import evaluate
import sacrebleu as scb

DESCRIPTION = """
BLEU (Papineni et al. 2002) is the geometric mean of the modified 1- to 4-gram precisions of the
predictions against the references, times a brevity penalty for predictions shorter than the
references. sacrebleu (Post 2018) fixes the tokenization so scores are comparable across papers.
"""

CITATION = """
@inproceedings{post-2018-call,
  title = {A Call for Clarity in Reporting {BLEU} Scores},
  author = {Post, Matt},
  booktitle = {Proceedings of the Third Conference on Machine Translation},
  year = {2018},
  pages = {186--191},
}
"""

INPUTS = """
Args:
    predictions: list of strings.
    references: list of lists of strings; every prediction needs the same number of references.
    tokenize: sacrebleu tokenizer name (default "13a").
    lowercase: compare lowercased text (default False).
    smooth_method, smooth_value, force, use_effective_order: passed to sacrebleu.corpus_bleu.
Returns:
    {"score": BLEU in [0, 100], "counts", "totals", "precisions", "bp", "sys_len", "ref_len"}
"""


class Sacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=DESCRIPTION,
            citation=CITATION,
            inputs_description=INPUTS,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Sequence(datasets.Value("string"))}),
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
            reference_urls=["https://aclanthology.org/W18-6319/"],
        )

    def _compute(self, predictions, references, tokenize="13a", lowercase=False, smooth_method="exp",
                 smooth_value=None, force=False, use_effective_order=False):
        n_refs = {len(refs) for refs in references}
        if len(n_refs) != 1:
            raise ValueError("sacrebleu needs the same number of references for every prediction")
        streams = [list(stream) for stream in zip(*references)]  # (n_refs, n_predictions)
        bleu = scb.corpus_bleu(predictions, streams, smooth_method=smooth_method, smooth_value=smooth_value,
                               force=force, lowercase=lowercase, tokenize=tokenize,
                               use_effective_order=use_effective_order)
        return {"score": bleu.score, "counts": bleu.counts, "totals": bleu.totals,
                "precisions": bleu.precisions, "bp": bleu.bp, "sys_len": bleu.sys_len, "ref_len": bleu.ref_len}
