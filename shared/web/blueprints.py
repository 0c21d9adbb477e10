"""``Blueprint``: flask-smorest's, with page numbers bounded so that every offset fits, and
JSON bodies read once, by the input boundary (``boundary.py``).

flask-smorest bounds ``page_size`` but not ``page``; ``(page - 1) * page_size`` must still fit
the databases' 64-bit integers, so a larger page number is refused (422) and documented.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import flask_smorest
from marshmallow import Schema, fields, validate
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request

MAX_PAGE = 2**31 - 1


@cache
def bounded_pages(schema: type[Schema]) -> type[Schema]:
    """The pagination parameters ``schema`` with ``page`` at most ``MAX_PAGE``."""
    page = schema._declared_fields["page"]
    bounded = fields.Integer(load_default=page.load_default,
                             validate=validate.Range(min=1, max=MAX_PAGE))
    return type(schema.__name__, (schema,), {"page": bounded})


class _BoundaryParser(FlaskParser):
    """webargs parses JSON bodies with the standard library again; the request already holds
    the body as the boundary read it (the same value, read once)."""

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True):
            return missing
        return req.get_json(cache=True)


class _PaginationParser(FlaskParser):
    def parse(self, argmap: Any, req: Any = None, **kwargs: Any) -> Any:
        return super().parse(bounded_pages(argmap), req, **kwargs)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _BoundaryParser()
    PAGINATION_ARGUMENTS_PARSER = _PaginationParser()

    def _prepare_pagination_doc(self, doc: Any, doc_info: Any, **kwargs: Any) -> Any:
        pagination = doc_info.get("pagination")
        if pagination:
            parameters = pagination["parameters"]
            parameters["schema"] = bounded_pages(parameters["schema"])
        return super()._prepare_pagination_doc(doc, doc_info, **kwargs)
