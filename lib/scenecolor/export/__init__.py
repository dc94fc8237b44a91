"""scenecolor.export."""
