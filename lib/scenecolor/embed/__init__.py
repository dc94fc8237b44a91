"""scenecolor.embed."""
