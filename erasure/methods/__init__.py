"""Erase methods: one module per family, all with the interface in `base`.

`get(name)` returns the method object for a METHOD name of the CLI contract.
"""

from __future__ import annotations

from erasure.methods.base import EraseMethod

_REGISTRY: dict[str, EraseMethod] = {}


def register(method: EraseMethod) -> EraseMethod:
    _REGISTRY[method.name] = method
    return method


def get(name: str) -> EraseMethod:
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(name)
    return _REGISTRY[name]


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def _load_all() -> None:
    import importlib

    for family in ("overwrite", "ata", "nvme", "scsi", "mmc", "opal"):
        try:
            importlib.import_module(f"erasure.methods.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"erasure.methods.{family}":
                raise
