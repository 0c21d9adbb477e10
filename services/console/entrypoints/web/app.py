"""The console's Flask app: sessions, CSRF, security headers, and the pages.

The session is Flask's signed cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure`` over
HTTPS or when ``OKR_CONSOLE_SECURE_COOKIES`` is set), holding the person's token, who it
stands for, when they signed in and the CSRF token of their forms. It ends at sign-out,
``OKR_CONSOLE_SESSION_HOURS`` after sign-in, or at the first 401 of an API (a revoked
token).
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta
from typing import Any

import requests
from flask import Flask, Request, abort, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from services.console.adapters.api_client import ApiClient, Refused, SignedOut, Unavailable
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


class ConsoleSessions(SecureCookieSessionInterface):
    """``Secure`` cookies whenever the request came over HTTPS (or the config says so)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or _request_is_secure(request)


def _request_is_secure(incoming: Request) -> bool:
    return bool(incoming) and incoming.is_secure


def create_app(config: ConsoleConfig, http: requests.Session | None = None) -> Flask:
    app = Flask("services.console.entrypoints.web")
    app.config.update(
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_NAME="okr_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.session_hours),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.session_interface = ConsoleSessions()
    app.extensions["okr.console.config"] = config
    app.extensions["okr.console.http"] = http or requests.Session()
    app.jinja_env.autoescape = True
    app.jinja_env.filters.update(
        status_words=presentation.status_words, percent=presentation.percent,
        number=presentation.number, day=presentation.day,
        day_and_time=presentation.day_and_time, kr_value=presentation.key_result_value,
        link_words=lambda kind: presentation.LINK_WORDS.get(kind, kind.replace("_", " ")))
    app.jinja_env.globals["csrf_token"] = csrf_token

    app.before_request(_end_expired_session)
    app.before_request(_check_csrf)
    app.after_request(_secure_headers)
    app.register_error_handler(SignedOut, _signed_out)
    app.register_error_handler(Unavailable, _unavailable)
    app.register_error_handler(Refused, _refused)

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
                     config.api_timeout_seconds)


def csrf_token() -> str:
    """This session's CSRF token, made on first use; every form posts it back."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    token: str = session[CSRF_FIELD]
    return token


def sign_in(token: str, who: dict[str, Any]) -> None:
    session.clear()
    session.permanent = True
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
                                               "resend it."), 400))


def _end_expired_session() -> Response | None:
    signed_in_at = session.get("signed_in_at")
    lifetime = console_config().session_hours * 3600
    if signed_in_at is not None and time.time() - float(signed_in_at) > lifetime:
        session.clear()
        return redirect(url_for("pages.sign_in", reason="expired"))
    return None


def _signed_out(_: SignedOut) -> Response:
    session.clear()
    return redirect(url_for("pages.sign_in", reason="refused"))


def _unavailable(error: Unavailable) -> tuple[str, int]:
    return render_template("message.html", title="The platform does not answer",
                           message="The goals or metrics service could not be reached. "
                                   "Try again in a moment."), 503


def _refused(refusal: Refused) -> tuple[str, int]:
    """A refusal no page expected: shown in the API's words, with its status."""
    return render_template("message.html", title="The platform refused",
                           message=refusal.in_words()), refusal.status


def _secure_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
