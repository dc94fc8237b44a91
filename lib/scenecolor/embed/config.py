"""The embedder's settings: network and training, plain validated data stored in every checkpoint.

Importable without torch, so the CLI lists its options (``scenecolor embed-train --help``) at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scenecolor.core.errors import ParameterError

BACKBONES: dict[str, int] = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}  # name -> embedding dim
LAYER3_CHANNELS: dict[str, int] = {"resnet18": 256, "resnet34": 256, "resnet50": 1024}  # name -> layer3 width
# How the feature map becomes one vector:
#   gem      - the paper's: the last stage (layer4), one GeM over the whole map;
#   regional - layer3 (stride 16, finer than layer4's 32), one GeM over the whole map plus one per cell of a
#              grid x grid layout, each L2-normalised: the vector keeps where things are in the frame,
#              which tells two pans over one photo apart (a global pool cannot).
POOLINGS = ("gem", "regional")


@dataclass(frozen=True)
class EmbedderConfig:
    """What builds an :class:`Embedder` (stored in its checkpoint)."""

    backbone: str = "resnet50"
    p_init: float = 3.0
    eps: float = 1e-6
    pooling: str = "gem"
    grid: int = 3  # cells per side of the regional pooling (unused by gem)

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ParameterError(f"backbone '{self.backbone}' is not supported; choose one of {sorted(BACKBONES)}")
        if self.pooling not in POOLINGS:
            raise ParameterError(f"pooling '{self.pooling}' is not supported; choose one of {list(POOLINGS)}")
        if not 1 <= self.grid <= 8:
            raise ParameterError(f"regional pooling grid must be 1..8 cells per side, got {self.grid}")

    @property
    def dim(self) -> int:
        """Length of the embedding: the last stage's width (gem), or layer3's times (1 + grid^2) (regional)."""
        if self.pooling == "regional":
            return LAYER3_CHANNELS[self.backbone] * (1 + self.grid * self.grid)
        return BACKBONES[self.backbone]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (stored in the checkpoint)."""

    backbone: str = "resnet18"
    pretrained: str = "auto"  # "auto" = local torch cache if it has ImageNet weights, "none", or a path
    input_size: int = 64  # frames are resized from the store's 224 to this side for training
    epochs: int = 2
    batches_per_epoch: int = 0  # 0 = one pass over the training frames (n_train / batch size)
    shots_per_batch: int = 8  # P
    frames_per_shot: int = 2  # K
    margin: float = 0.3
    mining: str = "semihard"
    augment: bool = False  # random resized crops and flips of the training frames (colours untouched)
    pairing: str = "grey"  # grey | grey_anchor | color: how grey queries and colour gallery frames are encoded
    pooling: str = "gem"  # gem (paper: last stage, global) | regional (layer3, global + grid x grid cells)
    grid: int = 3  # cells per side of the regional pooling
    lr: float = 1e-3
    weight_decay: float = 1e-4
    val_triplets: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        self.model_config()  # validates backbone, pooling and grid
        checks = {
            "input_size": self.input_size >= 32,
            "epochs": self.epochs >= 1,
            "batches_per_epoch": self.batches_per_epoch >= 0,
            "shots_per_batch": self.shots_per_batch >= 2,
            "frames_per_shot": self.frames_per_shot >= 2,
            "margin": self.margin > 0,
            "mining": self.mining in ("random", "semihard"),
            "pairing": self.pairing in ("grey", "grey_anchor", "color"),
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "val_triplets": self.val_triplets >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ParameterError(
                f"embedder training parameter(s) out of range: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}"
            )

    def model_config(self) -> EmbedderConfig:
        """The network these settings train."""
        return EmbedderConfig(backbone=self.backbone, pooling=self.pooling, grid=self.grid)

    def resume_key(self) -> dict[str, Any]:
        """The fields a resumed run must share with its checkpoint (all but the epoch count)."""
        return {k: v for k, v in asdict(self).items() if k != "epochs"}
