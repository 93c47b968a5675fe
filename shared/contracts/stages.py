"""The stage names of a pipeline, in the order a run executes them.

The spec lists them in this order too; unitTest runs before package (BRIEF §1 "records").
"""

from typing import Final

STAGES: Final = (
    "codeCheckout",
    "unitTest",
    "codeScan",
    "package",
    "imageBuild",
    "integrationTest",
    "imageRelease",
)
