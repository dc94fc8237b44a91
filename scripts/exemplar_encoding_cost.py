"""The exemplar protocol of a finished run scored twice: on the frames before any encoding and on the files
written through the default encoding (x264 crf 14), for ours and the DIS flow warp - what the encoding alone
costs each, and ours' margin over the warp both ways.

    PYTHONPATH=lib python scripts/exemplar_encoding_cost.py --run reports/RUN [--checkpoint colorizer.pt]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scenecolor.colorize.backend import TorchColorizer
from scenecolor.core.encoding import Encoding
from scenecolor.data.frames import FrameStore
from scenecolor.evaluate import exemplar, protocol
from scenecolor.evaluate.baselines import exemplar_baselines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished run folder (steps 00-04)")
    ap.add_argument("--checkpoint", type=Path, help="colorizer.pt (default: the run's step 04)")
    ap.add_argument("--out", type=Path, default=Path("exemplar_encoding_cost.csv"))
    args = ap.parse_args()
    data_dir = args.run / "artifacts/00_data_prep"
    ckpt = args.checkpoint or args.run / "artifacts/04_colorizer_training/colorizer.pt"
    prep = FrameStore.open(data_dir).preprocess
    clips = exemplar.load_test_shots(
        data_dir, width=prep.size, frame_step=5, max_frames=0, max_shots=0, mean_filter=prep.mean_filter
    )
    ours = protocol.ColorizerMethod(TorchColorizer.from_checkpoint(ckpt, "cpu"), clip_len=8)
    methods = [ours] + [m for m in exemplar_baselines(flow_method=ours.backend.flow_method) if "DIS" in m.name]
    tables = []
    for label, encoding in (("before encoding", None), ("written (x264 crf 14)", Encoding())):
        result = exemplar.evaluate_exemplar(clips, methods, encoding=encoding, progress=False)
        tables.append(exemplar.summary_table(result.rows).assign(scored=label))
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(args.out, index=False)
    print(table[["scored", "method", "clips", "frames", "PSNR", "SSIM"]].to_string(index=False))


if __name__ == "__main__":
    main()
