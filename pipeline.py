"""The original's video pipeline, under its module name (`from pipeline import ...`, as the
authors' example did): frames -> faces -> aligned crops -> scores. The code lives in
mesonet.pipeline.
"""

from mesonet.pipeline import *  # noqa: F401,F403
