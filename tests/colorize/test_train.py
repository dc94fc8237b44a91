"""Colorizer training: samples, loss, overfitting one batch, determinism and resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.colorizer import build_photo_store, build_reference_table
from scenecolor.colorize.data import build_clip_set, make_batch, shot_references
from scenecolor.colorize.model import SceneColorizer, load_colorizer
from scenecolor.colorize.train import (
    TrainConfig,
    colorization_loss,
    evaluate,
    load_training_data,
    psnr_rgb,
    train_colorizer,
)
from scenecolor.core import training
from scenecolor.core.errors import CheckpointError, DataError, ParameterError
from scenecolor.retrieval.references import read_references
from scenecolor.workbook.params import ColorizerParams

CFG = TrainConfig(resolution=32, clip_len=2, width=0.25, epochs=2, batches_per_epoch=2, batch_size=2, val_clips=3)
QUIET = {"progress": False, "log": lambda *_: None}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("colorizer-data")
    store = build_photo_store(folder / "frames", size=32, frames_per_shot=5)
    build_reference_table(store, folder / "references.csv")
    return store, folder / "references.csv"


@pytest.fixture(scope="module")
def sets(data):
    store, refs = data
    return load_training_data(store, refs, CFG)


def test_clip_sets_hold_windows_of_one_shot_and_never_the_clip_as_its_reference(data, sets) -> None:
    store, _ = data
    train, val = sets
    assert len(train) == 5 * (5 - 2 + 1) and len(val) == 3  # five train shots of 5 frames; val capped
    assert train.lab.shape[1:] == (32, 32, 3) and train.clips.shape[1] == 2
    for i in range(len(train)):
        for pool in ("in_domain", "open"):
            assert set(train.refs[pool][i]).isdisjoint(train.clips[i]) and 1 <= len(train.refs[pool][i]) <= 5
    frames = np.array([train.lab[train.clips[i]] for i in range(len(train))])
    assert np.all(frames[..., 0] >= 0) and np.all(frames[..., 0] <= 100)


def test_batches_have_the_model_layout_and_augmentation_keeps_chroma(sets) -> None:
    train, _ = sets
    gray, refs, ab = make_batch(train, [0, 1, 2], 4, "open")
    assert gray.shape == (3, 1, 2, 32, 32) and refs.shape == (3, 4, 3, 32, 32) and ab.shape == (3, 2, 2, 32, 32)
    assert torch.allclose(gray[0, 0], torch.from_numpy(train.lab[train.clips[0]][..., 0]) / 100)
    g2, r2, ab2 = make_batch(train, [0, 1, 2], 4, "open", rng=np.random.default_rng(0), hue_prob=1.0)
    chroma = lambda x: torch.sqrt((x**2).sum(1))  # noqa: E731
    assert torch.allclose(chroma(ab2).mean(), chroma(ab).mean(), rtol=1e-4)  # flips and hue rotation keep |ab|
    assert not torch.allclose(ab2, ab)


def _rows_of(train, refs: torch.Tensor) -> set[int]:
    """Which frames of the clip set the (possibly mirrored) reference images are."""
    rows = set()
    for img in refs.reshape(-1, *refs.shape[2:]).permute(0, 2, 3, 1).numpy():
        match = [
            j
            for j in range(len(train.lab))
            if np.array_equal(train.lab[j], img) or np.array_equal(train.lab[j][:, ::-1], img)
        ]
        assert len(match) >= 1
        rows.update(match)
    return rows


def test_foreign_references_come_from_another_video(sets) -> None:
    train, _ = sets
    own = set(train.refs["in_domain"][0])
    _, foreign, _ = make_batch(train, [0] * 4, 2, "in_domain", rng=np.random.default_rng(1), foreign_prob=1.0)
    assert _rows_of(train, foreign).isdisjoint(own)
    _, same, _ = make_batch(train, [0] * 4, 2, "in_domain", rng=np.random.default_rng(1), foreign_prob=0.0)
    assert _rows_of(train, same) <= own


def test_loss_is_huber_plus_the_temporal_change_term() -> None:
    true = torch.zeros(1, 2, 3, 4, 4)
    assert colorization_loss(true, true, 0.05, 1.0)[0] == 0
    shifted = true + 11.0  # a constant error of 0.1 (in ab/110): Huber 0.1 - 0.05/2, no temporal change
    total, parts = colorization_loss(shifted, true, 0.05, 1.0)
    assert parts["huber"] == pytest.approx(0.075) and parts["temporal"] == 0 and float(total) == pytest.approx(0.075)
    flicker = true.clone()
    flicker[:, :, 1] = 11.0
    total, parts = colorization_loss(flicker, true, 0.05, 2.0)
    assert parts["temporal"] > 0 and float(total) == pytest.approx(parts["huber"] + 2.0 * parts["temporal"])


def test_psnr_is_infinite_like_for_a_perfect_prediction_and_lower_otherwise() -> None:
    gray = torch.full((1, 1, 2, 8, 8), 0.5)
    ab = torch.full((1, 2, 2, 8, 8), 20.0)
    assert float(psnr_rgb(gray, ab, ab)) > 90
    assert float(psnr_rgb(gray, torch.zeros_like(ab), ab)) < 30


def test_overfitting_one_tiny_batch(sets) -> None:
    train, _ = sets
    torch.manual_seed(0)
    model = SceneColorizer(CFG.model_config())
    gray, refs, ab = make_batch(train, [0, 5, 10], 2, "in_domain")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss, _ = colorization_loss(model(gray, refs), ab, CFG.huber_delta, temporal_weight=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_same_seed_same_weights_and_resume_after_interruption_matches(tmp_path, sets) -> None:
    train, val = sets
    straight = train_colorizer(train, val, CFG, tmp_path / "a", **QUIET)
    again = train_colorizer(train, val, CFG, tmp_path / "b", **QUIET)
    assert training.state_digest(straight.model) == training.state_digest(again.model)
    stopped = train_colorizer(train, val, CFG, tmp_path / "c", stop_after=1, **QUIET)
    assert stopped.history[-1]["epoch"] == 1 and (tmp_path / "c" / "colorizer.pt").is_file()
    torch.manual_seed(123)  # the resumed run must not depend on the state the process is in
    np.random.seed(7)
    resumed = train_colorizer(train, val, CFG, tmp_path / "c", **QUIET)
    assert resumed.resumed_from_epoch == 1
    assert training.state_digest(resumed.model) == training.state_digest(straight.model)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in straight.history]


def test_checkpoint_of_other_settings_starts_fresh_and_a_corrupt_one_is_an_error(tmp_path, sets) -> None:
    train, val = sets
    train_colorizer(train, val, CFG, tmp_path, stop_after=1, **QUIET)
    other = dataclasses.replace(CFG, lr=1e-4, epochs=1)
    messages: list[str] = []
    result = train_colorizer(train, val, other, tmp_path, progress=False, log=messages.append)
    assert result.resumed_from_epoch == 0 and "other settings" in messages[0]
    (tmp_path / "colorizer.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        train_colorizer(train, val, CFG, tmp_path, **QUIET)


def test_checkpoint_of_other_data_is_not_resumed(tmp_path, sets) -> None:
    """Same settings, other clips or references (a re-run notebook 00 or 03): train afresh."""
    train, val = sets
    train_colorizer(train, val, CFG, tmp_path, stop_after=1, **QUIET)
    lab = train.lab.copy()
    lab[0, ..., 1:] += 10.0
    messages: list[str] = []
    result = train_colorizer(
        dataclasses.replace(train, lab=lab), val, CFG, tmp_path, stop_after=1, progress=False, log=messages.append
    )
    assert result.resumed_from_epoch == 0 and "other data" in messages[0]
    messages.clear()
    resumed = train_colorizer(
        dataclasses.replace(train, lab=lab), val, CFG, tmp_path, progress=False, log=messages.append
    )
    assert resumed.resumed_from_epoch == 1 and "resumed" in messages[0]


def test_validation_reports_loss_and_psnr_beside_the_grey_output(sets) -> None:
    _, val = sets
    torch.manual_seed(0)
    out = evaluate(SceneColorizer(CFG.model_config()), val, CFG, torch.device("cpu"))
    assert set(out) == {"val_loss", "val_psnr", "val_psnr_gray", "val_psnr_mean_ab"} and 5 < out["val_psnr_gray"] < 60
    # the references' mean ab painted everywhere (Reinhard's global transfer) is a line of its own
    assert 5 < out["val_psnr_mean_ab"] < 60 and out["val_psnr_mean_ab"] != out["val_psnr_gray"]


def test_missing_or_incomplete_references_table_is_a_clear_error(tmp_path, data) -> None:
    store, refs = data
    with pytest.raises(DataError, match="run the reference-selection step"):
        read_references(tmp_path / "nope.csv")
    pd.read_csv(refs).drop(columns=["pool"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="lacks columns"):
        read_references(tmp_path / "bad.csv")
    with pytest.raises(ParameterError, match="pool"):
        shot_references(read_references(refs), "everything")


def test_clips_longer_than_every_shot_are_a_clear_error(data) -> None:
    store, refs = data
    with pytest.raises(DataError, match="no shot with >= 9 frames"):
        build_clip_set(store, read_references(refs), "train", resolution=32, clip_len=9)


@pytest.mark.parametrize(
    "field,value", [("resolution", 40), ("max_refs", 6), ("ref_pool", "all"), ("hue_prob", 2.0), ("width", 0.0)]
)
def test_bad_training_parameters_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ParameterError, match=field):
        TrainConfig(**{field: value})


def test_notebook_parameters_are_the_training_config_fields() -> None:
    """Notebook 04's model takes every TrainConfig field as declared there (range, description); only the default
    of epochs differs, and the config built from the validated parameters holds the notebook's values."""
    params = ColorizerParams(epochs=3, lr=0.01, flow_method="farneback", seed=4, device="cpu")
    assert params.settings(TrainConfig) == dataclasses.replace(
        TrainConfig(), epochs=3, lr=0.01, flow_method="farneback", seed=4
    )
    for f in dataclasses.fields(TrainConfig):
        if f.name != "seed":  # the step's seed (the same range)
            field = ColorizerParams.model_fields[f.name]
            assert field.description == TrainConfig.__pydantic_fields__[f.name].description
            assert field.metadata == TrainConfig.__pydantic_fields__[f.name].metadata
            assert field.default == (4 if f.name == "epochs" else f.default)
    with pytest.raises(ValueError, match="multiple of 16"):
        ColorizerParams(resolution=40)


def test_the_training_entry_point_trains_the_colorizer_and_round_trips_its_flags(tmp_path, data, capsys) -> None:
    from scenecolor.cli.train import build_arg_parser, main, train_config

    store, refs = data
    cfg = dataclasses.replace(CFG, epochs=1, batches_per_epoch=1, select_best=False, lr=3e-4, flow_method="farneback")
    head = ["colorizer", "--store", str(store.folder), "--references", str(refs), "--out", str(tmp_path)]
    assert train_config(build_arg_parser().parse_args([*head, *training.config_argv(cfg)]), "colorizer") == cfg
    assert main([*head, "--device", "cpu", *training.config_argv(cfg)]) == 0
    out = capsys.readouterr().out
    digest = training.state_digest(load_colorizer(tmp_path / "colorizer.pt")[0])
    assert f"rank 0/1 final weights sha256 {digest}" in out
    assert main([*head, "--width", "0"]) == 2  # a bad value: one line naming it, exit 2
    assert "'width' = 0.0" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_ddp_trains_through_the_same_entry_point(tmp_path, data) -> None:
    from scenecolor.colorize.train import train_colorizer_torchrun

    store, refs = data
    result = train_colorizer_torchrun(store.folder, refs, CFG, tmp_path, nproc=2)
    assert [h["epoch"] for h in result.history] == [0, 1, 2] and (tmp_path / "colorizer.pt").is_file()
    assert not result.model.training
    # select_best on two ranks: rank 0 writes the best epoch's weights and the other rank reads them only after a
    # barrier (reading them while they were written failed the run); the selected epoch is the best one (ties: later)
    scores = [h["val_psnr_exemplar"] for h in result.history]
    assert result.history[-1]["selected_epoch"] == max(range(3), key=lambda e: (scores[e], e))


def test_learning_rate_follows_warm_up_and_cosine_step_by_step(sets, tmp_path: Path, monkeypatch) -> None:
    """Each optimizer step takes its own rate: the warm-up rises over the first fifth of the steps, then the
    cosine decays (a loop variable once shadowed the step index, so every batch of an epoch got one rate)."""
    rates: list[float] = []
    step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"] / self.param_groups[0]["lr_scale"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    train, val = sets
    cfg = dataclasses.replace(CFG, epochs=1, batches_per_epoch=10, select_best=False)
    train_colorizer(train, val, cfg, tmp_path, **QUIET)
    assert len(rates) == 10
    assert rates[0] < rates[1] == pytest.approx(max(rates))  # warm-up over 10 // 5 = 2 steps, then decay
    assert all(a > b for a, b in zip(rates[1:], rates[2:]))


def test_mixed_exemplar_batches_are_deterministic_and_mix_in_another_videos_frames(sets) -> None:
    """Exemplar batches with foreign_prob: the same seed gives the same batch; each clip's references beyond the
    first are exact frames of another video, and some clips get only foreign ones (guide recomputed)."""
    from scenecolor.colorize.exemplar_data import make_training_batch

    train, _ = sets
    video_of = {}
    for i, shot in enumerate(train.clip_shots):
        for row in train.shots[shot]:
            video_of[int(row)] = train.clip_videos[i]

    def batch(seed: int, prob: float):
        rng = np.random.default_rng(seed)
        return make_training_batch(
            train, [0, 5, 10, 0, 5, 10], 3, "in_domain", rng, CFG.guide_config(), exemplar=True, foreign_prob=prob
        )

    first, again = batch(3, 1.0), batch(3, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    _, refs, _, guide = first
    all_foreign = 0
    for b, clip in enumerate([0, 5, 10, 0, 5, 10]):
        own = train.clip_videos[clip]
        imgs = refs[b].permute(0, 2, 3, 1).numpy()
        exact = [
            {
                video_of[j]
                for j in video_of
                if np.array_equal(train.lab[j], x) or np.array_equal(train.lab[j][:, ::-1], x)
            }
            for x in imgs
        ]
        assert all(len(e) == 1 and own not in e for e in exact[1:])  # the second and third: another video's frames
        all_foreign += bool(exact[0]) and own not in exact[0]
    assert 0 < all_foreign < 6
    _, same, _, _ = batch(3, 0.0)
    for b, clip in enumerate([0, 5, 10, 0, 5, 10]):
        for x in same[b].permute(0, 2, 3, 1).numpy():
            assert not any(video_of[j] != train.clip_videos[clip] and np.array_equal(train.lab[j], x) for j in video_of)
    assert guide.shape == (6, 9, 2, 32, 32)
