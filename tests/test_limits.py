"""The limits that protect everyone: slow readers, too many clients, late logins, and the log."""

import logging
import socket
import threading

import pytest
from conftest import TIMEOUT, Client, ServerThread, reset


@pytest.fixture
def limited(request, loop_name):
    """A server with the limits a test names, and a function that opens clients to it."""
    running = ServerThread(loop=loop_name, **request.param)
    clients = []

    def connect():
        clients.append(Client(running.port))
        return clients[-1]

    yield running, connect
    for client in clients:
        client.close()
    running.stop()


def logged_in(connect, name, room=None):
    client = connect()
    client.expect('/login')
    client.ask('/login ' + name)
    if room:
        client.ask('/' + room)
    return client


@pytest.mark.parametrize('limited', [{'max_queue': 256 * 1024, 'line_rate': 0}], indirect=True)
def test_slow_reader_is_cut_and_nobody_else_waits_or_loses_a_message(limited):
    running, connect = limited
    reader = logged_in(connect, 'reader', 'python')
    slow = connect()
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.expect('/login')
    slow.ask('/login slow')
    slow.ask('/python')
    talker = logged_in(connect, 'talker', 'python')
    reader.sync()
    # More than the kernel's socket buffers can hold for slow, which reads nothing.
    lines = ['line %d %s' % (n, 'x' * 1000) for n in range(8000)]
    received = []
    listening = threading.Thread(target=lambda: received.extend(
        reader.expect_all('talker: ' + lines[-1], 'slow left the room.')))
    listening.start()
    talker.send(''.join(line + '\r\n' for line in lines))
    listening.join(TIMEOUT)
    assert [line for line in received if line.startswith('talker: ')] == [
        'talker: ' + line for line in lines]
    assert 'slow left the room.' in received
    assert 'slow' not in reader.ask('/online')[0]
    assert running.server.users.keys() == {'reader', 'talker'}


@pytest.mark.parametrize('limited', [{'max_clients': 3}], indirect=True)
def test_a_client_past_max_clients_is_told_full_and_closed(limited):
    running, connect = limited
    first, _, _ = [connect() for _ in range(3)]
    first.expect('/login')
    extra = connect()
    lines = extra.read_to_close()
    assert len(lines) == 1 and 'full' in lines[0]
    first.send('/logout')
    first.read_to_close()
    assert connect().expect('/login')                  # room for one again


@pytest.mark.parametrize('limited', [{'login_timeout': 0.5}], indirect=True)
def test_a_connection_that_does_not_log_in_in_time_is_closed(limited):
    _, connect = limited
    member = logged_in(connect, 'member')
    idle = connect()
    idle.expect('/login')
    lines = idle.read_to_close()                       # returns once the server closes it
    assert len(lines) == 1 and 'timeout' in lines[0]
    assert member.ask('/python')[0].startswith('You are in the room python')


def test_every_close_is_logged_once_with_its_reason(caplog, loop_name):
    caplog.set_level(logging.INFO, logger='chat')
    running = ServerThread(max_queue=64 * 1024, login_timeout=0.5, max_clients=5,
                           line_rate=0, loop=loop_name)
    clients = [Client(running.port) for _ in range(5)]
    leaver, resetter, slow, talker, idle = clients
    try:
        for client in clients:
            client.expect('/login')
        for client, name in ((leaver, 'leaver'), (resetter, 'resetter'),
                             (slow, 'slow'), (talker, 'talker')):
            client.ask('/login ' + name)
        extra = Client(running.port)
        assert 'full' in extra.read_to_close()[0]
        extra.close()
        leaver.send('/logout')
        leaver.read_to_close()
        reset(resetter.sock)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.ask('/python')
        talker.ask('/python')
        talker.send(('x' * 1000 + '\r\n') * 6000)   # more than the kernel's buffers hold
        talker.sync()
        assert 'timeout' in idle.read_to_close()[0]
    finally:
        running.stop()
        for client in clients:
            client.close()
    closes = [record.getMessage() for record in caplog.records
              if ' closed' in record.getMessage() or ' refused' in record.getMessage()]
    reasons = {
        'leaver': 'logout', 'resetter': 'connection error', 'slow': 'slow reader',
        'talker': 'shutting down'}
    for name, reason in reasons.items():
        [line] = [line for line in closes if '(%s)' % name in line]
        assert reason in line
    assert sum('login timeout' in line for line in closes) == 1
    assert sum('refused: server full' in line for line in closes) == 1
    assert len(closes) == 6
    assert not [record for record in caplog.records if record.exc_info]
