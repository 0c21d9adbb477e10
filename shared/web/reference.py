"""The reference every service serves about itself, without a token and without the internet.

``install_reference`` (called once by the app shell) adds:

- ``/docs``: the API browser (Swagger UI) over ``/openapi.json``, and under
  ``/docs/assets/`` its scripts and styles, from the pinned ``flask-swagger-ui`` package
  (Swagger UI's own build; no CDN), with the page's own start-up script;
- ``/problems`` and ``/problems/<slug>``: what each problem ``type`` means (the registry of
  ``problems.py``), as HTML, or JSON when the client asks for ``application/json``;
- ``/asyncapi.yaml``: the event contract (``shared/contract/asyncapi.yaml``), and
  ``/schemas/<event type>.json``: the JSON Schema of each event type's ``data``, where the
  document's relative references resolve.

The docs pages carry a Content-Security-Policy that lets the browser load nothing but
the service's own files, so a page that reached for a CDN would fail in every browser,
not only offline. Services that authenticate by path keep :data:`OPEN_PATHS` open.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from importlib import resources

from flask import Blueprint, Flask, Response, abort, request, url_for

from shared.contract.schemas import schema_file_name, schema_for
from shared.web.problems import PROBLEM_TYPES, ProblemType

#: Path prefixes served here (with ``/openapi.json``); they never need a token.
OPEN_PATHS = ("/docs", "/openapi.json", "/problems", "/asyncapi.yaml", "/schemas/")

#: The browser may load only the service's own scripts, styles and images (Swagger UI
#: styles a few elements inline and draws icons as data: URIs); no frames, no plugins.
DOCS_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

YAML_CONTENT_TYPE = "application/yaml"  # RFC 9512
SCHEMA_CONTENT_TYPE = "application/schema+json"

#: The Swagger UI files the page loads, from the package's ``dist`` folder.
SWAGGER_UI_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
START_SCRIPT = "okr-docs.js"

_START = """\
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""

_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{favicon}">
{head}
</head>
<body>
{body}
</body>
</html>
"""

_STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
code { background: #f2f2f2; padding: 0 .2em; }
dt { font-weight: bold; margin-top: .8em; }
</style>"""


def install_reference(app: Flask) -> None:
    """Serve the API browser, the problem types and the event contract on ``app``."""
    blueprint = Blueprint("reference", __name__)

    @blueprint.get("/docs")
    def docs() -> Response:
        title = app.config.get("API_TITLE", app.name)
        page = _PAGE.format(
            title=escape(f"{title}: API"),
            favicon=_favicon(),
            head=(f'<link rel="stylesheet" '
                  f'href="{url_for("reference.docs_asset", name="swagger-ui.css")}">'),
            body="\n".join([
                f'<div id="swagger-ui" data-openapi-url="{url_for("api-docs.openapi_json")}">'
                "</div>",
                f'<script src="{url_for("reference.docs_asset", name="swagger-ui-bundle.js")}">'
                "</script>",
                f'<script src="{url_for("reference.docs_asset", name=START_SCRIPT)}"></script>',
            ]))
        return _docs_response(page.encode(), "text/html")

    @blueprint.get("/docs/assets/<name>")
    def docs_asset(name: str) -> Response:
        if name == START_SCRIPT:
            return _docs_response(_START.encode(), "text/javascript")
        if name not in SWAGGER_UI_FILES:
            abort(404)
        return _docs_response(_swagger_ui_file(name), SWAGGER_UI_FILES[name])

    @blueprint.get("/problems")
    def problem_types() -> Response:
        if _wants_json():
            return _json([_problem_json(kind) for kind in PROBLEM_TYPES.values()])
        items = "\n".join(
            f'<li><a href="{escape(kind.uri)}">{kind.status} {escape(kind.title)}</a></li>'
            for kind in PROBLEM_TYPES.values())
        return _docs_response(_PAGE.format(
            title="Problem types", favicon=_favicon(), head=_STYLE,
            body=f"<h1>Problem types</h1>\n<p>Every error is an RFC 9457 problem document "
                 f"(<code>application/problem+json</code>); its <code>type</code> is one of "
                 f"these.</p>\n<ul>\n{items}\n</ul>").encode(), "text/html")

    @blueprint.get("/problems/<slug>")
    def problem_type(slug: str) -> Response:
        kind = PROBLEM_TYPES.get(slug)
        if kind is None:
            abort(404)
        if _wants_json():
            return _json(_problem_json(kind))
        return _docs_response(_PAGE.format(
            title=escape(kind.title), favicon=_favicon(), head=_STYLE,
            body=f"<h1>{kind.status} {escape(kind.title)}</h1>\n"
                 f"<p>{escape(kind.explanation)}</p>\n<dl>\n"
                 f"<dt>type</dt><dd><code>{escape(kind.uri)}</code></dd>\n"
                 f"<dt>status</dt><dd>{kind.status}</dd>\n"
                 f"<dt>body</dt><dd><code>application/problem+json</code> (RFC 9457): "
                 f"<code>type</code>, <code>title</code>, <code>status</code>, "
                 f"<code>detail</code> (what went wrong this time), <code>instance</code> "
                 f"(the request path), and <code>errors</code> (by field) when input was "
                 f"refused</dd>\n</dl>\n"
                 f'<p><a href="{url_for("reference.problem_types")}">Every problem type</a> · '
                 f'<a href="{url_for("reference.docs")}">API</a></p>').encode(), "text/html")

    @blueprint.get("/asyncapi.yaml")
    def asyncapi() -> Response:
        return _document(_contract_file("asyncapi.yaml"), YAML_CONTENT_TYPE)

    @blueprint.get("/schemas/<name>")
    def event_schema(name: str) -> Response:
        event_type = name.removesuffix(".json")
        if name == event_type or schema_for(event_type) is None:
            abort(404)
        return _document(_schema_file(schema_file_name(event_type)), SCHEMA_CONTENT_TYPE)

    app.register_blueprint(blueprint)


def _problem_json(kind: ProblemType) -> dict[str, object]:
    return {"type": kind.uri, "status": kind.status, "title": kind.title,
            "explanation": kind.explanation}


def _wants_json() -> bool:
    offered = ["text/html", "application/json"]
    return request.accept_mimetypes.best_match(offered, default="text/html") != "text/html"


def _json(document: object) -> Response:
    response = Response(json.dumps(document), mimetype="application/json")
    return _conditional(response)


def _favicon() -> str:
    return url_for("reference.docs_asset", name="favicon-32x32.png")


def _docs_response(body: bytes, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return _conditional(response)


def _document(body: bytes, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Access-Control-Allow-Origin"] = "*"  # public documents, for tools
    return _conditional(response)


def _conditional(response: Response) -> Response:
    """An ETag, and 304 to a client that holds this version already."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    response.make_conditional(request)  # turns ``response`` itself into a 304 if it may
    return response


@cache
def _swagger_ui_file(name: str) -> bytes:
    """A file of Swagger UI's own build, the ``dist`` folder of ``flask-swagger-ui``."""
    return resources.files("flask_swagger_ui").joinpath("dist").joinpath(name).read_bytes()


@cache
def _contract_file(name: str) -> bytes:
    return resources.files("shared.contract").joinpath(name).read_bytes()


@cache
def _schema_file(name: str) -> bytes:
    return resources.files("shared.contract.schemas").joinpath(name).read_bytes()
