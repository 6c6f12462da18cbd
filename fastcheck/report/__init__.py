"""Results as data and words: ``CheckResult``, ``DirectionsResult`` and
``LocateResult``, their text reports, HTML tables and JSON. Nothing here decides
a verdict; the verdict (``fastcheck.verdict``) hands over finished numbers and
statuses, and imports this package to build them, never the reverse."""

from .locate import LocateResult
from .result import CheckResult, DirectionsResult, TensorRow, TensorTable

__all__ = ["CheckResult", "DirectionsResult", "LocateResult", "TensorRow", "TensorTable"]
