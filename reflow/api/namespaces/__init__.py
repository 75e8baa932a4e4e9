"""Expression namespaces: ``.str``, ``.dt``, ``.num`` and Json access."""
