"""Every figure quoted from the paper, in one place (Aydam & El Abbadi, 2025; SPEC.md's reading).

Nothing here is measured: each value is printed in the paper (or read from it as SPEC.md says)
and is shown in the notebooks and the report labelled *quoted*, beside our measurement and a
baseline measured in the same run. Notebooks import these names instead of retyping numbers.
"""

from __future__ import annotations

import pandas as pd

# -- data (section 4.1) -------------------------------------------------------------------------
VIDEOS = 1569  # YouTube-8M videos, split 1,219 / 50 / 300
FRAMES = 10.2e6  # "about 10.2M frames"

# -- embedder (3.1.2) -----------------------------------------------------------------------------
TRIPLET_ACCURACY = 0.97  # "~97%", read as triplet accuracy (SPEC)

# -- scene detection (4.2): four-scene videos, not our data --------------------------------------
SCENE_K = 2.5  # threshold = mean + k * std of SSDev
SCENE_DETECTION = {"precision": 0.996, "recall": 0.985, "f1": 0.9905, "map": 0.9952}

# -- the colorizer (3.1.5, 4.x) ----------------------------------------------------------------
RESOLUTION = 224  # working side of frames and references
PARAMS = 3.2e6  # "3.2M parameters"
SIZE_MB = 81.0  # "81 MB model"
SECONDS_PER_FRAME = 2.6  # RTX 3090 (Table V); the abstract says "2.6 FPS"
COLORIZER_ACCURACY = "99%"  # undefined in the paper; no comparable figure of ours
PSNR = 37.89  # dB, abstract / Table IV
SSIM = 0.998  # abstract / Table V
EDGE_RUNTIME = "TensorRT 8.6 on a Raspberry Pi 4"  # as printed

# Table III of the paper: number of references vs measures (no PSNR column is printed).
PAPER_TABLE_III = pd.DataFrame(
    [
        (1, 0.45, 4.443, 1.362, 0.945, 0.893, 0.887, 0.980, 0.984),
        (2, 0.31, 3.719, 0.481, 0.902, 0.732, 0.896, 0.987, 0.989),
        (3, 0.25, 3.372, 0.254, 0.821, 0.624, 0.99, 0.993, 0.993),
        (4, 0.22, 3.340, 0.131, 0.758, 0.518, 0.993, 0.996, 0.995),
        (5, 0.14, 3.328, 0.138, 0.673, 0.357, 0.998, 0.998, 0.997),
    ],
    columns=["n_refs", "AD", "RMSE", "MD", "SC", "NAE", "NCC", "SSIM", "PCC"],
)

# Table IV of the paper: earlier colour-transfer methods (by the paper's reference number) and "our".
PAPER_TABLE_IV = pd.DataFrame(
    [
        ("[32] Xie et al. 2023", 1.069126, 1.806177, 20, 0.994602, 0.009098, 0.981267, 0.963565, 0.965124, 34.57),
        ("[33] Sheng et al. 2023", 1.068921, 1.805696, 20, 0.994237, 0.008951, 0.98136, 0.963755, 0.976798, 34.81),
        ("[34] Ke et al. 2023", 1.024832, 1.556213, 20, 0.981382, 0.008887, 0.983618, 0.96376, 0.986665, 35.12),
        ("[35] Vijetha & Geetha 2023", 0.872693, 1.266927, 18, 0.815632, 0.008885, 0.983627, 0.982004, 0.986685, 35.31),
        ("[36] Zhu & Hu 2023", 0.569565, 0.992709, 12, 0.732995, 0.006713, 0.985156, 0.98229, 0.986916, 35.56),
        ("[37] Lv et al. 2024", 0.541809, 0.991881, 11, 0.631692, 0.006386, 0.987824, 0.987129, 0.988392, 35.8),
        ("[7] Chen et al. 2024", 0.52446, 0.97283, 10, 0.536527, 0.006181, 0.988699, 0.987278, 0.988924, 36.21),
        ("[38] Lv & Zhang 2024", 0.022581, 0.228494, 10, 0.346817, 0.000266, 0.988794, 0.999852, 0.989313, 36.5),
        ("[39] Bao et al. 2024", 0.016055, 0.198013, 10, 0.317304, 0.000189, 0.988845, 0.999959, 0.990797, 36.98),
        ("paper's method", 0.009084, 0.124658, 8, 0.276279, 0.000107, 0.991476, 0.999982, 0.998678, 37.89),
    ],
    columns=["method", "AD", "RMSE", "MD", "SC", "NAE", "NCC", "SSIM", "PCC", "PSNR"],
)

# Table V of the paper: deep video colorizers, time per frame (s) and model size (MB).
PAPER_TABLE_V = pd.DataFrame(
    [
        ("[6] BiSTNet", 30.40, 0.976, 3.2, 78.0),
        ("[8] LVCD", 24.5489, 0.8790, 2.9, 85.0),
        ("[40] ViT-Color", 28.88, 0.979, 4.5, 112.0),
        ("paper's method", 37.89, 0.998, 2.6, 81.0),
    ],
    columns=["method", "PSNR", "SSIM", "sec_per_frame", "size_MB"],
)

# Published exemplar video colorization figures (not this paper's; quoted by issue 12 for context):
# DAVIS, ground-truth first frame as the only exemplar, GPU.
EXEMPLAR_PUBLISHED = pd.DataFrame(
    [
        {"method": "ColorMNet (ECCV 2024)", "PSNR": 35.77, "SSIM": 0.970, "sec_per_frame": 0.07, "params_M": 123.6},
        {"method": "BiSTNet", "PSNR": 34.02, "SSIM": None, "sec_per_frame": None, "params_M": None},
        {"method": "DeepExemplar", "PSNR": 33.24, "SSIM": None, "sec_per_frame": None, "params_M": None},
    ]
)
