"""The Nexmark streaming benchmark: a seeded event generator, queries q0-q8 written once
against the ``pw`` API (reflow or Pathway), and from-scratch Polars references."""
