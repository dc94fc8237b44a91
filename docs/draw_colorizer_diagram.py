"""Draw docs/img/colorizer_diagram.png: the colorizer's data flow, from a grey clip and its references to RGB.

Run from the repository root to regenerate the picture after the method changes:

    python docs/draw_colorizer_diagram.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parent / "img" / "colorizer_diagram.png"

# name -> (x centre, y centre, width, height, text, face colour); the canvas is 18 x 8.5 units
BOXES: dict[str, tuple[float, float, float, float, str, str]] = {
    "clip": (1.6, 6.2, 2.6, 1.5, "grey clip\nL of T frames", "#e0e0e0"),
    "refs": (1.6, 1.8, 2.6, 1.5, "R reference images\n(colour, Lab)", "#ffe0b2"),
    "feat": (5.2, 6.4, 2.6, 1.5, "features\n(frame path and\nreference path)", "#bbdefb"),
    "attn": (9.2, 6.4, 3.0, 1.5, "attention warp\nsoftmax(T * cosine)\nreferences' ab", "#c8e6c9"),
    "dis": (9.2, 4.0, 3.0, 1.5, "DIS direct warp\nfirst reference\n-> frame", "#c8e6c9"),
    "prop": (9.2, 1.6, 3.0, 1.5, "propagation\nforward / backward\nalong the scene", "#c8e6c9"),
    "fuse": (12.9, 4.0, 2.6, 1.5, "fusion weights\nper-pixel softmax\nover candidates", "#d1c4e9"),
    "ab": (15.2, 4.0, 1.4, 1.5, "ab\n(+ gated\ncorrection)", "#f8bbd0"),
    "rgb": (17.0, 4.0, 1.4, 1.5, "merge:\nL + ab\n-> RGB", "#fff9c4"),
}


def _edge(name: str, side: str, shift: float = 0.0) -> tuple[float, float]:
    """A point on one side ('left', 'right', 'top', 'bottom') of a box, moved ``shift`` along that side."""
    x, y, w, h, *_ = BOXES[name]
    return {
        "left": (x - w / 2 - 0.05, y + shift),
        "right": (x + w / 2 + 0.05, y + shift),
        "top": (x + shift, y + h / 2 + 0.05),
        "bottom": (x + shift, y - h / 2 - 0.05),
    }[side]


# (from box, side, shift), (to box, side, shift)
ARROWS = [
    (("clip", "right", 0.2), ("feat", "left", -0.2)),
    (("refs", "right", 0.5), ("feat", "bottom", -0.6)),
    (("feat", "right", 0.0), ("attn", "left", 0.0)),
    (("clip", "right", -0.5), ("dis", "left", 0.3)),
    (("refs", "right", 0.0), ("dis", "left", -0.3)),
    (("dis", "bottom", 0.0), ("prop", "top", 0.0)),
    (("attn", "right", 0.0), ("fuse", "left", 0.4)),
    (("dis", "right", 0.0), ("fuse", "left", 0.0)),
    (("prop", "right", 0.0), ("fuse", "left", -0.4)),
    (("fuse", "right", 0.0), ("ab", "left", 0.0)),
    (("ab", "right", 0.0), ("rgb", "left", 0.0)),
]


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], **style: object) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.2, **style))


def draw(path: Path = OUT) -> Path:
    """Draw the diagram and write it as a PNG to ``path`` (folders created); returns the path."""
    fig, ax = plt.subplots(figsize=(14, 6.6))
    ax.set_xlim(0, 18)
    ax.set_ylim(0, 8.5)
    ax.axis("off")
    for x, y, w, h, text, colour in BOXES.values():
        ax.add_patch(
            FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", facecolor=colour, edgecolor="black")
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=10)
    for (a, side_a, shift_a), (b, side_b, shift_b) in ARROWS:
        _arrow(ax, _edge(a, side_a, shift_a), _edge(b, side_b, shift_b), color="black")
    # the frame's own luma reaches the merge unchanged: a dashed line along the top
    (x0, y0), (x1, y1) = _edge("clip", "top"), _edge("rgb", "top")
    ax.plot([x0, x0, x1], [y0, 7.9, 7.9], color="grey", lw=1.2, linestyle="--")
    _arrow(ax, (x1, 7.9), (x1, y1), color="grey", linestyle="--")
    ax.text(9.2, 8.1, "the frame's own luma L, unchanged", ha="center", va="bottom", fontsize=9, color="grey")
    ax.text(9.2, 0.3, "candidates: ab maps, each with a per-pixel confidence", ha="center", fontsize=9)
    ax.set_title("The colorizer: grey clip + references -> RGB", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
