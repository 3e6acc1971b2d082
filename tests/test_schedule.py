"""The schedule: the deadline queues, and deadlines that fall on the server's clock, which
a test moves by hand while it turns the loop itself: no sleeps.

Today the queues are chat/limits.py's Deadlines, the clock the Server's `clock=`.
"""

import asyncore
import socket

import pytest
from conftest import TIMEOUT, Client, StrictServer, StrictWebServer, turn

from chat.limits import Deadlines, Limits
from chat.loop import LOOPS, capacity, make_loop


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


def test_a_request_head_must_come_within_10_seconds_of_the_servers_clock():
    """A head sent a byte at a time: closed at 10 s, told so, on a clock the test moves."""
    now = [1000.0]
    server = StrictServer(0, '127.0.0.1', clock=lambda: now[0],
                          limits=Limits().capped(capacity(LOOPS[0])))
    web = StrictWebServer(server, 0, '127.0.0.1')
    loop = make_loop(server, LOOPS[0])
    slow = socket.create_connection(('127.0.0.1', web.socket.getsockname()[1]), timeout=5)
    try:
        slow.setblocking(False)
        for second in range(10):                # a byte at 0 s, 1 s, ... 9 s
            now[0] = 1000.0 + second
            slow.send(b'GET / HTTP/1.1\r\n'[second:second + 1])
            for _ in range(20):
                loop.run_once(0)
            with pytest.raises(BlockingIOError):
                slow.recv(1)                    # no answer yet
        now[0] = 1009.99
        loop.run_once(0)
        with pytest.raises(BlockingIOError):
            slow.recv(1)
        now[0] = 1010.0
        for _ in range(3):
            loop.run_once(0)
        slow.settimeout(TIMEOUT)
        assert slow.recv(100).startswith(b'HTTP/1.1 408')
    finally:
        slow.close()
        asyncore.close_all(server.map)
