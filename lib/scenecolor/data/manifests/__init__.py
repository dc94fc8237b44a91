"""scenecolor.data.manifests."""
