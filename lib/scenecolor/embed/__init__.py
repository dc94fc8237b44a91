"""The retrieval embedder: a ResNet with GeM pooling trained with triplets on grey queries."""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "EmbedderConfig": "scenecolor.embed.config",
    "TrainConfig": "scenecolor.embed.config",
    "Embedder": "scenecolor.embed.model",
    "build_embedder": "scenecolor.embed.model",
    "load_embedder": "scenecolor.embed.model",
    "embed_frames": "scenecolor.embed.model",
    "load_trained_embedder": "scenecolor.embed.checkpoint",
    "train_embedder": "scenecolor.embed.train",
    "save_embedder": "scenecolor.embed.train",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
