"""Training the colorizer: loss, validation, its batches and best-epoch selection, on the shared loop.

One function, :func:`train_colorizer`, serves the colorizer-training step and ``torchrun`` (``python -m
scenecolor.cli.train colorizer ...``, launched for N processes by :func:`train_colorizer_torchrun`).
It gives :func:`scenecolor.core.loop.train_epochs` one step, the validation, its learning-rate
schedule and the keep-best hook; the loop owns resume, the (seed, epoch, rank) generator of every
random choice, DDP reductions, the history and ``colorizer.pt`` written after every epoch, so a run
resumed from it ends with exactly the weights of one that never stopped.

Loss (the paper names none): Huber (smooth L1) on ab/110 plus, with weight ``temporal_weight``,
an L1 term on the change of ab between consecutive frames against the true change. Huber keeps
L2's smooth gradient for small errors but grows only linearly for large ones, so the network is
not pushed towards the grey mean of plausible colours as hard as with L2; the temporal term
penalises flicker the ground truth does not have.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field

from scenecolor.colorize.correspondence import FlowMethod, GuideConfig
from scenecolor.colorize.data import POOLS, ClipSet, build_clip_set, make_batch
from scenecolor.colorize.exemplar_data import ExemplarValSet, guides_for_clips, make_training_batch
from scenecolor.colorize.model import ARCH, ColorizerConfig, SceneColorizer, load_colorizer
from scenecolor.core import training
from scenecolor.core.artifacts import atomic_torch_save
from scenecolor.core.color import AB_SCALE, torch_lab_to_rgb
from scenecolor.core.errors import ScenecolorError, validated
from scenecolor.core.loop import TrainResult, train_epochs
from scenecolor.data.frames import FrameStore
from scenecolor.retrieval.references import read_references

CHECKPOINT = "colorizer.pt"
BEST_WEIGHTS = "best_weights.pt"  # the best epoch's weights so far (select_best), beside the checkpoint


@validated
class TrainConfig:
    """Everything that decides the trained weights (stored in the checkpoint); a bad value raises ParameterError.

    These fields, with their ranges and descriptions, are the colorizer-training step's parameters as well.
    """

    resolution: Annotated[
        int,
        Field(
            ge=16,
            le=512,
            multiple_of=16,
            description="working resolution, multiple of 16 (paper: 224; smaller so a CPU trains it)",
        ),
    ] = 64
    clip_len: Annotated[
        int, Field(ge=1, le=32, description="frames per training clip T (consecutive frame-store frames of one shot)")
    ] = 3
    max_refs: Annotated[
        int, Field(ge=1, le=5, description="references per clip R are drawn from 1..max_refs for each batch")
    ] = 5
    ref_pool: Annotated[
        Literal["in_domain", "open", "mix"],
        Field(description="references that train the network: same-shot neighbours, other videos, or both"),
    ] = "mix"
    val_pool: Annotated[
        Literal["in_domain", "open"],
        Field(description="references used for validation (open: what test scenes get)"),
    ] = "open"
    epochs: Annotated[int, Field(ge=1, le=1000, description="training epochs (paper: 100)")] = 2
    batches_per_epoch: Annotated[int, Field(ge=0, description="0: one pass over the training clips")] = 0
    batch_size: Annotated[int, Field(ge=1, le=512, description="clips per batch")] = 4
    lr: Annotated[float, Field(gt=0, le=1.0, description="AdamW learning rate (cosine decay to 0)")] = 2e-3
    weight_decay: Annotated[float, Field(ge=0, description="AdamW weight decay")] = 1e-4
    huber_delta: Annotated[float, Field(gt=0, description="Huber loss threshold in units of ab/110")] = 0.05
    temporal_weight: Annotated[
        float, Field(ge=0, description="weight of the temporal term (L1 of the frame-to-frame ab change)")
    ] = 0.2
    hue_prob: Annotated[
        float, Field(ge=0, le=1, description="share of clips whose ab and references' ab share a random hue rotation")
    ] = 0.5
    foreign_prob: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="share of training clips given the references of another video (unrelated references)",
        ),
    ] = 0.25
    val_clips: Annotated[int, Field(ge=1, description="fixed validation clips spread over the val split")] = 32
    width: Annotated[
        float, Field(gt=0, le=1.0, description="multiplier of every channel width (1.0: the full network)")
    ] = 1.0
    exemplar_prob: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="share of batches whose first reference is another augmented frame of the shot (teaches "
            "copying)",
        ),
    ] = 0.7
    corr_weight: Annotated[
        float, Field(ge=0, description="weight of the loss on the attention-warped ab of the correspondence stage")
    ] = 0.3
    flow_method: Annotated[FlowMethod, Field(description="optical flow of the correspondence stage (OpenCV)")] = (
        "dis_fast"
    )
    exemplar_val_shots: Annotated[
        int, Field(ge=1, description="val shots scored under the exemplar protocol (first frame: the only reference)")
    ] = 16
    select_best: Annotated[
        bool,
        Field(description="end with the weights of the epoch (0: untrained included) with the best exemplar val PSNR"),
    ] = True
    calib_lr_scale: Annotated[
        float, Field(gt=0, description="learning-rate multiplier of the calibration scalars (CALIBRATION_PARAMS)")
    ] = 30.0
    seed: Annotated[int, Field(ge=0, description="seed of the initialisation and of every batch")] = 0

    def model_config(self) -> ColorizerConfig:
        """The network this run trains: the default widths scaled by ``width``, at ``resolution``."""
        base = ColorizerConfig()

        def scale(chs: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(max(4, int(round(c * self.width))) for c in chs)

        return ColorizerConfig(
            resolution=self.resolution,
            pre_channels=scale(base.pre_channels),  # type: ignore[arg-type]
            pre_out=scale((base.pre_out,))[0],
            path_channels=scale(base.path_channels),
            dim=scale((base.dim,))[0],
            attn_dim=scale((base.attn_dim,))[0],
            dec_channels=scale(base.dec_channels),  # type: ignore[arg-type]
            max_refs=self.max_refs,
        )

    def guide_config(self) -> GuideConfig:
        """The flow candidates' settings (inference uses the same, read from the checkpoint)."""
        return GuideConfig(method=self.flow_method)  # type: ignore[arg-type]

    def resume_key(self) -> dict[str, Any]:
        """The fields a resumed run must share with its checkpoint (all but the epoch count)."""
        return {k: v for k, v in asdict(self).items() if k != "epochs"}


# scalars that set how far each candidate is trusted (fusion gains and biases, the attention's temperature and
# confidence): they start from hand-set values and are few, so they take a larger learning rate than the weights
CALIBRATION_PARAMS = (
    "decoder.fusion.beta",
    "decoder.fusion.gain",
    "decoder.fusion.bias",
    "correspondence.log_temperature",
    "correspondence.conf_gain",
    "correspondence.conf_bias",
)


def parameter_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: the network's weights at ``lr``, the calibration scalars at ``lr * calib_lr_scale``
    (each group keeps its ``lr_scale``, which the schedule multiplies in)."""
    calib = [p for n, p in model.named_parameters() if n in CALIBRATION_PARAMS]
    rest = [p for n, p in model.named_parameters() if n not in CALIBRATION_PARAMS]
    return [
        {"params": rest, "lr": cfg.lr, "lr_scale": 1.0},
        {"params": calib, "lr": cfg.lr * cfg.calib_lr_scale, "lr_scale": cfg.calib_lr_scale, "weight_decay": 0.0},
    ]


def colorization_loss(
    pred_ab: torch.Tensor, true_ab: torch.Tensor, huber_delta: float, temporal_weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Huber on ab/110 plus ``temporal_weight`` x L1 of the frame-to-frame ab change ([B,2,T,H,W])."""
    pred, true = pred_ab / AB_SCALE, true_ab / AB_SCALE
    huber = F.smooth_l1_loss(pred, true, beta=huber_delta)  # Huber: quadratic below delta, then linear
    if pred.shape[2] > 1 and temporal_weight > 0:
        temporal = F.l1_loss(pred[:, :, 1:] - pred[:, :, :-1], true[:, :, 1:] - true[:, :, :-1])
    else:
        temporal = pred.new_zeros(())
    total = huber + temporal_weight * temporal
    return total, {"huber": float(huber.detach()), "temporal": float(temporal.detach())}


def psnr_rgb(gray: torch.Tensor, pred_ab: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
    """PSNR (dB, peak 1 = 255 on 8 bits) of L + predicted ab against L + true ab in RGB, per clip."""
    lightness = gray * 100.0
    pred = torch_lab_to_rgb(torch.cat([lightness, pred_ab], dim=1), dim=1)
    true = torch_lab_to_rgb(torch.cat([lightness, true_ab], dim=1), dim=1)
    mse = ((pred - true) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, data: ClipSet, cfg: TrainConfig, device: torch.device, n_refs: int | None = None
) -> dict[str, float]:
    """Loss and RGB PSNR on fixed validation clips with ``n_refs`` (default max_refs) references,
    beside two reference lines on the same clips: the grey output (ab = 0) and the references'
    mean ab painted everywhere (what Reinhard's global transfer does to a grey frame)."""
    was_training = model.training
    model.eval()
    n_refs = n_refs or cfg.max_refs
    losses, psnrs, gray_psnrs, mean_psnrs = [], [], [], []
    for start in range(0, len(data), cfg.batch_size):
        idx = list(range(start, min(len(data), start + cfg.batch_size)))
        gray, refs, true_ab = make_batch(data, idx, n_refs, cfg.val_pool)
        guide = guides_for_clips(gray, refs, cfg.guide_config())
        gray, refs, true_ab, guide = (t.to(device) for t in (gray, refs, true_ab, guide))
        pred = model(gray, refs, guide)
        loss, _ = colorization_loss(pred, true_ab, cfg.huber_delta, cfg.temporal_weight)
        losses.append(float(loss) * len(idx))
        psnrs += psnr_rgb(gray, pred, true_ab).tolist()
        gray_psnrs += psnr_rgb(gray, torch.zeros_like(pred), true_ab).tolist()
        mean_ab = refs[:, :, 1:].mean(dim=(1, 3, 4))[:, :, None, None, None].expand_as(pred)
        mean_psnrs += psnr_rgb(gray, mean_ab, true_ab).tolist()
    model.train(was_training)
    return {
        "val_loss": sum(losses) / len(data),
        "val_psnr": float(np.mean(psnrs)),
        "val_psnr_gray": float(np.mean(gray_psnrs)),
        "val_psnr_mean_ab": float(np.mean(mean_psnrs)),
    }


@torch.no_grad()
def evaluate_exemplar(model: torch.nn.Module, shots: ExemplarValSet, device: torch.device) -> dict[str, float]:
    """The exemplar protocol on val shots (first frame = the only reference, the others scored):
    PSNR of ours, of its attention-warped ab alone (the learned correspondence), of the flow
    candidate alone (the reference's ab warped by the flow), of the most confident flow candidate
    (no learning) and of the reference's ab pasted in place."""
    was_training = model.training
    model.eval()
    ours, attention, flow, best, paste = [], [], [], [], []
    for shot in shots.shots:
        gray, ref, true_ab, guide = (t.to(device) for t in shots.tensors(shot))
        pred, cand_ab, _, _ = model(gray, ref, guide, detailed=True)
        ours += psnr_frames(gray, pred, true_ab)
        attention += psnr_frames(gray, cand_ab[:, 6:8] * AB_SCALE, true_ab)
        flow += psnr_frames(gray, guide[:, 0:2] * AB_SCALE, true_ab)
        confs = guide[:, 2::3]  # [1, 3, T, S, S]
        abs_ = torch.stack([guide[:, 0:2], guide[:, 3:5], guide[:, 6:8]], dim=1)  # [1, 3, 2, T, S, S]
        pick = confs.argmax(1, keepdim=True).unsqueeze(2).expand(-1, -1, 2, -1, -1, -1)
        best += psnr_frames(gray, abs_.gather(1, pick)[:, 0] * AB_SCALE, true_ab)
        paste += psnr_frames(gray, ref[:, 0, 1:].unsqueeze(2).expand_as(true_ab), true_ab)
    model.train(was_training)
    return {
        "val_psnr_exemplar": float(np.mean(ours)),
        "val_psnr_exemplar_attention": float(np.mean(attention)),
        "val_psnr_exemplar_flow": float(np.mean(flow)),
        "val_psnr_exemplar_best_candidate": float(np.mean(best)),
        "val_psnr_exemplar_paste": float(np.mean(paste)),
    }


def psnr_frames(gray: torch.Tensor, pred_ab: torch.Tensor, true_ab: torch.Tensor) -> list[float]:
    """Per-frame RGB PSNR of [1, 2, T, S, S] ab against the truth (L from ``gray``)."""
    b, _, t, h, w = pred_ab.shape
    fr = lambda x: x.permute(0, 2, 1, 3, 4).reshape(b * t, -1, h, w)  # noqa: E731
    return psnr_rgb(fr(gray), fr(pred_ab), fr(true_ab)).tolist()


def evaluate_pools(model: torch.nn.Module, data: ClipSet, cfg: TrainConfig) -> pd.DataFrame:
    """Validation with the references of each pool (open: other footage; in_domain: the shot's own
    frames when the pool has them): PSNR of ours beside the grey output's, and the loss (on the model's device)."""
    rows = []
    for pool in POOLS:
        scores = evaluate(model, data, dataclasses.replace(cfg, val_pool=pool), next(model.parameters()).device)
        rows.append(
            {
                "references": pool,
                "PSNR ours (dB)": scores["val_psnr"],
                "PSNR grey (dB)": scores["val_psnr_gray"],
                "PSNR refs' mean ab (dB)": scores["val_psnr_mean_ab"],
                "gain over grey (dB)": scores["val_psnr"] - scores["val_psnr_gray"],
                "gain over mean ab (dB)": scores["val_psnr"] - scores["val_psnr_mean_ab"],
                "loss": scores["val_loss"],
            }
        )
    return pd.DataFrame(rows).set_index("references")


def _pool_for_batch(cfg: TrainConfig, rng: np.random.Generator) -> str:
    return cfg.ref_pool if cfg.ref_pool != "mix" else POOLS[int(rng.integers(0, 2))]


def train_colorizer(
    train_set: ClipSet,
    val_set: ClipSet,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    info: training.DistInfo | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    progress: bool = True,
    log: Any = print,
) -> TrainResult:
    """Train on ``train_set``, validate on ``val_set``, write ``out_dir/colorizer.pt`` after every epoch.

    Args:
        train_set, val_set: clips with references (:func:`build_clip_set`).
        cfg: the training settings.
        out_dir: where ``colorizer.pt`` is written.
        info: the process's place in a DDP job (default: one process, CUDA if available).
        resume: continue from ``colorizer.pt`` when it was written with the same settings.
        stop_after: stop after this epoch (simulates an interruption; the checkpoint stays).
    """
    info = info or training.setup_distributed()
    torch.manual_seed(cfg.seed)
    model = SceneColorizer(cfg.model_config()).to(info.device)
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    exemplar_val = ExemplarValSet.build(val_set, cfg.guide_config(), max_shots=cfg.exemplar_val_shots)
    best_path = Path(out_dir) / BEST_WEIGHTS

    def step(net: torch.nn.Module, epoch: int, b: int, rng: np.random.Generator) -> tuple[torch.Tensor, dict]:
        order = training.shard_indices(range(len(train_set)), info, shuffle=True, seed=cfg.seed, epoch=epoch)
        idx = [order[(b * cfg.batch_size + j) % len(order)] for j in range(cfg.batch_size)]
        n_refs = int(rng.integers(1, cfg.max_refs + 1))
        exemplar = bool(rng.random() < cfg.exemplar_prob)
        batch = make_training_batch(
            train_set,
            idx,
            n_refs,
            _pool_for_batch(cfg, rng),
            rng,
            cfg.guide_config(),
            exemplar=exemplar,
            hue_prob=cfg.hue_prob,
            foreign_prob=cfg.foreign_prob,
        )
        gray, refs, true_ab, guide = (t.to(info.device) for t in batch)
        pred, cand_ab, _, weights = net(gray, refs, guide, detailed=True)
        loss, _ = colorization_loss(pred, true_ab, cfg.huber_delta, cfg.temporal_weight)
        if cfg.corr_weight > 0:
            # the attention-warped ab itself should already be the right colour, and so should the blend of
            # the candidates before the correction (this teaches the fusion weights where to trust which)
            n, _, t, h, w = cand_ab.shape
            blend = (cand_ab.reshape(n, 4, 2, t, h, w) * weights.unsqueeze(2)).sum(1)
            target = true_ab / AB_SCALE
            loss = loss + cfg.corr_weight * (
                F.smooth_l1_loss(cand_ab[:, 6:8], target, beta=cfg.huber_delta)
                + F.smooth_l1_loss(blend, target, beta=cfg.huber_delta)
            )
        return loss, {}

    def schedule(group: dict[str, Any], i: int, total: int) -> float:
        """Warm-up, then cosine decay: a pure function of the step ``i``, so a resumed run continues it exactly."""
        warm = min(1.0, (i + 1) / max(1, total // 5))  # the untrained fusion is already good: ease in
        return group["lr_scale"] * cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * i / total))

    def validate() -> dict[str, float]:
        return {**evaluate(model, val_set, cfg, info.device), **evaluate_exemplar(model, exemplar_val, info.device)}

    def keep_best(history: list[dict[str, Any]]) -> None:
        """With select_best: keep the best epoch's weights so far (by exemplar val PSNR); end with them."""
        if not cfg.select_best:
            return
        scores = [h["val_psnr_exemplar"] for h in history]
        if info.is_main and scores[-1] >= max(scores):
            atomic_torch_save(best_path, {"epoch": history[-1]["epoch"], "state": model.state_dict()})
        if history[-1]["epoch"] == cfg.epochs:
            training.barrier(info)  # every rank reads the file the main rank has just written
            if not best_path.is_file():
                return
            best = torch.load(best_path, weights_only=True)
            if best["epoch"] != cfg.epochs:  # a later epoch did not beat it on validation: keep the better weights
                model.load_state_dict(best["state"])
            history[-1]["selected_epoch"] = int(best["epoch"])

    def describe(h: dict[str, Any]) -> str:
        return (
            f"train loss {h['train_loss']:.4f} | val loss {h['val_loss']:.4f} PSNR {h['val_psnr']:.2f} dB (grey "
            f"{h['val_psnr_gray']:.2f}, refs' mean ab {h['val_psnr_mean_ab']:.2f}) | exemplar PSNR "
            f"{h['val_psnr_exemplar']:.2f} dB (flow {h['val_psnr_exemplar_flow']:.2f}, paste "
            f"{h['val_psnr_exemplar_paste']:.2f})"
        )

    return train_epochs(
        model,
        optimizer,
        step=step,
        validate=validate,
        checkpoint=Path(out_dir) / CHECKPOINT,
        arch=ARCH,
        config=checkpoint_config(model.cfg, cfg, clips_digest(train_set, val_set)),
        resume_key=cfg.resume_key(),
        epochs=cfg.epochs,
        batches_per_epoch=cfg.batches_per_epoch or max(1, math.ceil(len(train_set) / cfg.batch_size)),
        seed=cfg.seed,
        info=info,
        clip_grad=1.0,
        schedule=schedule,
        after_epoch=keep_best,
        describe=describe,
        resume=resume,
        stop_after=stop_after,
        progress=progress,
        log=log,
    )


def checkpoint_config(model_cfg: ColorizerConfig, cfg: TrainConfig, data_digest: str = "") -> dict[str, Any]:
    """The ``config`` of a colorizer checkpoint: the network's and the training's settings, and its data's digest."""
    return {"model": model_cfg.to_dict(), "train": asdict(cfg), "data_digest": data_digest}


def clips_digest(*clip_sets: ClipSet) -> str:
    """Digest of the training and validation clips (frames, clip windows, each clip's references from step 03).

    It is the data part of the resume key: re-running the data-prep or reference-selection step changes it, so a stale
    ``colorizer.pt`` is not resumed.
    """
    return training.data_digest(*(vars(c) for c in clip_sets))


def history_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-epoch history as a table (epoch 0 = before training)."""
    return pd.DataFrame(history).set_index("epoch")


def load_training_data(store: FrameStore, references_csv: str | Path, cfg: TrainConfig) -> tuple[ClipSet, ClipSet]:
    """Train clips (every window) and fixed validation clips (``val_clips`` spread over the val split)."""
    table = read_references(references_csv)
    train = build_clip_set(store, table, "train", resolution=cfg.resolution, clip_len=cfg.clip_len)
    val = build_clip_set(store, table, "val", resolution=cfg.resolution, clip_len=cfg.clip_len, max_clips=cfg.val_clips)
    return train, val


def train_colorizer_torchrun(
    store_dir: str | Path,
    references_csv: str | Path,
    cfg: TrainConfig,
    out_dir: str | Path,
    nproc: int,
    *,
    resume: bool = True,
    device: str = "auto",
) -> TrainResult:
    """Train with ``nproc`` DDP processes (torchrun, ``python -m scenecolor.cli.train colorizer``) on ``device``;
    load the result."""
    args = ["colorizer", "--store", str(store_dir), "--references", str(references_csv), "--out", str(out_dir)]
    args += [*training.config_argv(cfg), "--device", device, *([] if resume else ["--no-resume"])]
    proc = subprocess.run(training.torchrun_command(training.TRAIN_ENTRY, args, nproc), capture_output=True, text=True)
    if proc.returncode != 0:
        raise ScenecolorError(
            f"torchrun training with {nproc} processes failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
        )
    model, ckpt = load_colorizer(Path(out_dir) / CHECKPOINT)
    return TrainResult(
        model=model, history=list(ckpt["history"]), checkpoint=Path(out_dir) / CHECKPOINT, resumed_from_epoch=-1
    )
