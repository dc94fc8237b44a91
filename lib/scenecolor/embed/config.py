"""The embedder's settings: network and training, plain validated data stored in every checkpoint.

Importable without torch, so the CLI lists the options of ``scenecolor embed-train`` at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from scenecolor.core.errors import ParameterError, validated

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


@validated
class TrainConfig:
    """Everything that decides the trained weights (stored in the checkpoint); a bad value raises ParameterError.

    These fields, with their ranges and descriptions, are the embedder-training step's parameters as well.
    """

    backbone: Annotated[
        Literal["resnet18", "resnet34", "resnet50"],
        Field(description="torchvision ResNet without its classifier (paper: resnet50)"),
    ] = "resnet18"
    pretrained: Annotated[
        str,
        Field(
            description="'auto': ImageNet weights if in the local torch cache, 'none', or a .pth path "
            "(never downloaded)"
        ),
    ] = "auto"
    input_size: Annotated[
        int,
        Field(
            ge=32,
            le=512,
            description="side the 224x224 store frames are resized to for training and encoding (paper: 224)",
        ),
    ] = 64
    epochs: Annotated[int, Field(ge=1, le=1000, description="passes over the training frames")] = 2
    batches_per_epoch: Annotated[
        int, Field(ge=0, description="P x K batches per epoch; 0: one pass over the training frames")
    ] = 0
    shots_per_batch: Annotated[int, Field(ge=2, le=256, description="P: shots in a batch")] = 8
    frames_per_shot: Annotated[int, Field(ge=2, le=64, description="K: frames of each shot in a batch")] = 2
    margin: Annotated[
        float, Field(gt=0.0, le=2.0, description="triplet margin on the Euclidean distance of unit embeddings")
    ] = 0.3
    mining: Annotated[
        Literal["random", "semihard"],
        Field(description="negative choice within a batch: random or semi-hard (FaceNet)"),
    ] = "semihard"
    augment: Annotated[
        bool, Field(description="random resized crops and flips of training frames (colours untouched)")
    ] = False
    pairing: Annotated[
        Literal["grey", "grey_anchor", "color"],
        Field(
            description="grey queries vs colour frames: grey (both from L), grey_anchor (grey anchor), color (not "
            "the task)"
        ),
    ] = "grey"
    pooling: Annotated[
        Literal["gem", "regional"],
        Field(
            description="gem: last stage, global (paper); regional: layer3, global + grid x grid cells (keeps layout)"
        ),
    ] = "gem"
    grid: Annotated[int, Field(ge=1, le=8, description="cells per side of the regional pooling")] = 3
    lr: Annotated[float, Field(gt=0.0, le=1.0, description="AdamW learning rate (GeM's p learns 10x faster)")] = 1e-3
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0, description="AdamW weight decay (not applied to p)")] = 1e-4
    val_triplets: Annotated[
        int, Field(ge=1, le=100_000, description="fixed validation triplets for the triplet accuracy")
    ] = 256
    seed: Annotated[int, Field(ge=0, description="seed of the initialisation and of every batch")] = 0

    def model_config(self) -> EmbedderConfig:
        """The network these settings train."""
        return EmbedderConfig(backbone=self.backbone, pooling=self.pooling, grid=self.grid)

    def resume_key(self) -> dict[str, Any]:
        """The fields a resumed run must share with its checkpoint (all but the epoch count)."""
        return {k: v for k, v in asdict(self).items() if k != "epochs"}
