"""Libraries built on the Table API (``pw.stdlib``); submodules load on first use."""

import importlib as _importlib


def __getattr__(name: str) -> object:
    try:
        return _importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
