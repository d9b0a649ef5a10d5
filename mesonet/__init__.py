"""MesoNet (Afchar, Nozick, Yamagishi, Echizen, WIFS 2018): a faithful Keras 3
reimplementation, with a face-finding video pipeline and scoring without TensorFlow.

Every score is P(real), the network's sigmoid: 0 = deepfake / Face2Face, 1 = real.

    from mesonet.scorers import load_scorer            # any weights, Keras or ONNX Runtime
    scorer = load_scorer("meso4-df")
    p_real = scorer.predict(faces_uint8)               # (N, 256, 256, 3) -> (N, 1)

    from mesonet.classifiers import Meso4              # the original API (needs Keras)

Importing the package loads nothing heavy: no Keras, no dlib, no OpenCV.
"""

__version__ = "1.0.0"
