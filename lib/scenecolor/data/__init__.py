"""scenecolor.data."""
