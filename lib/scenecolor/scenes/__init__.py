"""scenecolor.scenes."""
