"""Classical colorization baselines, fed the same references as our colorizer.

Every method here, and the colorizer's adapter in :mod:`scenecolor.evaluate.protocol`, has the same
shape: a callable ``method(L, refs_lab) -> ab`` with

- ``L``: float array (T,H,W), CIE Lab lightness 0..100 of the grayscale clip;
- ``refs_lab``: float array (R,H',W',3), the R reference images of the clip's scene in CIE Lab
  (R >= 1, any size);
- result: float32 array (T,H,W,2), the predicted a and b channels.

The evaluation adds the predicted ab to the ground-truth L, so the methods differ only in
colour. Three baselines:

- :class:`GrayOutput`: ab = 0, the floor any colorizer has to beat;
- :class:`ReinhardTransfer`: Reinhard et al. (2001) global colour transfer, matching the mean
  and standard deviation of each Lab channel to the reference's. A grayscale target has zero ab
  spread, so the transfer reduces to *painting the references' mean ab everywhere*; that is what
  it measures here and how it is labelled;
- :class:`WelshTransfer`: Welsh, Ashikhmin & Mueller (2002) "Transferring color to greyscale
  images": jittered samples of the references, their luminance remapped to the target's
  statistics, each target pixel takes the ab of the sample whose (luminance, neighbourhood
  standard deviation) is nearest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from scenecolor.colorize.correspondence import FLOW_METHODS, FlowEngine, GuideConfig, flow_warp
from scenecolor.core.errors import DataError, ParameterError


class ColorizeMethod(Protocol):
    """What the evaluation runs: a named callable ``(L (T,H,W), refs_lab (R,H',W',3)) -> ab (T,H,W,2)``.

    ``needs_references`` is False for a method whose output ignores the references (gray), so
    the evaluation runs it once instead of once per pool and R.
    """

    name: str
    needs_references: bool

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray: ...


def check_method_inputs(L: np.ndarray, refs_lab: np.ndarray) -> None:
    """Raise :class:`DataError` unless ``L`` is (T,H,W) and ``refs_lab`` is (R,H',W',3) with R >= 1."""
    if not isinstance(L, np.ndarray) or L.ndim != 3 or 0 in L.shape:
        raise DataError(
            f"L: expected the clip's Lab lightness as an array (T,H,W), got {getattr(L, 'shape', type(L).__name__)}"
        )
    if not isinstance(refs_lab, np.ndarray) or refs_lab.ndim != 4 or refs_lab.shape[-1] != 3 or 0 in refs_lab.shape:
        raise DataError(
            f"refs_lab: expected R >= 1 reference images in Lab as an array (R,H,W,3), "
            f"got {getattr(refs_lab, 'shape', type(refs_lab).__name__)}"
        )


def _local_std(L: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation of L in a ``window`` x ``window`` neighbourhood of each pixel (last two axes)."""
    size = (1,) * (L.ndim - 2) + (window, window)
    mean = ndimage.uniform_filter(L, size=size, mode="reflect")
    mean_sq = ndimage.uniform_filter(L * L, size=size, mode="reflect")
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


@dataclass(frozen=True)
class GrayOutput:
    """ab = 0 everywhere: the grayscale input shown as is."""

    name: str = "gray (ab = 0)"
    needs_references: bool = False

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        check_method_inputs(L, refs_lab)
        return np.zeros((*L.shape, 2), dtype=np.float32)


def reinhard_transfer(target_lab: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
    """Reinhard et al. (2001) global transfer in CIE Lab, per channel.

    ``out = (t - mean_t) * std_r / std_t + mean_r``, with the reference statistics pooled over
    all pixels of all R references (the R images act as one large reference) and the target
    statistics over the whole clip. A channel with zero spread in the target (the ab of a
    grayscale frame) becomes the constant ``mean_r``. (Reinhard used the l-alpha-beta space;
    CIE Lab, the space the colorizer uses, serves the same purpose.)

    Args:
        target_lab: (..., 3) target in Lab.
        refs_lab: (R,H,W,3) references in Lab.
    """
    t = np.asarray(target_lab, dtype=np.float64)
    r = np.asarray(refs_lab, dtype=np.float64).reshape(-1, 3)
    flat = t.reshape(-1, 3)
    mean_t, std_t = flat.mean(axis=0), flat.std(axis=0)
    mean_r, std_r = r.mean(axis=0), r.std(axis=0)
    scale = np.divide(std_r, std_t, out=np.zeros(3), where=std_t > 1e-8)
    return ((t - mean_t) * scale + mean_r).astype(np.float32)


@dataclass(frozen=True)
class ReinhardTransfer:
    """Reinhard global Lab transfer of the references onto the gray clip: the references' mean ab everywhere.

    Multi-reference: the statistics of all R references are pooled (every reference pixel
    weighs the same), so the output is the mean ab over all their pixels.
    """

    name: str = "Reinhard (global Lab = mean ref ab)"
    needs_references: bool = True

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        check_method_inputs(L, refs_lab)
        target = np.zeros((*L.shape, 3), dtype=np.float64)
        target[..., 0] = L
        return reinhard_transfer(target, refs_lab)[..., 1:]


@dataclass(frozen=True)
class WelshTransfer:
    """Welsh et al. (2002) luminance-matched colour transfer, vectorised with a k-d tree.

    For each reference: ``n_samples`` pixels on a jittered grid (one random pixel per grid cell,
    Welsh's ~200 samples), each described by its luminance and the standard deviation of
    luminance in a ``window`` x ``window`` neighbourhood. For each target frame, every
    reference's luminance is remapped linearly to the frame's mean and standard deviation
    (Welsh's luminance remapping; the neighbourhood std scales with it), and each target pixel
    takes the ab of the sample nearest in (L, std) with equal weights, Welsh's 50/50 weighting.

    Multi-reference: samples of all R references (each remapped on its own) form one pool, so a
    target pixel may take its colour from any reference. The jitter is drawn from ``seed``:
    same inputs, same output.
    """

    n_samples: int = 200
    window: int = 5
    seed: int = 0
    name: str = "Welsh (luminance match)"
    needs_references: bool = True

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise DataError(f"WelshTransfer n_samples must be >= 1, got {self.n_samples}")
        if self.window < 1 or self.window % 2 == 0:
            raise DataError(f"WelshTransfer window must be a positive odd number of pixels, got {self.window}")

    def samples(self, refs_lab: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Jittered samples of each reference: lists (one per reference) of L, std and ab arrays."""
        rng = np.random.default_rng(self.seed)
        Ls, stds, abs_ = [], [], []
        for ref in np.asarray(refs_lab, dtype=np.float64):
            h, w = ref.shape[:2]
            grid = max(1, int(np.ceil(np.sqrt(self.n_samples))))
            rows = np.linspace(0, h, min(grid, h) + 1).astype(int)
            cols = np.linspace(0, w, min(grid, w) + 1).astype(int)
            r0, c0 = np.meshgrid(rows[:-1], cols[:-1], indexing="ij")
            r1, c1 = np.meshgrid(rows[1:], cols[1:], indexing="ij")
            ys = rng.integers(r0.ravel(), r1.ravel())
            xs = rng.integers(c0.ravel(), c1.ravel())
            if ys.size > self.n_samples:
                keep = np.sort(rng.choice(ys.size, self.n_samples, replace=False))
                ys, xs = ys[keep], xs[keep]
            std = _local_std(ref[..., 0], self.window)
            Ls.append(ref[ys, xs, 0])
            stds.append(std[ys, xs])
            abs_.append(ref[ys, xs, 1:])
        return Ls, stds, abs_

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        check_method_inputs(L, refs_lab)
        refs = np.asarray(refs_lab, dtype=np.float64)
        ref_mean = refs[..., 0].reshape(len(refs), -1).mean(axis=1)
        ref_std = refs[..., 0].reshape(len(refs), -1).std(axis=1)
        Ls, stds, abs_ = self.samples(refs)
        ab_pool = np.concatenate(abs_)
        target = np.asarray(L, dtype=np.float64)
        target_std = _local_std(target, self.window)
        out = np.empty((*target.shape, 2), dtype=np.float32)
        for t in range(target.shape[0]):
            mu_t, sd_t = target[t].mean(), target[t].std()
            feats = []
            for i in range(len(refs)):
                gain = sd_t / ref_std[i] if ref_std[i] > 1e-8 else 1.0
                feats.append(np.stack([(Ls[i] - ref_mean[i]) * gain + mu_t, stds[i] * gain], axis=1))
            tree = cKDTree(np.concatenate(feats))
            query = np.stack([target[t].ravel(), target_std[t].ravel()], axis=1)
            _, idx = tree.query(query, k=1)
            out[t] = ab_pool[idx].reshape(*target.shape[1:], 2)
        return out


def baseline_methods(n_samples: int = 200, window: int = 5, seed: int = 0) -> list[ColorizeMethod]:
    """The three baselines in table order: Welsh, Reinhard, gray."""
    return [WelshTransfer(n_samples=n_samples, window=window, seed=seed), ReinhardTransfer(), GrayOutput()]


@dataclass(frozen=True)
class PasteReference:
    """The first reference's ab pasted in place on every frame (no motion; the reference resized to the frame)."""

    name: str = "paste (reference ab in place)"
    needs_references: bool = True

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        check_method_inputs(L, refs_lab)
        ab = cv2.resize(
            np.asarray(refs_lab[0, ..., 1:], dtype=np.float32), (L.shape[2], L.shape[1]), interpolation=cv2.INTER_AREA
        )
        return np.broadcast_to(ab, (*L.shape, 2)).astype(np.float32)


@dataclass(frozen=True)
class FlowWarpReference:
    """The first reference's ab warped onto each frame by optical flow (frame -> reference), directly from the
    reference to every frame (no chaining).

    The warp is :func:`scenecolor.colorize.correspondence.flow_warp`, the code of the network's ``direct``
    flow candidate, with the candidates' own settings (:class:`GuideConfig`: lightness of both images
    normalised to the same mean and spread, photometric tolerance): with ``method`` the network's flow
    method (``dis_fast`` by default) its ab is exactly that candidate's at the frame's size. ``farneback``
    is OpenCV's Farneback flow with the usual parameters, the classical flow-warp baseline.
    """

    method: str = "farneback"
    name: str = "flow warp (Farneback)"
    needs_references: bool = True

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        check_method_inputs(L, refs_lab)
        ref = cv2.resize(
            np.asarray(refs_lab[0], dtype=np.float32), (L.shape[2], L.shape[1]), interpolation=cv2.INTER_AREA
        )
        engine = FlowEngine(self.method)  # type: ignore[arg-type]
        ab, _ = flow_warp(np.asarray(L, dtype=np.float32), ref, engine, sigma=GuideConfig().sigma)
        return ab


FLOW_DIS = "flow warp (DIS)"


def exemplar_baselines(
    n_samples: int = 200, window: int = 5, seed: int = 0, flow_method: str = "dis_fast"
) -> list[ColorizeMethod]:
    """The exemplar protocol's baselines in table order: Farneback flow warp, DIS flow warp, paste, Welsh, mean
    reference ab (Reinhard), grey.

    The DIS warp runs at ``flow_method``, the flow of the colorizer's own candidates (a backend's
    ``flow_method``), so the table shows what that flow alone is worth; a network trained on Farneback
    flow has no DIS row (the Farneback row is then its candidate).
    """
    flows: list[ColorizeMethod] = [FlowWarpReference()]
    if flow_method != "farneback":
        if flow_method not in FLOW_METHODS:
            raise ParameterError(f"flow_method must be one of {FLOW_METHODS}, got {flow_method!r}")
        flows.append(FlowWarpReference(method=flow_method, name=FLOW_DIS))
    return [*flows, PasteReference(), *baseline_methods(n_samples=n_samples, window=window, seed=seed)]
