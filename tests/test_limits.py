"""The limits that protect everyone: slow readers, too many clients, late logins, and the log."""

import asyncore
import logging
import socket
import threading

import pytest
from conftest import TIMEOUT, Client, ServerThread, StrictServer, reset

from chat.limits import Deadlines, Limits, Refusals, TokenBucket
from chat.loop import LOOPS, capacity, make_loop

# When a limit bites is what the loop tells the server, and when: each loop.
pytestmark = pytest.mark.every_loop


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
    _running, connect = limited
    first, _, _ = [connect() for _ in range(3)]
    first.expect('/login')
    extra = connect()
    lines = extra.read_to_close()
    assert len(lines) == 1 and 'full' in lines[0]
    first.send('/logout')
    first.read_to_close()
    assert connect().expect('/login')                  # room for one again


@pytest.mark.parametrize('limited', [{'login_timeout': 1.0}], indirect=True)
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
    clients = []
    try:
        for name in ('leaver', 'resetter', 'slow', 'talker'):   # each logs in as it connects
            client = Client(running.port)
            clients.append(client)
            client.expect('/login')
            client.ask('/login ' + name)
        leaver, resetter, slow, talker = clients
        idle = Client(running.port)                     # the 5th: it will not log in
        clients.append(idle)
        idle.expect('/login')
        extra = Client(running.port)                    # the 6th, within idle's 0.5 s
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


# ---- the mechanisms of chat/limits.py, told the time: no sockets, no sleeps

def test_a_token_bucket_allows_its_burst_at_once_then_its_rate():
    bucket = TokenBucket(rate=5, burst=20, now=100.0)
    assert [bucket.take(100.0) for _ in range(21)] == [True] * 20 + [False]
    assert not bucket.take(100.1)                  # half a token back: not yet
    assert bucket.take(100.2)                      # one line every 1/5 s
    assert not bucket.take(100.2)


def test_a_token_bucket_refills_to_its_burst_and_no_further():
    bucket = TokenBucket(rate=5, burst=20, now=0.0)
    for _ in range(20):
        bucket.take(0.0)
    assert sum(bucket.take(3600.0) for _ in range(30)) == 20   # an hour idle: one burst


def test_deadlines_fall_due_a_fixed_delay_after_each_was_added_first_due_first():
    deadlines = Deadlines(10)
    deadlines.add('a', 0)
    deadlines.add('b', 3)
    deadlines.add('c', 5)
    deadlines.add('a', 6)                          # a starts again, behind c
    assert deadlines.next_due() == 13
    assert deadlines.pop_due(12.9) == []
    assert deadlines.pop_due(15) == ['b', 'c']
    deadlines.discard('a')
    deadlines.discard('a')                         # not waiting: nothing to do
    assert (len(deadlines), deadlines.next_due(), deadlines.pop_due(1e9)) == (0, None, [])


def test_refusals_are_logged_once_a_second_with_a_count_of_the_rest(caplog):
    caplog.set_level(logging.INFO, logger='chat')
    refusals = Refusals(every=1.0)
    refusals.refused('10.0.0.1:1', 'server full', now=50.0)
    for n in range(99):
        refusals.refused('10.0.0.1:%d' % n, 'server full', now=50.5)
    assert refusals.next_due() == 51.0
    refusals.tick(50.9)
    refusals.tick(51.0)
    refusals.refused('10.0.0.2:1', 'too many connections', now=51.5)
    assert [record.getMessage() for record in caplog.records] == [
        '10.0.0.1:1 refused: server full', '99 more connections refused',
        '10.0.0.2:1 refused: too many connections']
    assert refusals.next_due() is None


def test_limits_are_one_value_capped_without_changing_the_original():
    limits = Limits(max_clients=5000, line_rate=0)
    assert limits.capped(1000) == Limits(max_clients=1000, line_rate=0)
    assert limits.capped(None) is limits.capped(9999) is limits
    assert limits.max_clients == 5000


class Clock:
    """A clock a test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def stepped():
    """A server on a clock of the test's, its loop turned by hand; and a client factory."""
    clock = Clock()
    servers = []

    def start(**limits):
        server = StrictServer(0, '127.0.0.1', limits=Limits(**limits).capped(
            capacity(LOOPS[0])), clock=clock)
        loop = make_loop(server, LOOPS[0])
        servers.append(server)
        return server, loop, clock

    yield start
    for server in servers:
        asyncore.close_all(server.map)


def turn(loop, client, text):
    """Turn the loop until client has received a line carrying text; return that line."""
    client.sock.setblocking(False)
    for _ in range(1000):
        loop.run_once(0)
        try:
            client._fill()
        except BlockingIOError:
            continue
        while b'\r\n' in client.buffer:
            line = client.line()
            if text in line:
                return line
    raise AssertionError('no line carrying %r' % text)


def test_the_login_deadline_falls_on_the_servers_clock(stepped):
    server, loop, clock = stepped(login_timeout=300)
    idler = Client(server.socket.getsockname()[1])
    try:
        turn(loop, idler, '/login')
        clock.now += 299.9
        loop.run_once(0)
        assert server.sessions and not server.logins.pop_due(clock.now)
        clock.now += 0.1
        assert 'timeout' in turn(loop, idler, 'timeout')
    finally:
        idler.close()


def test_the_line_rate_counts_by_the_servers_clock(stepped):
    server, loop, clock = stepped(line_rate=5, line_burst=20)
    port = server.socket.getsockname()[1]
    talker, listener = Client(port), Client(port)
    try:
        for client, name in ((talker, 'talker'), (listener, 'listener')):
            turn(loop, client, '/login')
            client.send('/login ' + name)
            turn(loop, client, 'Commands here')
            client.send('/python')
            turn(loop, client, 'room python')
        talker.send(''.join('line %d\r\n' % n for n in range(1, 30)))
        # 2 of the burst of 20 went to /login and /python: 18 pass at once.
        assert turn(loop, listener, 'line 18') == 'talker: line 18'
        for _ in range(10):
            loop.run_once(0)
        with pytest.raises(BlockingIOError):
            listener._fill()                       # line 19 waits for the rate
        clock.now += 0.2
        assert turn(loop, listener, 'line') == 'talker: line 19'
    finally:
        talker.close()
        listener.close()
