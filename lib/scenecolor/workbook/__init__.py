"""scenecolor.workbook."""
