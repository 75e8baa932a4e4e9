"""Checkpoints and restarts of a running dataflow (the public API is ``reflow.persistence``)."""
