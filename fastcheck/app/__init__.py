"""The application around the library: the ``fastcheck`` command line, the
demo, the benchmark runner and the seed exercise's own code.

``import fastcheck`` imports none of this (nor argparse); the library never
depends on it.
"""
