"""Authentication of the metrics and notification services through the goals service."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from flask import Flask, jsonify
from werkzeug.serving import make_server

from shared.web.remote_auth import (
    REVOCATIONS_PATH,
    AuthorityUnavailable,
    RevocationWatch,
    TokenIntrospector,
    current_caller,
    install_authentication,
)
from tests.conftest import ADMIN_TOKEN, free_port, mint_token


def _protected_app(introspector: TokenIntrospector) -> Flask:
    app = Flask("protected")
    install_authentication(app, introspector, service="test")

    @app.get("/v1/whoami")
    def whoami() -> object:
        caller = current_caller()
        return jsonify(name=caller.name, role=caller.role, department=caller.department)

    @app.get("/healthz")
    def healthz() -> object:
        return "ok"

    return app


def test_goals_service_says_who_a_token_belongs_to(goals_server: str) -> None:
    secret = mint_token(goals_server, "head", "sales", name="head of sales")
    response = requests.get(f"{goals_server}/v1/tokens/self", timeout=5,
                            headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json()["role"] == "head"
    assert response.json()["department"] == "sales"
    assert response.json()["name"] == "head of sales"


def test_other_service_accepts_a_live_token_and_knows_its_department(goals_server: str) -> None:
    secret = mint_token(goals_server, "head", "marketing")
    client = _protected_app(TokenIntrospector(goals_server)).test_client()
    response = client.get("/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json == {"name": "head of marketing", "role": "head",
                             "department": "marketing"}


def test_other_service_refuses_missing_unknown_and_revoked_tokens(goals_server: str) -> None:
    name = f"revoked later {uuid.uuid4()}"  # the session's goals server holds many tokens
    secret = mint_token(goals_server, "viewer", name=name)
    introspector = TokenIntrospector(goals_server, ttl_seconds=0)
    client = _protected_app(introspector).test_client()
    assert client.get("/v1/whoami").status_code == 401
    unknown = client.get("/v1/whoami", headers={"Authorization": "Bearer not-a-token"})
    assert unknown.status_code == 401
    assert unknown.content_type == "application/problem+json"
    assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).status_code \
        == 200

    token_id = _token_id(goals_server, name)
    revoked = requests.delete(f"{goals_server}/v1/tokens/{token_id}", timeout=5,
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert revoked.status_code == 204
    assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).status_code \
        == 401


def _token_id(goals_server: str, name: str) -> str:
    """The id of the token minted under ``name``, looked up page by page."""
    page = 1
    while True:
        answer = requests.get(f"{goals_server}/v1/tokens?page_size=100&page={page}", timeout=5,
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == 200, answer.text
        found = [token["id"] for token in answer.json() if token["name"] == name]
        if found:
            return str(found[0])
        assert answer.json(), f"no token named {name!r}"
        page += 1


def test_answers_are_cached_for_the_ttl(goals_server: str) -> None:
    secret = mint_token(goals_server, "viewer", name="cached viewer")
    # a watch that trusts its last poll for the whole test: on a loaded machine the default
    # second between polls can pass, and then no cached caller may be trusted (by design)
    watch = RevocationWatch(goals_server + REVOCATIONS_PATH, trust_seconds=60)
    introspector = TokenIntrospector(goals_server, ttl_seconds=60, watch=watch)
    try:
        assert introspector.caller_for(secret) is not None
        introspector.url = f"http://127.0.0.1:{free_port()}/v1/tokens/self"  # the authority is gone
        caller = introspector.caller_for(secret)
        assert caller is not None and caller.name == "cached viewer"
    finally:
        watch.close()


@pytest.mark.handled_errors("auth_authority_unavailable")
def test_unreachable_goals_service_gives_503_not_a_guess() -> None:
    introspector = TokenIntrospector(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    with pytest.raises(AuthorityUnavailable):
        introspector.caller_for("any")
    client = _protected_app(introspector).test_client()
    response = client.get("/v1/whoami", headers={"Authorization": "Bearer any"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("answer", [b"not json", b"[]", b'{"name": "x"}', b"null"])
def test_an_answer_that_is_not_a_caller_gives_503_not_500(answer: bytes) -> None:
    # a real HTTP server standing in for a goals service that answers 200 with nonsense
    impostor = Flask("impostor")
    impostor.add_url_rule("/v1/tokens/self", "self", lambda: (answer, 200))
    server = make_server("127.0.0.1", 0, impostor, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        introspector = TokenIntrospector(f"http://127.0.0.1:{server.server_port}", timeout=2)
        with pytest.raises(AuthorityUnavailable, match="not a caller"):
            introspector.caller_for("any")
    finally:
        server.shutdown()
        server.server_close()
