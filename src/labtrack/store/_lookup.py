"""Dotted keys into run metadata (``config.optimizer.lr``, ``summary.loss``): one meaning for
``Store.runs(where=...)``, ``RunView.get`` and the command line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._meta import effective_status

#: What :func:`lookup` returns for a key the metadata does not have (``None`` is a value).
MISSING: Any = object()


def lookup(meta: Mapping[str, Any], key: str) -> Any:
    """Value of a dotted ``key`` in run metadata, or :data:`MISSING`.

    ``config.optimizer.lr`` walks nested dicts; a literal key containing dots (``summary.val.acc``
    for a summary key ``val.acc``) is found too. ``summary.<k>`` sees the last value of scalar tag
    ``k`` unless the run set ``k`` in its summary.
    """
    head, _, rest = key.partition(".")
    if head == "summary":
        doc: Any = {t: m.get("last") for t, m in meta.get("metrics", {}).items()}
        doc.update(meta.get("summary", {}))
    elif head == "status" and not rest:
        return effective_status(dict(meta))
    else:
        doc = meta.get(head, MISSING)
    if not rest:
        return doc
    return _walk(doc, rest)


def _walk(doc: Any, path: str) -> Any:
    if not isinstance(doc, Mapping):
        return MISSING
    if path in doc:
        return doc[path]
    head, _, rest = path.partition(".")
    if not rest or head not in doc:
        return MISSING
    return _walk(doc[head], rest)
