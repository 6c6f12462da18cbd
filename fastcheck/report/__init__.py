"""Results as data and words: ``CheckResult``, ``DirectionsResult`` and
``LocateResult``, their text reports, HTML tables and JSON. Nothing here decides
a verdict; the verdict (``fastcheck.verdict``) hands over finished numbers and
statuses."""

