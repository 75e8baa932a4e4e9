"""reflow's standard library of ready-made pipelines (``pw.stdlib``); its modules are
imported on first use (``pw.stdlib.graphs``)."""


def __getattr__(name: str) -> object:
    import importlib

    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
