"""scenecolor.workbook.export.compare / export_figures with stand-in runtimes on a tiny synthetic test split."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import torch

from scenecolor.colorize.data import ClipSet
from scenecolor.core.errors import DataError, ExportError
from scenecolor.evaluate.metrics import psnr
from scenecolor.export import latency as export_bench
from scenecolor.workbook.export import compare
from scenecolor.workbook.export import figures as export_figures


def _data(n_clips: int = 3, t: int = 2, s: int = 16) -> compare.EdgeInputs:
    rng = np.random.default_rng(0)
    n = n_clips * t + 2
    lab = np.concatenate([rng.uniform(30, 80, (n, s, s, 1)), rng.uniform(-20, 20, (n, s, s, 2))], -1).astype(np.float32)
    clips = np.arange(n_clips * t).reshape(n_clips, t)
    refs = {"open": [[n - 2, n - 1]] * n_clips, "in_domain": [[n - 1]] * n_clips}
    test = ClipSet("test", lab, clips, refs, [f"s{i}" for i in range(n_clips)], [f"v{i}" for i in range(n_clips)])
    gray = torch.rand(1, 1, t, s, s)
    timing_refs = torch.rand(1, 2, 3, s, s) * 50
    return compare.EdgeInputs(test, [], gray, timing_refs, np.zeros((2, s, s, 3), np.uint8), n_refs=2)


def _runtime(name: str, offset: float = 0.0, size: int = 4_000_000) -> compare.Runtime:
    """ab = true-ish colour from the references' mean ab plus ``offset``, the same for every frame."""

    def encode(refs: torch.Tensor) -> tuple[np.ndarray]:
        return (refs[:, :, 1:].mean(dim=(1, 3, 4)).numpy(),)  # [B, 2]

    def clip(gray: torch.Tensor, feats: tuple[np.ndarray]) -> np.ndarray:
        b, _, t, h, w = gray.shape
        return np.broadcast_to(feats[0][:, :, None, None, None] + offset, (b, 2, t, h, w)).astype(np.float32).copy()

    return compare.Runtime(name, encode, clip, size, 1_000_000)


def test_identical_runtimes_pass_parity_and_a_different_one_is_named() -> None:
    data = _data()
    table = compare.colorizer_parity(_runtime("a"), _runtime("b"), data, atol=1e-6)
    assert list(table["max |ab diff|"]) == [0.0, 0.0] and len(table) == 2
    with pytest.raises(ExportError, match=r"'?off'? differs from a by up to 0.5 in ab \(allowed 0.0001\)"):
        compare.colorizer_parity(_runtime("a"), _runtime("off", offset=0.5), data, atol=1e-4)


def test_test_split_psnr_matches_metrics_psnr() -> None:
    data = _data()
    rt = _runtime("a", offset=3.0)
    ab = compare.test_split_outputs(rt, data, batch=2)
    assert ab.shape == (3, 2, 2, 16, 16)
    got = compare.test_split_psnr(ab, data)
    want = []
    for i in range(3):
        lab = data.test.lab[data.test.clips[i]]
        truth = compare._to_uint8(lab[..., 0], lab[..., 1:])
        pred = compare._to_uint8(lab[..., 0], np.moveaxis(ab[i], 0, -1))
        want.append(psnr(truth, pred))
    assert got == pytest.approx(float(np.mean(np.concatenate(want))))
    true_ab = np.stack([np.moveaxis(data.test.lab[c][..., 1:], -1, 0) for c in data.test.clips])
    assert compare.test_split_psnr(true_ab, data) == float("inf")


def test_compare_runtimes_table_and_targets() -> None:
    data = _data()
    runtimes = [_runtime("torch fp32 (eager)", size=8_000_000), _runtime("int8", offset=0.01, size=2_000_000)]
    rows, outputs = compare.compare_runtimes(runtimes, data, warmup=0, repeats=2)
    assert set(outputs) == {"torch fp32 (eager)", "int8"}
    assert rows[1]["max |ab - torch|"] == pytest.approx(0.01, abs=1e-6)
    table = compare.edge_table(rows)
    assert list(table["source"]) == ["measured", "measured", "quoted"]
    quoted = table.iloc[-1]
    assert (
        quoted["file (MB)"] == 81.0
        and quoted["ms / frame"] == 2600.0
        and quoted["parameters (M)"] == pytest.approx(3.2)
    )
    assert table.loc[0, "speed-up vs torch"] == pytest.approx(1.0)
    assert table.loc[1, "speed-up vs torch"] == pytest.approx(table.loc[0, "ms / frame"] / table.loc[1, "ms / frame"])
    assert table.loc[1, "PSNR change (dB)"] == pytest.approx(
        table.loc[1, "PSNR test (dB)"] - table.loc[0, "PSNR test (dB)"]
    )
    # targets computed from the table, not typed in
    fake = table.copy()
    fake.loc[1, ["ms / frame", "PSNR test (dB)", "file (MB)"]] = [
        fake.loc[0, "ms / frame"] / 2.5,
        fake.loc[0, "PSNR test (dB)"] - 0.5,
        3.0,
    ]
    met = compare.targets(fake, "int8").set_index("target")["met"]
    assert list(met) == [True, False, True]
    for fig in (export_figures.plot_speed_size(table), export_figures.plot_frames(data, outputs)):
        assert len(fig.axes) >= 2
    assert isinstance(export_figures.table_for_display(table), pd.DataFrame)


def test_interleaved_timing_takes_turns() -> None:
    calls: list[str] = []
    lat = export_bench.measure_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, repeats=3, frames_per_call=2
    )
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up of each, then turns  # noqa: RUF005
    assert lat["a"].repeats == 3 and lat["b"].ms_per_frame == pytest.approx(lat["b"].median_ms / 2)


def test_edge_inputs_missing_store(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="frame store"):
        compare.edge_inputs(
            tmp_path / "nope",
            tmp_path / "references.csv",
            resolution=32,
            clip_len=2,
            n_refs=2,
            test_clips=1,
            calib_clips=1,
            timing_size=32,
            timing_clip_len=0,
        )
