"""The incremental dataflow engine: columnar Z-set deltas, operators and the scheduler.

This package knows nothing about ``Table``; the plan layer hands it kernels to run.
"""
