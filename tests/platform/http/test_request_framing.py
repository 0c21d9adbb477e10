"""When the event loop hands a request to a thread (``shared/runtime/request_framing.py``):
once its framing says every byte is in, and not one read earlier."""

from __future__ import annotations

import pytest

from shared.runtime.request_framing import MAX_CHUNKS, BodyTooLarge, RequestFraming

HEAD = b"POST /v1/cycles HTTP/1.1\r\nHost: x\r\n"


def bytes_until_complete(request: bytes) -> int | None:
    """Feeding ``request`` a byte at a time: how many made it complete (None: never)."""
    framing = RequestFraming(100, 1024)
    for taken in range(1, len(request) + 1):
        if framing.feed(request[taken - 1:taken]):
            return taken
    return None


@pytest.mark.parametrize(("request_bytes", "completes"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (b"GET / HTTP/1.1\nHost: x\n\n", True),
    (HEAD + b"Content-Length: 5\r\n\r\nhello", True),
    (HEAD + b"Content-Length: 5\r\n\r\nhell", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n", False),
    # what cannot be framed is complete at once: gunicorn's parser refuses it
    (HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n", True),
    (HEAD + b"Content-Length: -5\r\n\r\n", True),
    (HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: gzip\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", True),
], ids=["no-body", "bare-newlines", "length", "length-short", "chunked", "chunked-trailers",
        "chunked-unterminated", "two-lengths", "negative-length", "length-and-chunked",
        "not-chunked", "bad-chunk-size"])
def test_a_request_is_complete_at_its_last_byte_and_not_before(request_bytes: bytes,
                                                               completes: bool) -> None:
    expected = len(request_bytes) if completes else None
    assert bytes_until_complete(request_bytes) == expected


def test_a_body_over_the_limit_is_refused_as_soon_as_its_size_shows() -> None:
    with pytest.raises(BodyTooLarge):
        RequestFraming(100, 1024).feed(HEAD + b"Content-Length: 101\r\n\r\n")
    chunked = RequestFraming(100, 1024)
    assert not chunked.feed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"32\r\n" + b"x" * 50)
    assert not chunked.feed(b"\r\n")
    with pytest.raises(BodyTooLarge):
        chunked.feed(b"33\r\n")  # 50 + 51 bytes announced


def test_a_head_over_its_limit_goes_to_gunicorn_to_be_refused() -> None:
    assert RequestFraming(100, 1024).feed(b"GET / HTTP/1.1\r\nX: " + b"y" * 1100)


def test_expect_100_continue_is_noticed() -> None:
    framing = RequestFraming(100, 1024)
    assert not framing.feed(HEAD + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert framing.head_complete and framing.expects_continue


def test_a_body_in_too_many_chunks_is_refused() -> None:
    head = b"POST /v1/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    within = RequestFraming(max_body_bytes=1 << 20, max_head_bytes=1 << 16)
    assert within.feed(head + b"1\r\na\r\n" * MAX_CHUNKS + b"0\r\n\r\n")
    beyond = RequestFraming(max_body_bytes=1 << 20, max_head_bytes=1 << 16)
    with pytest.raises(BodyTooLarge):
        beyond.feed(head + b"1\r\na\r\n" * (MAX_CHUNKS + 1))
