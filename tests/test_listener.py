"""Listener: the listening socket both ports share: binding, listening, accepting, and
refusing a newcomer when no file descriptor is left."""

import asyncore
import errno
import re
import socket

import pytest
from conftest import reset

from chat.limits import Limits
from chat.listener import ACCEPTS, BACKLOG
from chat.server import Server

# Accepting is the loop's event, each loop its own: each loop, where a test runs a server.
pytestmark = pytest.mark.every_loop


def test_client_gone_before_accept_does_not_hurt_the_server(chat_server, connect):
    doomed = socket.create_connection(('127.0.0.1', chat_server.port))
    reset(doomed)                      # perhaps before the server accepts it
    assert connect().ask('/login alice')[0].startswith('Welcome, alice')


def test_listen_backlog_holds_a_burst():
    assert BACKLOG >= 128              # the design's listen(5) refuses a burst of connections


def test_bind_failure_leaves_no_socket_behind():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        sockets = {}
        try:
            Server(port, '127.0.0.1', map=sockets)
        except OSError:
            pass
        else:
            raise AssertionError('bound a port that is in use')
        assert sockets == {}


def test_localhost_means_ipv4_loopback():
    server = Server(0, 'localhost')
    try:
        assert server.address.startswith('127.0.0.1:')
    finally:
        server.close()


def test_a_second_server_cannot_take_a_port_in_use():
    """Where SO_REUSEADDR lets two sockets share a port (Windows), SO_EXCLUSIVEADDRUSE
    keeps this true; elsewhere SO_REUSEADDR never allows it for two listeners."""
    first = Server(0, '127.0.0.1')
    try:
        with pytest.raises(OSError) as raised:
            Server(first.socket.getsockname()[1], '127.0.0.1').close()
        assert raised.value.errno in (errno.EADDRINUSE, getattr(errno, 'WSAEADDRINUSE', 0),
                                      errno.EACCES)
    finally:
        first.close()


@pytest.mark.skipif(hasattr(socket, 'SO_EXCLUSIVEADDRUSE'), reason='the real option is here')
def test_exclusive_address_use_is_chosen_where_the_platform_has_it(monkeypatch):
    """Simulated: this platform has no SO_EXCLUSIVEADDRUSE, so a stand-in constant
    (SO_KEEPALIVE, harmless on a listening socket) shows which option the server sets."""
    monkeypatch.setattr(socket, 'SO_EXCLUSIVEADDRUSE', socket.SO_KEEPALIVE, raising=False)
    server = Server(0, '127.0.0.1')
    try:
        assert server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
    finally:
        server.close()


def test_out_of_file_descriptors_refuses_newcomers_without_spinning(program, client):
    """With no descriptor left, a newcomer is told the server is full, and the rest go on."""
    resource = pytest.importorskip('resource', reason='no open-file limit to lower here')
    limit = 24
    server = program('--port', '0', preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (limit, limit)))
    port = server.port()
    clients = [client(port) for _ in range(limit + 10)]
    replies = [each.line() for each in clients]
    full = [reply for reply in replies if 'full' in reply]
    assert full and len(full) < len(clients)
    welcomed = clients[replies.index('Welcome to the chat server!')]
    welcomed.expect('/login')
    assert welcomed.ask('/login still')[0].startswith('Welcome, still')
    server.stop()
    code, log = server.finish()
    assert code == 0
    # Each refusal counted once, in a line of its own or in a count: no spinning on accept.
    counted = sum(int(n) for n in re.findall(r'(\d+) more connections refused', log))
    assert log.count('refused: out of file descriptors') + counted == len(full)
    assert 'cannot accept' not in log and 'Traceback' not in log


def test_the_web_port_refuses_newcomers_with_a_503_when_no_descriptor_is_left(program, client):
    """Each port keeps its own spare descriptor: with every one taken by telnet clients, a
    browser is told the server is full, as an HTTP error, and the log counts it."""
    resource = pytest.importorskip('resource', reason='no open-file limit to lower here')
    limit = 24
    server = program('--port', '0', preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (limit, limit)))
    port = server.port()
    web_port = int(server.expect(r'web client at http://127\.0\.0\.1:(\d+)/').group(1))
    held = [client(port) for _ in range(limit)]
    assert 'full' in held[-1].line()             # every descriptor is taken now
    answers = []
    for _ in range(3):
        browser = client(web_port)
        browser.send(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
        answers.append(b''.join(iter(lambda sock=browser.sock: sock.recv(65536), b'')))
    assert all(answer.startswith(b'HTTP/1.1 503') and b'full' in answer for answer in answers)
    server.stop()
    code, log = server.finish()
    assert code == 0
    counted = sum(int(n) for n in re.findall(r'(\d+) more connections refused', log))
    assert log.count('refused: out of file descriptors') + counted >= len(answers)
    assert 'cannot accept' not in log and 'Traceback' not in log


def test_a_storm_is_accepted_in_batches_of_accepts():
    """One readable event takes ACCEPTS connections at most, so the loop serves the others
    between batches; the next event takes the rest."""
    server = Server(0, '127.0.0.1', limits=Limits(max_per_address=0))   # all from 127.0.0.1
    waiting = []
    try:
        for _ in range(ACCEPTS + 6):
            waiting.append(socket.create_connection(server.socket.getsockname()[:2]))
        server.handle_accept()
        assert len(server.sessions) == ACCEPTS
        server.handle_accept()
        assert len(server.sessions) == ACCEPTS + 6
    finally:
        for sock in waiting:
            sock.close()
        asyncore.close_all(server.map)
