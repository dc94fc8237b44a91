"""scenecolor.core."""
