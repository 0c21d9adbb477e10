"""``Blueprint``: flask-smorest's, with page numbers bounded so that every offset fits, JSON
bodies read once, by the input boundary (``boundary.py``), query parameters checked, and
RFC 8288 ``Link`` headers on every page.

flask-smorest bounds ``page_size`` but not ``page``; ``(page - 1) * page_size`` must still fit
the databases' 64-bit integers, so a larger page number is refused (422) and documented.
Both are read as :class:`QueryInteger`: ASCII digits only, so ``page=%201`` (a space) or
``page=%D9%A1`` (Arabic-Indic one) is a 422 naming the form, not page 1.

A query parameter that the operation does not declare (``?departmnet=sales``), or a
single-valued one given twice, is refused with a 400 problem naming it, after
authentication (the blueprint's first hook) and before the view reads anything.

Every paginated list answers, beside ``X-Pagination``, with ``Link: <...>; rel="first"``,
``rel="prev"``, ``rel="next"`` and ``rel="last"`` (those that exist), each a relative
reference keeping the request's other query parameters.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import flask_smorest
from flask import Response, request
from marshmallow import Schema, fields, validate
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request

from shared.web.operations import current_operation
from shared.web.problems import URI_PATH_CHARACTERS, problem

MAX_PAGE = 2**31 - 1
ASCII_INTEGER = re.compile(r"-?[0-9]{1,19}")


class QueryInteger(fields.Integer):
    """A whole number in a query string, as ASCII digits with an optional ``-`` and nothing
    else: ``int()`` (marshmallow's ``Integer``) also takes `` 1``, ``1_000``, and other
    scripts' digits (Arabic-Indic one is 1 to it)."""

    default_error_messages = {
        "invalid": "Not a valid integer: write it in the digits 0 to 9 (an optional '-' "
                   "first), without spaces.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and not ASCII_INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


@cache
def bounded_pages(schema: type[Schema]) -> type[Schema]:
    """The pagination parameters ``schema`` with ``page`` at most ``MAX_PAGE``, both read
    as :class:`QueryInteger`."""
    page, size = schema._declared_fields["page"], schema._declared_fields["page_size"]
    return type(schema.__name__, (schema,), {
        "page": QueryInteger(load_default=page.load_default,
                             validate=validate.Range(min=1, max=MAX_PAGE)),
        "page_size": QueryInteger(load_default=size.load_default, validate=size.validators),
    })


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


LINK_HEADER_DOC = {
    "description": "RFC 8288 links to the first, prev, next and last pages (those that "
                   "exist), relative to the request, keeping its other query parameters",
    "schema": {"type": "string"},
}


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _BoundaryParser()
    PAGINATION_ARGUMENTS_PARSER = _PaginationParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_request(refuse_undeclared_query_parameters)

    def _set_pagination_metadata(self, page_params: Any, result: Any, headers: Any) -> Any:
        result, headers = super()._set_pagination_metadata(page_params, result, headers)
        if getattr(page_params, "whole_set", False):
            return result, headers  # a CSV export of the whole list: no other page to name
        links = page_links(page_params.page, page_params.page_size, page_params.item_count)
        if links:
            headers["Link"] = links
        return result, headers

    def _document_pagination_metadata(self, spec: Any, resp_doc: Any) -> None:
        super()._document_pagination_metadata(spec, resp_doc)
        resp_doc["headers"]["Link"] = dict(LINK_HEADER_DOC)

    def _prepare_pagination_doc(self, doc: Any, doc_info: Any, **kwargs: Any) -> Any:
        pagination = doc_info.get("pagination")
        if pagination:
            parameters = pagination["parameters"]
            parameters["schema"] = bounded_pages(parameters["schema"])
        return super()._prepare_pagination_doc(doc, doc_info, **kwargs)


def page_links(page: int, page_size: int, item_count: int) -> str:
    """The ``Link`` header value of a page (empty when there is no page at all)."""
    if item_count <= 0:
        return ""
    last = (item_count - 1) // page_size + 1
    pages = {"first": 1}
    if page > 1:
        pages["prev"] = min(page - 1, last)
    if page < last:
        pages["next"] = page + 1
    pages["last"] = last
    path = quote(request.script_root + request.path, safe=URI_PATH_CHARACTERS)
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "page"]
    return ", ".join(f'<{path}?{urlencode([*kept, ("page", number)])}>; rel="{rel}"'
                     for rel, number in pages.items())


def refuse_undeclared_query_parameters() -> Response | None:
    """400 for a query parameter the operation does not declare, or a single one repeated."""
    operation = current_operation()
    if operation is None:
        return None
    errors: dict[str, list[str]] = {}
    for name in request.args:
        if name not in operation.query:
            errors[name] = ["Unknown query parameter."]
        elif not operation.query[name] and len(request.args.getlist(name)) > 1:
            errors[name] = ["Given more than once; this parameter takes one value."]
    if not errors:
        return None
    takes = ", ".join(sorted(operation.query)) or "none"
    unknown = [name for name in errors if name not in operation.query]
    if unknown:
        detail = (f"Unknown query parameter{'s' if len(unknown) > 1 else ''} "
                  f"{', '.join(map(repr, unknown))}; this operation takes: {takes}.")
    else:
        detail = f"Query parameters given more than once: {', '.join(map(repr, errors))}."
    return problem(400, detail, errors={"query": errors})
