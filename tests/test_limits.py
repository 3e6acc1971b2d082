"""The limits that protect everyone: too many clients, late logins, the token bucket, and
the log of refusals. Slow readers are test_slow_readers.py's, pacing test_pacing.py's,
the deadline queues test_schedule.py's."""

import logging

import pytest
from conftest import log_in

from chat.limits import Limits, Refusals, TokenBucket

# When a limit bites is what the loop tells the server, and when: each loop.
pytestmark = pytest.mark.every_loop


@pytest.fixture
def limited(request, make_server, client):
    """A server with the limits a test names, and a function that opens clients to it."""
    running = make_server(**request.param)
    return running, lambda: client(running.port)


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
    member = log_in(connect(), 'member')
    idle = connect()
    idle.expect('/login')
    lines = idle.read_to_close()                       # returns once the server closes it
    assert len(lines) == 1 and 'timeout' in lines[0]
    assert member.ask('/python')[0].startswith('You are in the room python')


@pytest.mark.parametrize('limited', [{'login_timeout': 0}], indirect=True)
def test_a_login_timeout_of_0_lets_a_connection_take_its_time(limited):
    running, connect = limited
    slow = connect()
    slow.expect('/login')
    assert not running.server.schedule.logins          # no deadline, not even one at once
    slow.send('/login slow')
    assert slow.expect('Welcome, slow')


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
