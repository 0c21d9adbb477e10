"""Response members under a new name, and the old name kept, deprecated, for one version.

``value = deprecated_alias(fields.Float, "current", allow_none=True)`` writes ``value`` as
the same value as ``current`` and documents it as ``deprecated: true`` in the OpenAPI
document; docs/api.md lists every alias and the version that drops it. marshmallow lets no
two fields read the same attribute, so both read it through :func:`member_of`.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

#: The release that drops today's aliases (docs/api.md, "Renamed members").
ALIASES_REMOVED_IN = "0.2.0"


def member_of(kind: type[fields.Field], source: str, **kwargs: Any) -> fields.Field:
    """A dump-only ``kind`` field written from the member ``source`` of the object dumped."""

    class Member(kind):  # type: ignore[valid-type,misc]
        def get_value(self, obj: Any, attr: str, accessor: Any = None,
                      default: Any = fields.missing_) -> Any:
            return super().get_value(obj, source, accessor, default)

    return Member(dump_only=True, **kwargs)


def deprecated_alias(kind: type[fields.Field], of: str, *, source: str | None = None,
                     **kwargs: Any) -> fields.Field:
    """The old name of the member ``of`` (read from ``source``, by default ``of``)."""
    metadata = {"deprecated": True,
                "description": f"deprecated: the same as {of}; removed in {ALIASES_REMOVED_IN}",
                **kwargs.pop("metadata", {})}
    return member_of(kind, source or of, metadata=metadata, **kwargs)
