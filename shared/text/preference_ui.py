"""A small labelling UI for pairwise preferences, inside a notebook (ipywidgets).

    labeller = PairLabeller(pairs, "my_labels.jsonl")   # pairs: dicts with id, document, a, b
    labeller.widget                                      # display it: two answers side by side, A / tie / B

Each click appends one JSON line {"id", "label", "annotator"} to the file at once (nothing is lost if
the kernel dies) and shows the next pair; reopening the same file resumes after the pairs already
labelled. Tests and CI drive it without a browser: `labeller.click("A")` does what the button does.
"""
import html
import json
from pathlib import Path

LABELS = ("A", "tie", "B")
BUTTON_TEXT = {"A": "A is better", "tie": "Tie", "B": "B is better"}


class PairLabeller:
    def __init__(self, pairs: list[dict], path, annotator: str = "me"):
        import ipywidgets as widgets

        self.pairs, self.path, self.annotator = pairs, Path(path), annotator
        done = {row["id"] for row in read_labels(self.path)}
        self.position = next((i for i, p in enumerate(pairs) if p["id"] not in done), len(pairs))
        self.header, self.document = widgets.HTML(), widgets.HTML()
        box = widgets.Layout(width="50%", border="1px solid #ccc", padding="6px")
        self.left, self.right = widgets.HTML(layout=box), widgets.HTML(layout=box)
        self.buttons = {label: widgets.Button(description=BUTTON_TEXT[label]) for label in LABELS}
        for label, button in self.buttons.items():
            button.on_click(lambda _button, label=label: self.click(label))
        self.widget = widgets.VBox([self.header, self.document, widgets.HBox([self.left, self.right]),
                                    widgets.HBox(list(self.buttons.values()))])
        self._show()

    def click(self, label: str) -> None:
        """Record `label` for the pair on screen (append to the file), then show the next one."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {label!r}")
        if self.position >= len(self.pairs):
            return
        row = {"id": self.pairs[self.position]["id"], "label": label, "annotator": self.annotator}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        self.position += 1
        self._show()

    def _show(self) -> None:
        finished = self.position >= len(self.pairs)
        for button in self.buttons.values():
            button.disabled = finished
        if finished:
            self.header.value = f"<b>All {len(self.pairs)} pairs labelled</b>: saved in {html.escape(str(self.path))}"
            self.document.value = self.left.value = self.right.value = ""
            return
        pair = self.pairs[self.position]
        self.header.value = f"<b>Pair {self.position + 1} of {len(self.pairs)}</b> ({html.escape(pair['id'])})"
        self.document.value = f"<p><i>News:</i> {html.escape(pair['document'])}</p>"
        self.left.value = f"<b>A</b><p>{html.escape(pair['a'])}</p>"
        self.right.value = f"<b>B</b><p>{html.escape(pair['b'])}</p>"


def read_labels(path) -> list[dict]:
    """The rows saved so far (none if the file does not exist); a pair labelled twice keeps its last label."""
    path = Path(path)
    if not path.exists():
        return []
    latest = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            latest[row["id"]] = row
    return list(latest.values())
