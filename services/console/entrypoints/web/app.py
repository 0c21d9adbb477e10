"""The console's Flask app: sessions, CSRF, security headers, error pages, and the pages.

The session is kept server-side (``adapters.sessions``): the cookie ``okr_console``
(``HttpOnly``, ``SameSite=Lax``, ``Secure`` over HTTPS or when
``OKR_CONSOLE_SECURE_COOKIES`` is set) carries only a random session id; the person's
token, who it stands for, when they signed in and the CSRF token of their forms stay in
the console process. It ends, and is deleted, at sign-out, ``OKR_CONSOLE_SESSION_HOURS``
after sign-in, or at the first 401 of an API (a revoked token); a copied cookie then
names nothing.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

import requests
from flask import Flask, abort, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from services.console.adapters.api_client import ApiClient, CoolOff, Refused, SignedOut, Unavailable
from services.console.adapters.sessions import ServerSession, ServerSideSessions, SessionStore
from services.console.config import ConsoleConfig
from services.console.domain import presentation
from services.console.entrypoints.web import locale

CSRF_FIELD = "csrf_token"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: How long the sign-in form of a visitor who has not signed in stays good.
ANONYMOUS_SESSION_SECONDS = 3600
#: Error pages: the status in words, and what to do.
ERROR_PAGES = {
    400: ("Bad request", "The console could not read what your browser sent. Open the page "
                         "again and resend it."),
    404: ("Not found", "There is no such page in the console, or what it showed was deleted."),
    405: ("Not allowed here", "This page cannot be used that way (a form sent to a page "
                              "that only shows, or the reverse). Open it from the console."),
    413: ("Too large", "What you sent is larger than the console takes (64 KB). Shorten it "
                       "and send it again."),
}


def create_app(config: ConsoleConfig, http: requests.Session | None = None) -> Flask:
    app = Flask("services.console.entrypoints.web")
    app.config.update(
        SESSION_COOKIE_NAME="okr_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    store = SessionStore(config.max_sessions, max_per_token=config.max_sessions_per_token)
    app.session_interface = ServerSideSessions(store, config.session_hours * 3600,
                                               min(ANONYMOUS_SESSION_SECONDS,
                                                   config.session_hours * 3600))
    app.extensions["okr.console.config"] = config
    app.extensions["okr.console.http"] = http or requests.Session()
    app.extensions["okr.console.cool_off"] = CoolOff(
        config.api_cool_off_seconds, suspect_after=config.api_timeout_seconds / 3)
    app.jinja_env.autoescape = True
    app.jinja_env.filters.update(
        status_words=presentation.status_words, percent=presentation.percent,
        number=presentation.number, day=presentation.day,
        day_and_time=presentation.day_and_time, kr_value=presentation.key_result_value,
        gap_share=presentation.gap_share, department_part=presentation.department_part,
        link_words=lambda kind: presentation.LINK_WORDS.get(kind, kind.replace("_", " ")))
    app.jinja_env.globals["csrf_token"] = csrf_token

    app.before_request(_end_expired_session)
    app.before_request(_check_csrf)
    app.after_request(_secure_headers)
    app.register_error_handler(SignedOut, _signed_out)
    app.register_error_handler(Unavailable, _unavailable)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(HTTPException, _error_page)

    from services.console.entrypoints.web.edits import edits
    from services.console.entrypoints.web.pages import pages
    from services.console.entrypoints.web.subscriptions import subscriptions
    app.register_blueprint(pages)
    app.register_blueprint(edits)
    app.register_blueprint(subscriptions)
    locale.install(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, Any], int]:
        """Ready when the goals and metrics APIs answer their own ``/healthz``."""
        http = app.extensions["okr.console.http"]
        checks = {}
        for name, url in (("goals", config.goals_url), ("metrics", config.metrics_url)):
            try:
                checks[name] = http.get(url + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                checks[name] = False
        return {"status": "ok" if all(checks.values()) else "unavailable",
                "checks": checks}, 200 if all(checks.values()) else 503

    return app


def console_config() -> ConsoleConfig:
    from flask import current_app
    found: ConsoleConfig = current_app.extensions["okr.console.config"]
    return found


def api(name: str) -> ApiClient:
    """The goals, metrics or notifications API as the signed-in person."""
    from flask import current_app
    config = console_config()
    token = session.get("token")
    if not token:
        raise SignedOut()
    base = {"goals": config.goals_url, "metrics": config.metrics_url,
            "notifications": config.notifications_url}[name]
    return ApiClient(current_app.extensions["okr.console.http"], base, token,
                     config.api_timeout_seconds, service=name,
                     cool_off=current_app.extensions["okr.console.cool_off"])


def csrf_token() -> str:
    """This session's CSRF token, made on first use; every form posts it back."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    token: str = session[CSRF_FIELD]
    return token


def sign_in(token: str, who: dict[str, Any]) -> None:
    """Start a signed-in session under a new id (the anonymous one's id is dropped)."""
    session.clear()
    assert isinstance(session, ServerSession)
    session.renew_id()
    session.update(token=token, name=who.get("name"), role=who.get("role"),
                   department=who.get("department"), signed_in_at=time.time(),
                   **{CSRF_FIELD: secrets.token_urlsafe(32)})


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get(CSRF_FIELD, "")
    expected = session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(Response(render_template("message.html", title="Form expired",
                                       message="This form was not sent from this console's "
                                               "current session. Open the page again and "
                                               "resend it."), 400, mimetype="text/html"))


def _end_expired_session() -> Response | None:
    """The store deletes a session past its end when asked for it; say so once."""
    if getattr(session, "expired", False) and request.endpoint not in ("static", "healthz"):
        return redirect(url_for("pages.sign_in", reason="expired"))
    return None


def _signed_out(_: SignedOut) -> Response:
    session.clear()
    return redirect(url_for("pages.sign_in", reason="refused"))


def _unavailable(error: Unavailable) -> tuple[str, int]:
    """A service a page cannot do without does not answer (the goals service: pages show
    what they can without the metrics service)."""
    return render_template("message.html", title="The platform does not answer",
                           message=f"The {error.service} service could not be reached. "
                                   "Try again in a moment."), 503


def _refused(refusal: Refused) -> tuple[str, int]:
    """A refusal no page expected: shown in the API's words, with its status."""
    return render_template("message.html", title="The platform refused",
                           message=refusal.in_words()), refusal.status


def _error_page(error: HTTPException) -> Response | tuple[str, int]:
    """The console's own page for an HTTP error (404, 405, 413, ...), in its layout."""
    if error.code is None:
        return error.get_response()
    title, message = ERROR_PAGES.get(error.code, (error.name, "The console could not do that."))
    page = render_template("message.html", title=title, message=message, status=error.code)
    response = Response(page, error.code, mimetype="text/html")
    for name, value in error.get_headers():
        if name == "Allow":  # a 405's
            response.headers[name] = value
    return response


def _secure_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
