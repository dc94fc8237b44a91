"""Reference retrieval: feature stores and faiss indexes, user galleries, per-scene references and
their scores.
"""

from __future__ import annotations

from scenecolor.core.lazy import lazy_exports

#: public name -> the module that defines it
EXPORTS = {
    "FeatureStore": "scenecolor.retrieval.index",
    "SearchIndex": "scenecolor.retrieval.index",
    "build_index": "scenecolor.retrieval.index",
    "write_index": "scenecolor.retrieval.index",
    "read_index": "scenecolor.retrieval.index",
    "query_encoder": "scenecolor.retrieval.index",
    "pool_encoder": "scenecolor.retrieval.index",
    "search_aggregated": "scenecolor.retrieval.index",
    "Gallery": "scenecolor.retrieval.gallery",
    "build_gallery": "scenecolor.retrieval.gallery",
    "POOLS": "scenecolor.retrieval.references",
    "select_references": "scenecolor.retrieval.references",
    "write_references": "scenecolor.retrieval.references",
    "read_references": "scenecolor.retrieval.references",
    "scene_query_frames": "scenecolor.retrieval.references",
    "retrieval_scores": "scenecolor.retrieval.metrics",
}
__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
