"""Schedule: the clock, the deadlines channels wait for, and what each tick does.

First the schedule alone, on a clock the test moves, with channels that only
record what it asks of them; then its deadlines in a real server, whose loop
the test turns by hand on that clock. No sleeps.
"""

import asyncore
import socket

import pytest
from conftest import TIMEOUT, Client, StrictServer, StrictWebServer, turn

from chat.limits import Deadlines, Limits, Refusals
from chat.loop import LOOPS, capacity, make_loop
from chat.schedule import Schedule


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Channel:
    """What the schedule asks of a channel, written down."""

    def __init__(self):
        self.calls = []

    def take_turn(self):
        self.calls.append('take_turn')

    def time_out(self, seconds):
        self.calls.append(('time_out', seconds))

    def stop_lingering(self, seconds):
        self.calls.append(('stop_lingering', seconds))

    def handle_close(self):
        self.calls.append('handle_close')


def schedule(**limits):
    clock = Clock()
    return Schedule(Limits(**limits), clock), clock


def test_nothing_waiting_means_no_deadline():
    plan, clock = schedule()
    assert plan.tick(clock.now) is None


def test_close_soon_closes_at_the_next_tick_not_before():
    plan, clock = schedule()
    channel = Channel()
    plan.close_soon(channel)
    assert channel.calls == []
    plan.tick(clock.now)
    assert channel.calls == ['handle_close']
    plan.tick(clock.now)
    assert channel.calls == ['handle_close']          # once


def test_a_turn_is_due_at_once_and_paced_lines_at_the_line_rate():
    plan, clock = schedule(line_rate=4)
    turn, paced = Channel(), Channel()
    plan.turns.add(turn, clock.now)
    plan.paced.add(paced, clock.now)
    assert plan.tick(clock.now) == clock.now + 0.25    # the paced one, a quarter second away
    assert turn.calls == ['take_turn'] and paced.calls == []
    clock.now += 0.25
    assert plan.tick(clock.now) is None
    assert paced.calls == ['take_turn']


def test_the_login_and_request_deadlines_call_time_out_with_their_delay():
    plan, clock = schedule(login_timeout=30, request_timeout=10)
    session, request = Channel(), Channel()
    plan.logins.add(session, clock.now)
    plan.requests.add(request, clock.now)
    assert plan.tick(clock.now) == clock.now + 10
    clock.now += 10
    assert plan.tick(clock.now) == clock.now + 20
    assert request.calls == [('time_out', 10)] and session.calls == []
    clock.now += 20
    plan.tick(clock.now)
    assert session.calls == [('time_out', 30)]


def test_an_orderly_close_that_lingers_past_its_limit_is_stopped():
    plan, clock = schedule(linger=5)
    channel = Channel()
    plan.lingering.add(channel, clock.now)
    clock.now += 4.9
    plan.tick(clock.now)
    assert channel.calls == []
    clock.now += 0.1
    plan.tick(clock.now)
    assert channel.calls == [('stop_lingering', 5)]


def test_forget_drops_a_channel_from_every_queue():
    plan, clock = schedule()
    channel = Channel()
    for deadlines in (plan.turns, plan.paced, plan.logins, plan.requests, plan.lingering):
        deadlines.add(channel, clock.now)
    plan.forget(channel)
    clock.now += 1000
    assert plan.tick(clock.now) is None
    assert channel.calls == []


def test_a_close_asked_for_during_a_tick_makes_the_tick_due_again_at_once():
    plan, clock = schedule()

    class Closing(Channel):
        def take_turn(self):
            super().take_turn()
            plan.close_soon(self)

    channel = Closing()
    plan.turns.add(channel, clock.now)
    assert plan.tick(clock.now) == clock.now
    plan.tick(clock.now)
    assert channel.calls == ['take_turn', 'handle_close']


def test_timers_are_ticked_and_their_next_due_counts(caplog):
    plan, clock = schedule()
    refusals = Refusals(every=1.0)
    plan.add_timer(refusals)
    caplog.set_level('INFO', logger='chat')
    refusals.refused('a', 'full', clock.now)
    refusals.refused('b', 'full', clock.now)           # counted, not logged yet
    assert plan.tick(clock.now) == clock.now + 1.0
    clock.now += 1.0
    assert plan.tick(clock.now) is None
    assert '1 more connections refused' in caplog.text


# ---- in a real server, on its clock

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
        assert server.sessions and not server.schedule.logins.pop_due(clock.now)
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
