"""Planning: what a check is, fixed before anything runs.

The layout of the parameters (``layout``), the coordinates chosen (``sampling``),
the method records (``methods``), the steps (``step``), the measured noise of J
(``noise``) and the baseline and plans every entry point builds (``plan``).
"""
