"""Libraries built on the Table API (``pw.stdlib``)."""
