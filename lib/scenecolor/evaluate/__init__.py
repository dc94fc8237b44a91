"""scenecolor.evaluate."""
