"""Ready-made pipelines built from the public Table API (``pw.stdlib``)."""
