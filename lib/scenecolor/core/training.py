"""Shared training plumbing: distributed setup, sharding, resumable checkpoints, torchrun.

Both trainable networks (the embedder and the colorizer) use these pieces so that a run on one
CPU, on one GPU and under ``torchrun`` with DistributedDataParallel behaves the same way, and so
that an interrupted run resumed from its last checkpoint ends with the same weights as one that
was never interrupted (the checkpoint carries the model, the optimizer and every RNG state).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from scenecolor.core.artifacts import atomic_torch_save
from scenecolor.core.device import resolve_device
from scenecolor.core.errors import CheckpointError, ParameterError

CHECKPOINT_FORMAT = 1
_REQUIRED_KEYS = ("format", "arch", "epoch", "config", "history", "model")


# -- distributed setup ----------------------------------------------------------------------
@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly single-process) training job."""

    rank: int
    world_size: int
    local_rank: int
    is_main: bool
    device: torch.device

    @property
    def distributed(self) -> bool:
        """True when several processes train together (DDP)."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw != "" else default
    except ValueError:
        raise ParameterError(
            f"environment variable {name}={raw!r} is not an integer; unset it or launch with torchrun"
        ) from None


def setup_distributed(device: str | None = None) -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK and join the process group when needed.

    With ``WORLD_SIZE`` > 1 the default process group is initialised (NCCL on CUDA, gloo
    otherwise); with one process nothing is initialised. ``device`` ("auto" or None, "cpu", "cuda"; as
    :func:`scenecolor.core.device.resolve_device` reads it) picks CPU or CUDA, one GPU per local rank.
    """
    rank = _env_int("RANK", 0)
    world_size = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    use_cuda = resolve_device(device or "auto").type == "cuda"
    if use_cuda:
        dev = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world_size)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, is_main=rank == 0, device=dev)


def cleanup_distributed(info: DistInfo) -> None:
    """Leave the process group (no-op for a single process)."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """Move ``model`` to the device and wrap it in DistributedDataParallel when distributed."""
    model = model.to(info.device)
    if not info.distributed:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or the module itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard_indices(indices: Sequence[int], info: DistInfo, *, shuffle: bool, seed: int, epoch: int = 0) -> list[int]:
    """This rank's share of ``indices``: same permutation on every rank, padded so shares are equal.

    Equal shares matter under DDP: every rank must run the same number of steps, or the
    gradient all-reduce of the longer ranks waits forever.
    """
    order = list(indices)
    if shuffle:
        rng = np.random.default_rng([seed, epoch])
        order = [order[i] for i in rng.permutation(len(order))]
    if not order:
        return []
    per_rank = -(-len(order) // info.world_size)
    padded = order + order[: per_rank * info.world_size - len(order)]
    while len(padded) < per_rank * info.world_size:  # fewer items than ranks
        padded += order[: per_rank * info.world_size - len(padded)]
    return padded[info.rank :: info.world_size]


def all_reduce_sum(values: Sequence[float], info: DistInfo) -> list[float]:
    """Sum a few numbers over the ranks (identity for one process)."""
    if not info.distributed:
        return [float(v) for v in values]
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().tolist()


def average_buffers(model: nn.Module, info: DistInfo) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over the ranks.

    DDP keeps parameters identical but each rank updates its BatchNorm statistics on its own
    batches; averaging them at the end of an epoch makes every rank hold the same model.
    """
    if not info.distributed:
        return
    for buf in unwrap(model).buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf.data, op=dist.ReduceOp.SUM)
            buf.data /= info.world_size


def state_digest(model: nn.Module) -> str:
    """sha256 of the model's state dict (names, shapes and bytes): equal digests = equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(unwrap(model).state_dict().items()):
        digest.update(name.encode())
        t = tensor.detach().cpu().contiguous()
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return digest.hexdigest()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()


# -- RNG state as weights_only-safe values -------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """Torch, CUDA, NumPy and Python RNG states as tensors / lists / numbers (loadable with weights_only)."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": int(py_version), "internal": [int(x) for x in py_internal], "gauss_next": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state((npst["name"], keys, npst["pos"], npst["has_gauss"], npst["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- checkpoints -------------------------------------------------------------------------------
def _is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Config, history and extra must be plain values, or the checkpoint will not load with weights_only."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(f"checkpoint {where}: key {k!r} is not a string; use string keys")
            _check_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise ParameterError(
            f"checkpoint {where} = {type(value).__name__}: only str/int/float/bool/None, lists and dicts "
            "load with weights_only=True; convert it (e.g. str(path), float(x))"
        )


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    arch: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    epoch: int,
    config: dict[str, Any],
    history: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> Path | None:
    """Write a resumable checkpoint atomically (main rank only; other ranks return None).

    It holds the architecture name, the epoch just finished, the config, the per-epoch history,
    the model and optimizer states and every RNG state, so training resumed from it continues
    exactly as if it had never stopped.
    """
    if not _is_main_process():
        return None
    _check_plain(config, "config")
    _check_plain(history, "history")
    _check_plain(extra or {}, "extra")
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "epoch": int(epoch),
        "config": dict(config),
        "history": [dict(h) for h in history],
        "model": state,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "rng": rng_state(),
        "extra": dict(extra or {}),
        "torch_version": str(torch.__version__),
    }
    return atomic_torch_save(path, ckpt)


def _check_state_dict(path: Path, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = unwrap(model).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])})")
    if problems:
        raise CheckpointError(
            f"checkpoint '{path}' does not match the model: {'; '.join(problems)}; "
            "build the model with the checkpoint's config (ckpt['config']) or retrain"
        )


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    arch: str,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    restore_rng: bool = True,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check it before touching ``model``.

    Raises CheckpointError for a missing or corrupt file, a checkpoint of another architecture
    or one whose state dict does not fit ``model``. Restores the optimizer and the RNG states
    when asked; returns the whole checkpoint dict (``epoch``, ``config``, ``history``, ...).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(
            f"checkpoint '{p}' does not exist; train the model first or pass the path of an existing checkpoint"
        )
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(
            f"checkpoint '{p}' is corrupt or not a scenecolor checkpoint ({type(exc).__name__}: {str(exc)[:160]}); "
            "delete it and train again"
        ) from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED_KEYS):
        raise CheckpointError(
            f"checkpoint '{p}' lacks the fields {_REQUIRED_KEYS}; it was not written by "
            "scenecolor.core.training.save_checkpoint - retrain"
        )
    if ckpt["arch"] != arch:
        raise CheckpointError(
            f"checkpoint '{p}' was written for architecture '{ckpt['arch']}', not '{arch}'; "
            f"pass a '{arch}' checkpoint or build a '{ckpt['arch']}' model to load it"
        )
    if model is not None:
        _check_state_dict(p, model, ckpt["model"])
        unwrap(model).load_state_dict(ckpt["model"])
    if optimizer is not None:
        if ckpt.get("optimizer") is None:
            raise CheckpointError(
                f"checkpoint '{p}' holds no optimizer state, so training cannot resume from it; start a fresh run"
            )
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(
                f"checkpoint '{p}': optimizer state does not fit ({exc}); resume with the same optimizer settings or "
                "start fresh"
            ) from None
    if restore_rng and ckpt.get("rng") is not None:
        set_rng_state(ckpt["rng"])
    return ckpt


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, Path):
        digest.update(b"file:")
        with open(value, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    elif isinstance(value, torch.Tensor):
        _feed(digest, value.detach().cpu().numpy())
    elif isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        digest.update(f"array:{arr.dtype.str}:{arr.shape}:".encode())
        digest.update(memoryview(arr).cast("B"))
    elif hasattr(value, "to_csv"):  # a pandas DataFrame or Series
        digest.update(b"frame:" + value.to_csv().encode())
    elif isinstance(value, dict):
        digest.update(b"dict:")
        for k in sorted(value, key=str):
            digest.update(repr(k).encode())
            _feed(digest, value[k])
    elif isinstance(value, (list, tuple)):
        digest.update(f"list:{len(value)}:".encode())
        for v in value:
            _feed(digest, v)
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def data_digest(*parts: Any) -> str:
    """sha256 of what a model trains and validates on: files (as ``Path``), arrays, tensors, tables, plain values.

    Trainers store it in the checkpoint's ``config["data_digest"]``; :func:`try_resume` resumes only
    when it is unchanged, so a checkpoint never outlives the data (or the upstream artifacts) it was
    trained on.
    """
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()


# -- scale-out ---------------------------------------------------------------------------------
def try_resume(
    path: str | os.PathLike[str],
    *,
    arch: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    train_key: dict[str, Any],
    data_digest: str,
    log: Any,
    config_checks: dict[str, Any] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Restore ``path`` when it was written with the same settings on the same data; returns (start epoch, history).

    ``train_key`` is the checkpoint's ``config["train"]`` without ``epochs`` (so a finished run can be
    extended), ``data_digest`` (:func:`data_digest` of everything the model trains and validates on,
    upstream artifacts included) must equal the checkpoint's ``config["data_digest"]``, and every
    ``config_checks`` item must equal the checkpoint's ``config`` entry. A checkpoint written with other
    settings or on other data is ignored: a fresh run starts and replaces it after its first epoch.
    A corrupt file or one of another architecture raises :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        return 0, []
    config = load_checkpoint(path, arch=arch, restore_rng=False).get("config") or {}
    if config.get("data_digest") != data_digest:
        log(
            f"checkpoint {path} was trained on other data (its inputs changed since, or it predates data "
            "digests); starting a fresh run (it is replaced after epoch 1)"
        )
        return 0, []
    saved = config.get("train")
    same = (
        saved is not None
        and {k: v for k, v in saved.items() if k != "epochs"} == train_key
        and all(config.get(k) == v for k, v in (config_checks or {}).items())
    )
    if not same:
        log(f"checkpoint {path} was trained with other settings; starting a fresh run (it is replaced after epoch 1)")
        return 0, []
    ckpt = load_checkpoint(path, arch=arch, model=model, optimizer=optimizer, restore_rng=True)
    log(f"resumed from {path} after epoch {ckpt['epoch']}")
    return int(ckpt["epoch"]), list(ckpt["history"])


def torchrun_command(
    module: str, args: list[str], nproc: int, *, nnodes: int = 1, python: str | None = None
) -> list[str]:
    """The command line that runs ``python -m module args`` on ``nproc`` processes via torchrun.

    One node uses ``--standalone`` (a free local rendezvous port); for several nodes pass
    ``nnodes`` and add the rendezvous arguments (``--rdzv-endpoint`` ...) of your cluster.
    """
    if nproc < 1:
        raise ParameterError(f"nproc={nproc}: the number of processes per node must be at least 1")
    cmd = [python or sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    cmd += ["--standalone"] if nnodes == 1 else ["--nnodes", str(nnodes)]
    return cmd + ["-m", module, *[str(a) for a in args]]
