"""Synthetic clips whose captions need time: a shape moves, another appears or disappears.

    scene = random_scene(rng)                 # what happens, as data (a `Scene`)
    frames = render(scene)                    # (8, 64, 64, 3) uint8 RGB: the clip
    caption(scene)                            # "a red circle moves left, then a blue square appears"
    parse_caption("a red circle moves ...")   # back to attributes, to grade a generated caption

Every clip has two events, one in each half of the clip:
- a *motion*: the mover slides across the frame (left, right, up or down);
- a *change*: the other shape appears (absent, then present) or disappears (present, then absent).

`order` says which event comes first. The scenes are built so that playing a clip backwards gives
another clip of the same family, as likely as the first: "a red circle moves left, then a blue
square appears" reversed is "a blue square disappears, then a red circle moves right". A model that
sees the frames as an unordered bag cannot tell a clip from its reverse, so it can learn colours
and shapes but not direction (beyond the axis), order or appear/disappear: those need time.

The captions are generated from the scene, not written by people (provenance: generated).
"""
import random
from dataclasses import asdict, dataclass

import numpy as np

COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 255), "yellow": (240, 220, 40)}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}  # (dx, dy) in image axes
CHANGES = ("appears", "disappears")
ORDERS = ("motion first", "change first")

N_FRAMES = 8       # frames per clip: the first event in frames 0-3, the second in frames 4-7
SIZE = 64          # pixels per side of a rendered frame
RADIUS = 10        # half the size of a shape, in pixels (5 after reading at 32x32)
TRAVEL = 26        # pixels the mover slides in its 4 frames
BACKGROUND = (20, 20, 20)


@dataclass(frozen=True)
class Scene:
    """What happens in one clip. Positions are pixel centres (x, y) in a SIZE x SIZE frame."""
    mover_colour: str
    mover_shape: str
    direction: str
    start: tuple[int, int]      # the mover's centre before it moves
    other_colour: str
    other_shape: str
    change: str                 # "appears" or "disappears"
    other_at: tuple[int, int]   # the other shape's centre (it does not move)
    order: str                  # "motion first" or "change first"


def random_scene(rng: random.Random) -> Scene:
    """A scene drawn uniformly: colours (the two differ), shapes, direction, change, order, places."""
    mover_colour, other_colour = rng.sample(sorted(COLOURS), 2)
    direction = rng.choice(sorted(DIRECTIONS))
    dx, dy = DIRECTIONS[direction]
    margin = RADIUS + 1
    # along the motion: start where the whole slide stays inside the frame
    along = rng.randint(margin + TRAVEL, SIZE - 1 - margin) if dx + dy < 0 else rng.randint(margin, SIZE - 1 - margin - TRAVEL)
    # across the motion: the mover's lane, and the other shape's, far enough apart never to overlap
    while True:
        lane, other_lane = rng.randint(margin, SIZE - 1 - margin), rng.randint(margin, SIZE - 1 - margin)
        if abs(other_lane - lane) >= 2 * RADIUS + 2:
            break
    start = (along, lane) if dx else (lane, along)
    other_along = rng.randint(margin, SIZE - 1 - margin)
    other_at = (other_along, other_lane) if dx else (other_lane, other_along)
    return Scene(mover_colour, rng.choice(SHAPES), direction, start, other_colour, rng.choice(SHAPES),
                 rng.choice(CHANGES), other_at, rng.choice(ORDERS))


def timeline(scene: Scene) -> list[tuple[tuple[int, int], bool]]:
    """Per frame: (the mover's centre, whether the other shape is visible)."""
    dx, dy = DIRECTIONS[scene.direction]
    motion_frames = range(4) if scene.order == "motion first" else range(4, 8)
    # the change happens halfway through its half: between frames 1|2 (first) or 5|6 (second)
    change_at = 6 if scene.order == "motion first" else 2
    steps = []
    for t in range(N_FRAMES):
        progress = min(max(t - motion_frames.start, 0), 3) / 3         # 0 before, 1 after the motion
        centre = (round(scene.start[0] + dx * TRAVEL * progress), round(scene.start[1] + dy * TRAVEL * progress))
        after_change = t >= change_at
        visible = after_change if scene.change == "appears" else not after_change
        steps.append((centre, visible))
    return steps


def draw_shape(frame: np.ndarray, shape: str, centre: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """Paint a filled shape into `frame` (H, W, 3) in place."""
    x, y = centre
    ys, xs = np.mgrid[:frame.shape[0], :frame.shape[1]]
    if shape == "circle":
        mask = (xs - x) ** 2 + (ys - y) ** 2 <= RADIUS ** 2
    elif shape == "square":
        mask = (abs(xs - x) <= RADIUS - 1) & (abs(ys - y) <= RADIUS - 1)
    elif shape == "triangle":  # apex up: the half-width grows from 0 at the top to RADIUS at the base
        mask = (ys >= y - RADIUS) & (ys <= y + RADIUS) & (abs(xs - x) <= (ys - (y - RADIUS)) / 2)
    else:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    frame[mask] = colour


def render(scene: Scene) -> np.ndarray:
    """The clip as (N_FRAMES, SIZE, SIZE, 3) uint8 RGB frames."""
    frames = np.empty((N_FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    for t, (centre, other_visible) in enumerate(timeline(scene)):
        frames[t] = BACKGROUND
        if other_visible:
            draw_shape(frames[t], scene.other_shape, scene.other_at, COLOURS[scene.other_colour])
        draw_shape(frames[t], scene.mover_shape, centre, COLOURS[scene.mover_colour])
    return frames


def caption(scene: Scene) -> str:
    """The reference caption, generated from the scene: two clauses in the order they happen."""
    motion = f"a {scene.mover_colour} {scene.mover_shape} moves {scene.direction}"
    change = f"a {scene.other_colour} {scene.other_shape} {scene.change}"
    first, second = (motion, change) if scene.order == "motion first" else (change, motion)
    return f"{first}, then {second}"


def reversed_scene(scene: Scene) -> Scene:
    """The scene of the clip played backwards (`render(reversed_scene(s)) == render(s)[::-1]`)."""
    dx, dy = DIRECTIONS[scene.direction]
    end = (scene.start[0] + dx * TRAVEL, scene.start[1] + dy * TRAVEL)
    backwards = {(-dx, -dy): name for name, (dx, dy) in DIRECTIONS.items()}[(dx, dy)]
    return Scene(scene.mover_colour, scene.mover_shape, backwards, end, scene.other_colour, scene.other_shape,
                 "disappears" if scene.change == "appears" else "appears", scene.other_at,
                 "change first" if scene.order == "motion first" else "motion first")


ATTRIBUTES = ("colour", "shape", "direction", "change", "order")  # what a caption is graded on

EVENT_WORDS = (*DIRECTIONS, *CHANGES)  # the word that says what an event is: a direction, or appears/disappears
# The caption's content words in the order they are said: colour, shape and event word of the
# first event, then of the second. "a red circle moves left, then a blue square appears" ->
# red circle left blue square appears. Which event comes first is where each event's words go.
SLOTS = (("first colour", tuple(COLOURS)), ("first shape", SHAPES), ("first event", EVENT_WORDS),
         ("second colour", tuple(COLOURS)), ("second shape", SHAPES), ("second event", EVENT_WORDS))


def content_words(scene: Scene) -> list[str]:
    """The words of `SLOTS` for a scene (the caption without "a", "moves" and ", then")."""
    motion = [scene.mover_colour, scene.mover_shape, scene.direction]
    change = [scene.other_colour, scene.other_shape, scene.change]
    return motion + change if scene.order == "motion first" else change + motion


def caption_from_words(words: list[str]) -> str:
    """A fixed template writes the caption of six slot words (no language model): the inverse of
    `caption_content_words`. red circle left blue square appears -> "a red circle moves left, then ..."."""
    if len(words) != len(SLOTS):
        raise ValueError(f"expected {len(SLOTS)} words (colour, shape, event, twice), got {words}")
    clauses = [f"a {c} {s} moves {e}" if e in DIRECTIONS else f"a {c} {s} {e}" for c, s, e in (words[:3], words[3:])]
    return ", then ".join(clauses)


def caption_content_words(text: str) -> list[str]:
    """The same words read off a caption: "a red circle moves left, then ..." -> red circle left ..."""
    return [w for w in text.replace(",", " ").split() if w not in ("a", "moves", "then")]


def attributes(scene: Scene) -> dict[str, list[str]]:
    """The graded facts of a scene: attribute -> its values (colour and shape: mover, then other)."""
    return {"colour": [scene.mover_colour, scene.other_colour], "shape": [scene.mover_shape, scene.other_shape],
            "direction": [scene.direction], "change": [scene.change], "order": [scene.order]}


def parse_caption(text: str) -> dict[str, list[str | None]]:
    """The attributes a (generated) caption states, in the layout of `attributes`; None where the
    caption does not say (a clause missing, a word outside the vocabulary)."""
    motion = change = None
    clauses = [c.strip() for c in text.strip().rstrip(".").lower().split(", then ")]
    order = None
    for i, clause in enumerate(clauses):
        words = clause.split()
        if len(words) >= 5 and words[3] == "moves" and motion is None:
            motion = words
            order = order or ("motion first" if i == 0 else "change first")
        elif len(words) >= 4 and words[3] in CHANGES and change is None:
            change = words
            order = order or ("change first" if i == 0 else "motion first")
    if motion is None or change is None:
        order = None  # one event missing: the caption does not say which came first

    def word(words, i, vocabulary):
        return words[i] if words is not None and len(words) > i and words[i] in vocabulary else None

    return {"colour": [word(motion, 1, COLOURS), word(change, 1, COLOURS)],
            "shape": [word(motion, 2, SHAPES), word(change, 2, SHAPES)],
            "direction": [word(motion, 4, DIRECTIONS)], "change": [word(change, 3, CHANGES)], "order": [order]}


def attribute_accuracy(scenes: list[Scene], texts: list[str]) -> dict[str, float]:
    """Per attribute: the fraction of its slots (e.g. two colours per clip) a caption got right."""
    right = {name: 0 for name in ATTRIBUTES}
    total = {name: 0 for name in ATTRIBUTES}
    for scene, text in zip(scenes, texts, strict=True):
        said = parse_caption(text)
        for name, values in attributes(scene).items():
            right[name] += sum(a == b for a, b in zip(values, said[name]))
            total[name] += len(values)
    return {name: right[name] / total[name] for name in ATTRIBUTES}


def majority_accuracy(train: list[Scene], test: list[Scene]) -> dict[str, float]:
    """Per attribute: the accuracy of always saying the value most frequent in `train` (per slot)."""
    result = {}
    for name in ATTRIBUTES:
        train_values = [attributes(s)[name] for s in train]
        test_values = [attributes(s)[name] for s in test]
        slots = len(train_values[0])
        right = 0
        for slot in range(slots):
            column = [v[slot] for v in train_values]
            guess = max(sorted(set(column)), key=column.count)
            right += sum(v[slot] == guess for v in test_values)
        result[name] = right / (slots * len(test))
    return result


def scene_dict(scene: Scene) -> dict:
    """A JSON-ready dict of a scene (positions as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(scene).items()}


def scene_from_dict(d: dict) -> Scene:
    return Scene(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
