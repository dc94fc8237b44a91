"""scenecolor.core.device: the one meaning of --device and the notebooks' device parameter."""

import pytest
import torch

from scenecolor.core.device import DeviceFallbackWarning, resolve_device
from scenecolor.core.errors import ParameterError


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(" AUTO ").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_absent_falls_back_to_cpu_with_a_warning():
    with pytest.warns(DeviceFallbackWarning, match="no CUDA GPU"):
        assert resolve_device("cuda") == torch.device("cpu")
    with pytest.warns(DeviceFallbackWarning):
        assert resolve_device("cuda:0") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "", "cuda:x", "tpu", "cuda:-1"])
def test_unknown_names_are_refused(bad):
    with pytest.raises(ParameterError, match="device"):
        resolve_device(bad)


NETWORK_COMMANDS = [
    ["colorize", "in.mp4", "--out", "out.mp4"],
    ["gallery", "build", "media", "--out", "gallery"],
    ["exemplar-eval", "clip.mp4"],
    ["embed-train", "--store", "s", "--out", "o"],
    ["bench", "colorize"],
    ["bench", "colorize-memory"],
    ["bench", "embed"],
    ["bench", "gallery"],
]


@pytest.mark.parametrize("argv", NETWORK_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_that_runs_a_network_takes_device(argv):
    from scenecolor.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(argv).device == "auto"
    assert parser.parse_args([*argv, "--device", "cuda"]).device == "cuda"
