"""Server: accepting into sessions, the shared state, the explicit socket map.

The listening socket itself is test_listener.py's.
"""

import asyncore

import pytest

from chat.rooms import ChatRoom, Hall


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
