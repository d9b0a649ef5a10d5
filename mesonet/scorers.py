"""One way to load any weights into a scorer: `load_scorer(weights, model, runtime)`.

A scorer has `predict(faces) -> P(real) (N, 1)`, `weights` (its name) and `model.name`.
What comes back depends on the weights and the runtime, decided here and nowhere else:
- a combination's name (weights/NAME.combination.json): a scoring.Combination of its
  members, each loaded by this function;
- runtime 'onnx', or 'auto' on a CPU (`scoring.resolve_runtime`): a
  scoring.OnnxClassifier, whose graphs are written from the weights file without Keras
  (architectures.read_weights) and kept in the user cache: no TensorFlow, no Keras;
- otherwise (runtime 'keras', a GPU, a reduced precision, or a baseline network):
  classifiers.load_classifier, the Keras model with the original API (the 'train' extra).
"""

from __future__ import annotations

import importlib.util
import logging

from mesonet import scoring, zoo
from mesonet.architectures import LAYERS, read_weights
from mesonet.outputs import atomic_path

logger = logging.getLogger(__name__)

NO_KERAS = ("{what} needs Keras and TensorFlow, which this install lacks: install the "
            "training extra (`pip install 'mesonet[train]'`; in a checkout `bash setup.sh`), "
            "or score with ONNX Runtime (--runtime onnx; `pip install onnxruntime`)")


def onnx_classifier(record) -> scoring.OnnxClassifier:
    """Score a weights record through ONNX Runtime: its graphs from the cache, or written
    there now from the weights file (without Keras)."""
    paths = scoring.graph_cache_paths(record)
    if not all(p.is_file() for p in paths.values()):
        weights = read_weights(record.architecture, record.path)
        try:
            for dtype, path in paths.items():
                with atomic_path(path) as tmp:
                    tmp.write_bytes(scoring.to_onnx(record.architecture, dtype, weights)
                                    .SerializeToString())
        except OSError as e:  # a read-only cache: the graph is kept in memory instead
            logger.warning("Could not cache the ONNX graph in %s: %s", paths["uint8"].parent, e)
            paths = {dtype: scoring.to_onnx(record.architecture, dtype, weights)
                     .SerializeToString() for dtype in paths}
    return scoring.OnnxClassifier(record.architecture, record.name, paths)


def load_scorer(weights, model: str | None = None, runtime: str = "auto",
                precision: str = "float32", quiet: bool = False):
    """A scorer for any weights: a name ('meso4-df', 'meso4-dfdc-or-gan', ...), a path, or a
    zoo.WeightsRecord. model: the architecture the caller expects (checked; default: the
    weights'). runtime: 'auto', 'onnx' or 'keras'. precision: 'int8' (ONNX Runtime's
    quantized graph, mesonet.quantize) or, on the Keras path, float16/bfloat16. quiet: no
    warning about an int8 graph outside its parity bounds (a pool's workers: the command
    that started them has warned once)."""
    record = zoo.resolve(weights)
    if record.architecture == zoo.COMBINATION:
        spec = zoo.combination(record.name)
        members = [load_scorer(m, model, runtime, precision, quiet) for m in spec["members"]]
        return scoring.Combination(record.name, members, spec["rule"])
    zoo.check_architecture(record, model)
    if precision == "int8":  # ONNX Runtime only: the quantized graph, or a clear error
        if runtime == "keras" or record.architecture not in LAYERS:
            raise ValueError(f"int8 scoring runs on ONNX Runtime, for {', '.join(LAYERS)}: "
                             f"not with runtime {runtime!r} for {record.name} "
                             f"({record.architecture or 'an unknown network'})")
        if not scoring.onnx_available():
            raise ValueError("int8 scoring needs ONNX Runtime (`pip install onnxruntime`)")
        classifier = scoring.OnnxClassifier(record.architecture, record.name,
                                            {"uint8": zoo.int8_graph(record)})
        classifier.precision = "int8"
        parity = ((zoo.record_of(record.name) or {}).get("int8") or {}).get("parity")
        if parity and not parity["within_bounds"] and not quiet:
            logger.warning("The int8 graph of %s is less faithful than asked: on %d "
                           "validation faces it changed %.1f%% of verdicts and moved the AUC "
                           "by %+.4f (bounds: 1%%, 0.005; weights/%s.record.json); float32 "
                           "is the reference", record.name, parity["faces"],
                           100 * parity["verdicts_changed"], parity["auc_difference"],
                           record.name)
        return classifier
    keras_here = importlib.util.find_spec("keras") is not None
    wanted = scoring.resolve_runtime(runtime)
    if record.architecture in LAYERS and precision == "float32" and (
            wanted == "onnx" or (runtime == "auto" and not keras_here)):
        if not scoring.onnx_available():
            raise ValueError(NO_KERAS.format(what=f"Scoring {record.name}"))
        return onnx_classifier(record)
    if not keras_here:
        raise ValueError(NO_KERAS.format(what=f"Scoring {record.name} with runtime "
                                              f"{runtime!r}" + (f" in {precision}"
                                              if precision != "float32" else "")))
    from mesonet import classifiers

    return classifiers.load_classifier(model or record.architecture, record, runtime, precision)
