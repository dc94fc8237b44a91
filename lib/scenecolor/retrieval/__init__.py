"""scenecolor.retrieval."""
