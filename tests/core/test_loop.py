"""scenecolor.core.loop.train_epochs on a tiny regression network: resume, determinism, hooks, two gloo ranks."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from scenecolor.core import loop, training
from scenecolor.core.errors import ParameterError

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
SINGLE = training.DistInfo(rank=0, world_size=1, local_rank=0, is_main=True, device=torch.device("cpu"))


def _run(
    out: Path,
    *,
    seed: int = 0,
    epochs: int = 3,
    info: training.DistInfo = SINGLE,
    stats: tuple[str, ...] = ("abs_err",),
    config: dict | None = None,
    **kw,
) -> loop.TrainResult:
    """Three epochs of four batches of eight rows; BatchNorm buffers and both RNGs (numpy per epoch, torch's
    global one for the input noise) take part, so a resume must restore all of them."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(net, epoch, batch, rng):
        idx = torch.from_numpy(rng.choice(len(X), 8, replace=False))
        pred = net(X[idx] + 0.05 * torch.randn(8, 3))
        return F.mse_loss(pred, Y[idx]), {"abs_err": (pred - Y[idx]).abs().mean().item()}

    def validate():
        return {"val_loss": float(F.mse_loss(model(X), Y))}

    settings = {"seed": seed, "lr": 0.05}
    kw.setdefault("log", lambda *_: None)
    return loop.train_epochs(
        model,
        opt,
        step=step,
        validate=validate,
        checkpoint=out / "last.pt",
        arch="tiny",
        config=config or {"train": {**settings, "epochs": epochs}, "data_digest": training.data_digest(X, Y)},
        resume_key=settings,
        epochs=epochs,
        batches_per_epoch=4,
        seed=seed,
        info=info,
        stats=stats,
        progress=False,
        **kw,
    )


def _rows(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    straight = _run(tmp_path / "a")
    stopped = _run(tmp_path / "b", stop_after=1)
    assert [h["epoch"] for h in stopped.history] == [0, 1] and stopped.checkpoint.is_file()
    torch.manual_seed(99)  # another process state: the checkpoint restores the RNGs
    resumed = _run(tmp_path / "b")
    assert resumed.resumed_from_epoch == 1 and straight.resumed_from_epoch == 0
    assert training.state_digest(resumed.model) == training.state_digest(straight.model)
    assert _rows(resumed.history) == _rows(straight.history)
    fresh = _run(tmp_path / "b", resume=False, stop_after=1)  # resume=False ignores the finished checkpoint
    assert fresh.resumed_from_epoch == 0 and _rows(fresh.history) == _rows(stopped.history)


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a, b, c = _run(tmp_path / "a"), _run(tmp_path / "b"), _run(tmp_path / "c", seed=1)
    assert training.state_digest(a.model) == training.state_digest(b.model) != training.state_digest(c.model)


def test_history_statistics_hooks_and_checkpoint(tmp_path):
    rows_seen, lines = [], []
    rates = {}

    def schedule(group, i, total):
        rates[i] = 0.05 * (1 - i / total)
        return rates[i]

    def after_epoch(history):
        rows_seen.append(len(history))
        history[-1]["marked"] = True

    result = _run(
        tmp_path, schedule=schedule, after_epoch=after_epoch, clip_grad=0.5, log=lines.append, describe=lambda h: "x"
    )
    h = result.history
    assert [r["epoch"] for r in h] == [0, 1, 2, 3] and rows_seen == [1, 2, 3, 4] and all(r["marked"] for r in h)
    assert h[0]["train_loss"] is None and h[0]["train_abs_err"] is None and h[0]["seconds"] == 0.0
    assert all(r["train_loss"] > 0 and r["train_abs_err"] > 0 for r in h[1:])
    assert sorted(rates) == list(range(12))  # one rate per step: 3 epochs x 4 batches
    assert result.model.training is False
    assert len(lines) == 3 and lines[0] == f"epoch 1: x | {h[1]['seconds']:.1f} s"
    ckpt = training.load_checkpoint(result.checkpoint, arch="tiny", restore_rng=False)
    assert ckpt["epoch"] == 3 and ckpt["history"] == h
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(rates[11])


def test_a_missing_statistic_or_data_digest_is_a_clear_error(tmp_path):
    with pytest.raises(ParameterError, match="'missing'"):
        _run(tmp_path, stats=("abs_err", "missing"))
    assert not (tmp_path / "last.pt").exists()  # it failed in epoch 1, before any checkpoint
    with pytest.raises(ParameterError, match="data_digest"):
        _run(tmp_path, config={"train": {"seed": 0}})


def _rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    info = training.setup_distributed(device="cpu")
    try:
        result = _run(Path(out) / "run", info=info)
        record = {"digest": training.state_digest(result.model), "history": _rows(result.history)}
        (Path(out) / f"rank{rank}.json").write_text(json.dumps(record))
    finally:
        training.cleanup_distributed(info)


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == r1  # same weights (BatchNorm statistics included) and the same all-reduced history
    single = _run(tmp_path / "single")
    assert r0["digest"] != training.state_digest(single.model)  # the ranks drew other batches than one process
    ckpt = training.load_checkpoint(tmp_path / "run" / "last.pt", arch="tiny", restore_rng=False)
    assert ckpt["epoch"] == 3 and _rows(ckpt["history"]) == r0["history"]
