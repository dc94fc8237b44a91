"""Notebook 04's training curves: the exemplar panel shows what select_best ranks, with the chosen epoch marked."""

from __future__ import annotations

import matplotlib.pyplot as plt

from scenecolor.workbook.colorize.figures import plot_curves


def _history(exemplar: bool) -> list[dict]:
    rows = []
    for epoch, score in enumerate([36.2, 36.1, 36.4]):
        row = {"epoch": epoch, "train_loss": None if epoch == 0 else 0.02, "val_loss": 0.1, "val_psnr": 20.0}
        row |= {"val_psnr_gray": 22.0, "val_psnr_mean_ab": 21.0}
        if exemplar:
            row |= {"val_psnr_exemplar": score, "val_psnr_exemplar_flow": 34.8}
            row |= {"val_psnr_exemplar_best_candidate": 36.0, "val_psnr_exemplar_paste": 29.8}
        rows.append(row)
    rows[-1]["selected_epoch"] = 2
    return rows


def test_exemplar_panel_marks_the_selected_epoch() -> None:
    fig = plot_curves(_history(exemplar=True))
    assert len(fig.axes) == 3
    ex = fig.axes[2]
    labels = [line.get_label() for line in ex.get_lines()]
    assert labels[0] == "ours" and "selected (epoch 2)" in labels and "flow candidate alone" in labels
    star = ex.get_lines()[labels.index("selected (epoch 2)")]
    assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [36.4]
    plt.close(fig)


def test_histories_without_the_exemplar_protocol_keep_two_panels() -> None:
    fig = plot_curves(_history(exemplar=False))
    assert len(fig.axes) == 2
    plt.close(fig)
