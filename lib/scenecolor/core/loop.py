"""The one training loop of every network: resume, per-epoch RNG, DDP reductions, history, checkpoints.

A trainer hands :func:`train_epochs` its model, its optimizer and two functions: ``step`` (one
batch's loss, plus any statistics worth averaging) and ``validate`` (the validation scores), with
the few hooks that are its own (a learning-rate schedule, what happens after an epoch's history
row, the log line). The loop owns what must be the same for every network, so that one process,
``torchrun`` with DistributedDataParallel, and a run interrupted and resumed all behave alike:

- resume from the checkpoint when it was written with the same settings on the same data
  (:func:`scenecolor.core.training.try_resume`; it restores model, optimizer and RNG states);
- history row 0 is the validation before training;
- every random choice of epoch ``e`` on rank ``r`` comes from ``np.random.default_rng([seed, e, r])``
  handed to ``step``, so resuming after epoch ``e`` continues with exactly the draws of epoch ``e + 1``;
- train mode for the steps, eval mode (and no autograd) for validation;
- after the steps: BatchNorm statistics averaged over the ranks (every rank then holds the same
  model), the step statistics summed over the ranks, one history row (``train_<stat>`` = the
  mean over every rank's steps, the validation scores, ``seconds``), the checkpoint, a barrier and
  one log line on the main rank.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from scenecolor.core import training
from scenecolor.core.errors import ParameterError

# (the DDP-wrapped model, epoch 1.., batch index 0.., the epoch's generator) -> (loss to minimise, {stat: value})
Step = Callable[[nn.Module, int, int, np.random.Generator], tuple[torch.Tensor, dict[str, float]]]
# (an optimizer param group, global step 0.., steps of the whole run) -> that group's learning rate
Schedule = Callable[[dict[str, Any], int, int], float]


@dataclass
class TrainResult:
    """A finished (or stopped) training run: the model (eval mode), its per-epoch history, its checkpoint."""

    model: nn.Module
    history: list[dict[str, Any]]
    checkpoint: Path
    resumed_from_epoch: int  # the epoch the run resumed after (0: a fresh run; -1: unknown, e.g. after torchrun)


def _describe(row: dict[str, Any]) -> str:
    return " | ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float) and k != "seconds")


def train_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    step: Step,
    validate: Callable[[], dict[str, Any]],
    checkpoint: str | os.PathLike[str],
    arch: str,
    config: dict[str, Any],
    resume_key: dict[str, Any],
    epochs: int,
    batches_per_epoch: int,
    seed: int,
    info: training.DistInfo,
    stats: Sequence[str] = (),
    resume_checks: Sequence[str] = (),
    clip_grad: float | None = None,
    schedule: Schedule | None = None,
    after_epoch: Callable[[list[dict[str, Any]]], None] | None = None,
    describe: Callable[[dict[str, Any]], str] = _describe,
    resume: bool = True,
    stop_after: int | None = None,
    progress: bool = True,
    log: Callable[[str], Any] = print,
) -> TrainResult:
    """Train ``model`` for ``epochs`` epochs of ``batches_per_epoch`` batches (shared by the ranks).

    Args:
        model: the plain module, already on ``info.device`` and built from the seed (the loop wraps it in DDP).
        optimizer: its optimizer; after ``step`` the loop zeroes the gradients, back-propagates the loss,
            clips the gradient norm to ``clip_grad`` (when set) and steps it.
        step: one batch: ``(net, epoch, batch, rng) -> (loss, {name: value})`` with a value for every name
            of ``stats``; ``net`` is the DDP-wrapped model (forward through it so gradients are averaged).
        validate: the validation scores (plain floats), computed in eval mode without autograd.
        checkpoint: the resumable checkpoint written after every epoch.
        arch: the architecture name stored in (and required of) the checkpoint.
        config: the checkpoint's config; it must hold ``data_digest`` (:func:`training.data_digest` of the
            data), which a checkpoint must share to be resumed.
        resume_key: the training settings a checkpoint must share to be resumed (all but the epoch count).
        epochs, seed: from the training settings.
        info: this process's place in the job (:func:`training.setup_distributed`).
        stats: names of the statistics ``step`` returns besides the loss (history: ``train_<name>``).
        resume_checks: further ``config`` entries a resumed checkpoint must share.
        schedule: sets every param group's learning rate before each step (a pure function of the step, so
            it resumes exactly).
        after_epoch: called with the history after each new row (row 0 included), before the checkpoint;
            it may change the model and the last row (e.g. to keep the best epoch's weights).
        describe: the epoch's log line from its history row (the loop adds the epoch and the seconds).
        resume: continue from ``checkpoint`` when it fits; False starts afresh (and replaces it).
        stop_after: stop after this epoch (an interruption; the checkpoint stays).
        progress: show a progress bar (main rank only).
        log: where the main rank's messages go.

    Returns:
        the model in eval mode, the history (epoch 0 = before training) and where the checkpoint is.
    """
    if "data_digest" not in config:
        raise ParameterError(
            "the checkpoint config lacks 'data_digest' (training.data_digest of the training and validation data); "
            "add it, or a checkpoint could be resumed on other data"
        )
    ckpt = Path(checkpoint)
    say = log if info.is_main else (lambda *_: None)
    start, history = (
        training.try_resume(
            ckpt,
            arch=arch,
            model=model,
            optimizer=optimizer,
            train_key=resume_key,
            data_digest=config["data_digest"],
            log=say,
            config_checks={k: config[k] for k in resume_checks},
        )
        if resume
        else (0, [])
    )
    names = ("loss", *stats)

    def validation() -> dict[str, Any]:
        model.eval()
        with torch.no_grad():
            return validate()

    if start == 0:
        history = [{"epoch": 0, **{f"train_{n}": None for n in names}, **validation(), "seconds": 0.0}]
        if after_epoch is not None:
            after_epoch(history)
    net = training.wrap_ddp(model, info)
    per_rank = max(1, math.ceil(batches_per_epoch / info.world_size))
    total_steps = per_rank * epochs
    last = epochs if stop_after is None else min(epochs, stop_after)
    for epoch in range(start + 1, last + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([seed, epoch, info.rank])
        net.train()
        sums = [0.0] * (len(names) + 1)  # each statistic, then the number of steps
        bar = tqdm(
            range(per_rank), desc=f"epoch {epoch}/{epochs}", disable=not (progress and info.is_main), leave=False
        )
        for b in bar:
            if schedule is not None:
                for group in optimizer.param_groups:
                    group["lr"] = schedule(group, (epoch - 1) * per_rank + b, total_steps)
            loss, extra = step(net, epoch, b, rng)
            if missing := [n for n in stats if n not in extra]:
                raise ParameterError(
                    f"the step returned no statistic {missing} of stats={list(stats)}; return them all"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            values = [loss.item(), *(extra[n] for n in stats), 1]
            sums = [s + v for s, v in zip(sums, values)]
            bar.set_postfix(loss=f"{sums[0] / sums[-1]:.3f}")
        training.average_buffers(net, info)
        total = training.all_reduce_sum(sums, info)
        history.append(
            {
                "epoch": epoch,
                **{f"train_{n}": t / total[-1] for n, t in zip(names, total)},
                **validation(),
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        if after_epoch is not None:
            after_epoch(history)
        training.save_checkpoint(
            ckpt, arch=arch, model=model, optimizer=optimizer, epoch=epoch, config=config, history=history
        )
        training.barrier(info)
        say(f"epoch {epoch}: {describe(history[-1])} | {history[-1]['seconds']:.1f} s")
    model.eval()
    return TrainResult(model=model, history=history, checkpoint=ckpt, resumed_from_epoch=start)
