"""int8 scoring: a weights' ONNX graph quantized with ONNX Runtime's static quantization.

    mesonet export --weights meso4-dfdc --precision int8 --calibration data/ --record

The convolutions' weights are quantized per output channel (int8), their inputs per
tensor (uint8); the dense head stays float32. Ranges are calibrated (min-max) on faces of the prepared corpus's *training* split (real and forged,
spread over its source groups), never on the faces the parity is then measured on.
`parity` compares the int8 graph with float32 on other faces: the largest |delta P(real)|,
the AUC of both, and the share of verdicts that change at the weights' operating point.
The graphs of the shipped weights are made this way and shipped beside them
(weights/NAME.int8.onnx, with their parity in NAME.record.json).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: faces the ranges are calibrated on (half real, half forged)
CALIBRATION_FACES = 512
#: bounds a graph must meet to be offered (issue 34): AUC within, verdicts changed at most
MAX_AUC_DIFFERENCE = 0.005
MAX_VERDICTS_CHANGED = 0.01


def corpus_faces(corpus: str | Path, split: str, n: int | None, seed: int = 0,
                 groups: set | None = None):
    """(faces uint8 (N, 256, 256, 3), labels 1 = real) from a prepared corpus
    (corpus.csv and its crops): `n` faces of `split` (None: all), half real and half
    forged, drawn evenly over source groups (or only `groups`)."""
    import csv

    from mesonet.media import load_face_crop

    corpus = Path(corpus)
    table = corpus / "corpus.csv"
    if not table.is_file():
        raise ValueError(f"{corpus}: not a prepared corpus (no corpus.csv); make one with "
                         f"`mesonet prepare --corpus ../shared/train --output {corpus}`")
    with open(table, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["crop"] and r["split"] == split
                and (groups is None or r["group"] in groups)]
    if not rows:
        raise ValueError(f"{table}: no faces in the {split!r} split")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in ("real", "fake"):
        mine = [r for r in rows if r["label"] == label]
        if n is None:
            chosen += mine
            continue
        by_group: dict[str, list] = {}
        for r in mine:
            by_group.setdefault(r["group"], []).append(r)
        for g in by_group.values():
            rng.shuffle(g)
        # round robin over the groups: each gets a fair share
        want, k = n // 2, 0
        lists = [by_group[g] for g in sorted(by_group)]
        while want and any(k < len(x) for x in lists):
            for x in lists:
                if k < len(x) and want:
                    chosen.append(x[k])
                    want -= 1
            k += 1
    faces = np.stack([load_face_crop(corpus / r["crop"]) for r in chosen])
    labels = np.array([r["label"] == "real" for r in chosen], np.int8)
    return faces, labels


def quantize(graph: bytes, faces: np.ndarray, method: str = "minmax") -> bytes:
    """The int8 (QDQ) version of a float graph with uint8 input (scoring.to_onnx), its
    activation ranges calibrated on `faces`. method: 'minmax' or 'percentile'."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"Unknown calibration method {method!r}; known: {', '.join(methods)}")

    class Faces(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(np.array_split(faces, max(1, len(faces) // 32)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"face": np.ascontiguousarray(batch)}

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(graph)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Faces(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=False,
                        # the convolutions: all but a few thousand of the MACs; the small
                        # dense head stays float (quantized, it changed 26 % of meso4-gan's
                        # verdicts on validation faces, against 2 % this way)
                        op_types_to_quantize=["Conv"],
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method],
                        extra_options={"ActivationSymmetric": False,
                                       "WeightSymmetric": True})
        return out.read_bytes()


def parity(float_scores, int8_scores, labels, op) -> dict:
    """How far int8 is from float32 on the same faces: max |delta P(real)|, both AUCs and
    their difference, the share of verdicts (at operating point `op`) that change."""
    from mesonet.training.calibration import auc

    a, b = np.ravel(float_scores), np.ravel(int8_scores)
    changed = np.mean([op.verdict(x) != op.verdict(y) for x, y in zip(a, b)])
    auc_a, auc_b = auc(a, labels), auc(b, labels)
    return {"faces": int(a.size), "max_abs_delta": round(float(np.abs(a - b).max()), 6),
            "mean_abs_delta": round(float(np.abs(a - b).mean()), 6),
            "auc_float32": round(auc_a, 5), "auc_int8": round(auc_b, 5),
            "auc_difference": round(auc_b - auc_a, 5),
            "verdicts_changed": round(float(changed), 5),
            "within_bounds": bool(abs(auc_b - auc_a) <= MAX_AUC_DIFFERENCE
                                  and changed <= MAX_VERDICTS_CHANGED)}
