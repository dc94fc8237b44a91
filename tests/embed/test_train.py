"""Embedder training: it learns, it is deterministic, it resumes exactly, it runs under DDP."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from helpers.embedder import build_store
from scenecolor.cli.train import main
from scenecolor.core import training
from scenecolor.core.errors import CheckpointError, DataError
from scenecolor.data.frames import FrameStore
from scenecolor.embed.model import ARCH, load_embedder
from scenecolor.embed.train import TrainConfig, save_embedder, train_embedder

CFG = TrainConfig(
    backbone="resnet18",
    pretrained="none",
    input_size=32,
    epochs=2,
    batches_per_epoch=2,
    shots_per_batch=4,
    frames_per_shot=2,
    val_triplets=24,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("store") / "frames", size=32)


def _quiet(*_):
    pass


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory):
    """One run of ``train_embedder(store, CFG)`` to its last epoch and its output folder, for the tests that need a
    finished training (read only: a test that trains on in that folder copies it first)."""
    folder = tmp_path_factory.mktemp("trained")
    return train_embedder(store, CFG, folder, progress=False, log=_quiet), folder


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_learns_and_writes_checkpoint(store, tmp_path):
    # the synthetic shots differ mainly by colour, so the learning check trains on colour (pairing "color");
    # grey pairings are checked for their mechanics below
    cfg = TrainConfig(**{**CFG.__dict__, "epochs": 4, "batches_per_epoch": 3, "pairing": "color"})
    result = train_embedder(store, cfg, tmp_path, progress=False, log=_quiet)
    h = result.history
    assert [e["epoch"] for e in h] == [0, 1, 2, 3, 4]
    assert h[-1]["train_loss"] < h[1]["train_loss"]
    assert h[-1]["val_acc"] >= h[0]["val_acc"]
    assert all(0.0 <= e["val_acc"] <= 1.0 for e in h)
    assert h[-1]["p"] != 3.0  # GeM's p is learned
    ckpt = torch.load(result.checkpoint, weights_only=True)
    assert ckpt["arch"] == ARCH and ckpt["epoch"] == 4 and ckpt["config"]["train"]["input_size"] == 32


@pytest.mark.parametrize("pairing", ["grey", "grey_anchor"])
def test_grey_pairings_train_and_validate_with_grey_anchors(store, tmp_path, pairing):
    cfg = TrainConfig(**{**CFG.__dict__, "epochs": 1, "batches_per_epoch": 1, "pairing": pairing})
    result = train_embedder(store, cfg, tmp_path, progress=False, log=_quiet)
    h = result.history
    assert [e["epoch"] for e in h] == [0, 1] and np.isfinite(h[-1]["train_loss"])
    assert 0.0 <= h[-1]["val_acc"] <= 1.0 and 0.0 <= h[-1]["val_separation"] <= 1.0


def test_same_seed_same_weights_with_regional_pooling(store, tmp_path):
    """Long (2,560-float) embeddings in 16-row batches train to the same weights (see the triplet gradient test)."""
    cfg = TrainConfig(**{**CFG.__dict__, "pooling": "regional", "shots_per_batch": 8, "epochs": 1})
    digests = {
        training.state_digest(train_embedder(store, cfg, tmp_path / str(i), progress=False, log=_quiet).model)
        for i in range(3)
    }
    assert len(digests) == 1


def test_same_seed_same_weights_and_resume_matches(store, trained, tmp_path):
    full, _ = trained
    again = train_embedder(store, CFG, tmp_path / "again", progress=False, log=_quiet)
    assert training.state_digest(full.model) == training.state_digest(again.model)
    # interrupted after epoch 1, then resumed: same final weights and history
    train_embedder(store, CFG, tmp_path / "resumed", stop_after=1, progress=False, log=_quiet)
    torch.manual_seed(1234)  # a resumed process starts with other RNG states; the checkpoint restores them
    resumed = train_embedder(store, CFG, tmp_path / "resumed", progress=False, log=_quiet)
    assert resumed.resumed_from_epoch == 1
    assert training.state_digest(resumed.model) == training.state_digest(full.model)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    other = TrainConfig(**{**CFG.__dict__, "seed": 1})
    assert training.state_digest(
        train_embedder(store, other, tmp_path / "seed1", progress=False, log=_quiet).model
    ) != training.state_digest(full.model)


def test_finished_run_is_not_retrained_and_other_settings_restart(store, trained, tmp_path):
    first, folder = trained
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    messages = []
    again = train_embedder(store, CFG, tmp_path, progress=False, log=messages.append)
    assert again.resumed_from_epoch == CFG.epochs and "resumed" in messages[0]
    assert training.state_digest(again.model) == training.state_digest(first.model)
    changed = TrainConfig(**{**CFG.__dict__, "margin": 0.5})
    messages.clear()
    fresh = train_embedder(store, changed, tmp_path, stop_after=1, progress=False, log=messages.append)
    assert fresh.resumed_from_epoch == 0 and "other settings" in messages[0]


def test_checkpoint_of_other_data_is_not_resumed(store, trained, tmp_path):
    """A re-run notebook 00 (other frames, same settings) must retrain, not resume the old model."""
    shutil.copytree(trained[1], tmp_path / "out")
    changed = tmp_path / "frames"
    shutil.copytree(store.folder, changed)
    frames = np.load(changed / "frames.npy")
    frames[0] = 255 - frames[0]
    np.save(changed / "frames.npy", frames)
    messages = []
    fresh = train_embedder(
        FrameStore.open(changed), CFG, tmp_path / "out", stop_after=1, progress=False, log=messages.append
    )
    assert fresh.resumed_from_epoch == 0 and "other data" in messages[0]


def test_saved_embedder_reloads(trained, tmp_path):
    result, _ = trained
    path = save_embedder(result, CFG, tmp_path / "embedder.pt")
    model = load_embedder(path)
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(model(x), result.model.eval()(x), atol=1e-6)
    assert (
        "optimizer" in torch.load(path, weights_only=True) and torch.load(path, weights_only=True)["optimizer"] is None
    )


def test_corrupt_or_foreign_checkpoint_is_refused(store, tmp_path):
    ckpt = tmp_path / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt"):
        train_embedder(store, CFG, tmp_path, progress=False, log=_quiet)
    assert ckpt.read_bytes() == b"\x00" * 64  # nothing overwritten
    training.save_checkpoint(
        ckpt, arch="colorizer", model=torch.nn.Linear(2, 2), optimizer=None, epoch=1, config={}, history=[]
    )
    with pytest.raises(CheckpointError, match="architecture 'colorizer'"):
        load_embedder(ckpt)
    with pytest.raises(CheckpointError, match="architecture 'colorizer'"):
        train_embedder(store, CFG, tmp_path, progress=False, log=_quiet)


def test_store_without_enough_shots_is_refused(tmp_path):
    tiny = build_store(tmp_path / "frames", splits={"train": 1, "val": 1, "test": 1}, shots_per_video=1, size=32)
    with pytest.raises(DataError, match="split 'train'.*at least 2 shots"):
        train_embedder(tiny, CFG, tmp_path / "out", progress=False, log=_quiet)


def test_cli_main_trains_single_process(store, tmp_path, capsys):
    args = [
        "embedder",
        "--store",
        str(store.folder),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--pretrained",
        "none",
        "--input-size",
        "32",
        "--epochs",
        "1",
        "--batches-per-epoch",
        "1",
        "--shots-per-batch",
        "4",
        "--val-triplets",
        "8",
    ]
    assert main(args) == 0
    assert (tmp_path / "embedder.pt").is_file()
    assert re.search(r"rank 0/1 final weights sha256 [0-9a-f]{64}", capsys.readouterr().out)
    assert main(["embedder", "--store", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_and_agree(store, tmp_path):
    args = [
        "embedder",
        "--store",
        str(store.folder),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--pretrained",
        "none",
        "--input-size",
        "32",
        "--epochs",
        "2",
        "--batches-per-epoch",
        "4",
        "--shots-per-batch",
        "4",
        "--val-triplets",
        "16",
    ]
    cmd = training.torchrun_command(training.TRAIN_ENTRY, args, nproc=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = re.findall(r"rank (\d)/2 final weights sha256 ([0-9a-f]{64})", proc.stdout)
    assert sorted(r for r, _ in digests) == ["0", "1"]
    assert digests[0][1] == digests[1][1]  # every rank holds the same weights
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["history"][-1]["train_loss"] > 0
    model = load_embedder(tmp_path / "embedder.pt")
    assert training.state_digest(model) == digests[0][1]
    # training moved the weights away from the seed-0 initialisation
    init = train_embedder(
        store, TrainConfig(**{**CFG.__dict__, "epochs": 1}), tmp_path / "init", stop_after=0, progress=False, log=_quiet
    )
    assert training.state_digest(init.model) != digests[0][1]
