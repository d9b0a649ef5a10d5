"""The original API, under the original's module name: `from classifiers import Meso4,
MesoInception4` as the authors' example did. The networks live in mesonet.classifiers.

    from classifiers import Meso4
    clf = Meso4()
    clf.load("meso4-df")                 # or the path of a weights file
    p_real = clf.predict(faces)          # (N, 256, 256, 3) -> (N, 1); 1 = real
"""

from mesonet.classifiers import *  # noqa: F401,F403
from mesonet.classifiers import (IMGWIDTH, Classifier, Meso1, Meso4,  # noqa: F401
                                 MesoInception4, load_classifier)
