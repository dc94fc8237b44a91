"""Checkpoints, RNG capture, sharding and the torchrun command of scenecolor.core.training."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from scenecolor.core import training
from scenecolor.core.errors import CheckpointError, ParameterError


def _tiny(seed: int = 0, width: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 2))


def _save(path, model, opt, arch="tiny", epoch=1):
    return training.save_checkpoint(
        path,
        arch=arch,
        model=model,
        optimizer=opt,
        epoch=epoch,
        config={"width": 4},
        history=[{"epoch": 1, "loss": 0.5}],
        extra={"note": "x"},
    )


def test_single_process_setup(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = training.setup_distributed(device="cpu")
    assert (info.rank, info.world_size, info.local_rank, info.is_main, info.distributed) == (0, 1, 0, True, False)
    model = _tiny()
    assert training.wrap_ddp(model, info) is model
    training.cleanup_distributed(info)


def test_bad_env_is_parameter_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ParameterError, match="WORLD_SIZE"):
        training.setup_distributed(device="cpu")


def test_roundtrip_restores_model_optimizer_and_rng(tmp_path):
    model = _tiny(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    path = _save(tmp_path / "c.pt", model, opt)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    other = _tiny(1)
    other_opt = torch.optim.Adam(other.parameters(), lr=0.1)
    ckpt = training.load_checkpoint(path, arch="tiny", model=other, optimizer=other_opt)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other_opt.state_dict()["state"][0]["step"] == 1
    assert ckpt["epoch"] == 1 and ckpt["config"] == {"width": 4} and ckpt["extra"] == {"note": "x"}
    # it really loads with weights_only=True
    assert torch.load(path, weights_only=True)["arch"] == "tiny"


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        training.load_checkpoint(tmp_path / "nope.pt", arch="tiny")


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        training.load_checkpoint(bad, arch="tiny")


def test_other_architecture(tmp_path):
    path = _save(tmp_path / "c.pt", _tiny(), None, arch="colorizer")
    with pytest.raises(CheckpointError, match="architecture 'colorizer'"):
        training.load_checkpoint(path, arch="tiny")


def test_mismatched_shapes_leave_model_untouched(tmp_path):
    path = _save(tmp_path / "c.pt", _tiny(width=4), None)
    model = _tiny(3, width=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="shape mismatches"):
        training.load_checkpoint(path, arch="tiny", model=model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_missing_keys(tmp_path):
    path = _save(tmp_path / "c.pt", _tiny(), None)
    bigger = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="missing keys"):
        training.load_checkpoint(path, arch="tiny", model=bigger)


def test_resume_without_optimizer_state(tmp_path):
    path = _save(tmp_path / "c.pt", _tiny(), None)
    model = _tiny()
    with pytest.raises(CheckpointError, match="no optimizer state"):
        training.load_checkpoint(path, arch="tiny", model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_unloadable_config_is_refused_and_previous_checkpoint_kept(tmp_path):
    path = _save(tmp_path / "c.pt", _tiny(), None)
    before = path.read_bytes()
    with pytest.raises(ParameterError, match=r"config.f = object"):
        training.save_checkpoint(
            path, arch="tiny", model=_tiny(), optimizer=None, epoch=2, config={"f": object()}, history=[]
        )
    assert path.read_bytes() == before


def test_crash_while_writing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = _save(tmp_path / "c.pt", _tiny(), None)
    before = path.read_bytes()

    def crash(obj, f, *a, **k):
        open(f, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        _save(path, _tiny(1), None, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_shard_indices_equal_shares_cover_all():
    infos = [
        training.DistInfo(rank=r, world_size=3, local_rank=r, is_main=r == 0, device=torch.device("cpu"))
        for r in range(3)
    ]
    shares = [training.shard_indices(range(10), i, shuffle=True, seed=1, epoch=2) for i in infos]
    assert {len(s) for s in shares} == {4}
    assert set().union(*map(set, shares)) == set(range(10))
    assert shares[0] == training.shard_indices(range(10), infos[0], shuffle=True, seed=1, epoch=2)
    assert shares[0] != training.shard_indices(range(10), infos[0], shuffle=True, seed=1, epoch=3)
    few = [training.shard_indices([7], i, shuffle=False, seed=0) for i in infos]
    assert few == [[7], [7], [7]]


def test_torchrun_command():
    cmd = training.torchrun_command("scenecolor.embed.model", ["train", "--epochs", 2], nproc=2)
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    assert cmd[-5:] == ["-m", "scenecolor.embed.model", "train", "--epochs", "2"]
    with pytest.raises(ParameterError, match="nproc"):
        training.torchrun_command("m", [], nproc=0)


def test_try_resume_only_with_the_same_settings(tmp_path):
    model = _tiny(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    path = tmp_path / "last.pt"
    config = {"train": {"lr": 0.1, "epochs": 3}, "history_format": 2, "data_digest": "d1"}
    training.save_checkpoint(
        path, arch="tiny", model=model, optimizer=opt, epoch=2, config=config, history=[{"epoch": 1}, {"epoch": 2}]
    )
    logs: list[str] = []
    assert training.try_resume(
        tmp_path / "none.pt",
        arch="tiny",
        model=_tiny(1),
        optimizer=None,
        train_key={"lr": 0.1},
        data_digest="d1",
        log=logs.append,
    ) == (0, [])

    fresh = _tiny(1)
    start, history = training.try_resume(
        path,
        arch="tiny",
        model=fresh,
        optimizer=None,
        train_key={"lr": 0.1},
        data_digest="d1",
        log=logs.append,
        config_checks={"history_format": 2},
    )
    assert start == 2 and len(history) == 2 and "resumed" in logs[-1]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))

    # other settings (here the learning rate, or the history format) start afresh and leave the model alone
    untouched = _tiny(1)
    before = [t.clone() for t in untouched.state_dict().values()]
    assert training.try_resume(
        path, arch="tiny", model=untouched, optimizer=None, train_key={"lr": 0.2}, data_digest="d1", log=logs.append
    ) == (0, [])
    assert "other settings" in logs[-1]
    assert training.try_resume(
        path,
        arch="tiny",
        model=untouched,
        optimizer=None,
        train_key={"lr": 0.1},
        data_digest="d1",
        log=logs.append,
        config_checks={"history_format": 1},
    ) == (0, [])
    # the same settings on other data (a re-run notebook 00 or 03) start afresh too
    assert training.try_resume(
        path, arch="tiny", model=untouched, optimizer=None, train_key={"lr": 0.1}, data_digest="d2", log=logs.append
    ) == (0, [])
    assert "other data" in logs[-1]
    assert all(torch.equal(a, b) for a, b in zip(before, untouched.state_dict().values()))
    with pytest.raises(CheckpointError):
        training.try_resume(
            path,
            arch="other",
            model=untouched,
            optimizer=None,
            train_key={"lr": 0.1},
            data_digest="d1",
            log=logs.append,
        )


def test_data_digest_follows_the_data(tmp_path):
    frames = np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3)
    (tmp_path / "a.bin").write_bytes(b"abc")
    base = training.data_digest(frames, {"refs": [[1, 2]]}, tmp_path / "a.bin")
    assert base == training.data_digest(frames.copy(), {"refs": [[1, 2]]}, tmp_path / "a.bin")
    changed = frames.copy()
    changed[0, 0, 0, 0] = 99
    assert base != training.data_digest(changed, {"refs": [[1, 2]]}, tmp_path / "a.bin")
    assert base != training.data_digest(frames, {"refs": [[2, 1]]}, tmp_path / "a.bin")
    (tmp_path / "a.bin").write_bytes(b"abd")
    assert base != training.data_digest(frames, {"refs": [[1, 2]]}, tmp_path / "a.bin")


@pytest.mark.parametrize("device", ["auto", None, "cpu", "cuda", "gpu"])
def test_setup_distributed_reads_the_device_as_resolve_device_does(monkeypatch, device) -> None:
    """The notebooks' device parameter goes through here: auto/None, cpu, cuda (CPU with a warning without a GPU)."""
    import warnings

    from scenecolor.core.device import resolve_device

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    if device == "gpu":
        with pytest.raises(ParameterError, match="device 'gpu'"):
            training.setup_distributed(device=device)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = resolve_device(device or "auto").type
        assert training.setup_distributed(device=device).device.type == expected
