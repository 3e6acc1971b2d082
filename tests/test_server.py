"""Server: listening, accepting into sessions, the shared state, the explicit socket map."""

import asyncore
import socket

import pytest
from conftest import reset

from chat.rooms import ChatRoom, Hall
from chat.server import BACKLOG, Server


def test_server_owns_the_hall_the_three_rooms_and_the_users(chat_server):
    server = chat_server.server
    assert isinstance(server.hall, Hall)
    assert [type(room) for room in (server.python, server.write, server.pm)] == [ChatRoom] * 3
    assert [room.name for room in (server.python, server.write, server.pm)] == [
        'python', 'write', 'pm']
    assert server.users == {}


def test_users_holds_each_logged_in_session_until_it_leaves(chat_server, login):
    alice = login('Alice')
    assert set(chat_server.server.users) == {'alice'}
    alice.send('/logout')
    alice.read_to_close()
    assert chat_server.server.users == {}


@pytest.mark.every_loop
def test_two_servers_in_one_process_keep_to_their_own_maps(make_server, client):
    first, second = make_server(), make_server()
    a, b = client(first.port), client(second.port)
    a.expect('/login')
    b.expect('/login')
    a.ask('/login same')
    assert b.ask('/login same')[0].startswith('Welcome, same')
    assert first.server.map is not second.server.map
    assert not asyncore.socket_map                    # the global map is never used


def test_each_connection_gets_its_own_session_in_the_hall(chat_server, connect):
    clients = [connect() for _ in range(5)]
    for client in clients:
        client.sync()                  # every session is set up
    sessions = chat_server.server.sessions
    assert len(sessions) == 5
    assert all(session.room is chat_server.server.hall for session in sessions)


@pytest.mark.every_loop
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
