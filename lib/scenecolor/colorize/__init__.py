"""scenecolor.colorize."""
