"""The emulators' HTTP server: loopback sockets that answer without Nagle delays."""

from __future__ import annotations

import socket
import sys

import pytest

from imagebuild.emulators.server import base_url, bind


def test_bind_gives_a_free_port_and_its_url() -> None:
    with bind("127.0.0.1", 0) as listener:
        port = listener.getsockname()[1]
        assert port > 0
        assert base_url(listener) == f"http://127.0.0.1:{port}"


@pytest.mark.skipif(sys.platform != "linux", reason="Linux passes TCP_NODELAY to accepted sockets")
def test_accepted_connections_send_small_answers_at_once() -> None:
    # Without TCP_NODELAY an answer's body waits for the ACK of its headers, which
    # the client delays by 40 ms on every kept-alive request.
    with bind("127.0.0.1", 0) as listener:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with socket.create_connection(listener.getsockname()[:2]):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
