"""Users who mean harm, and time: addresses limited, refusals told and logged briefly,
nothing left behind. (Floods are paced: test_pacing.py; slow readers: test_slow_readers.py.)

Most tests run the real program on loopback, as a client would meet it, and
read its log; the churn test reads its memory from /proc.
"""

import logging
import re
import socket
import threading

import pytest
from conftest import ONE_LOOP, TIMEOUT, MiB, far_behind, needs_other_loopbacks

from chat.limits import MAX_PER_ADDRESS, address_key

# Floods, churn and resets are where the loops differ most: each loop.
pytestmark = pytest.mark.every_loop


# ---- connections per address

@needs_other_loopbacks
def test_one_address_gets_its_limit_another_still_gets_in_and_a_freed_slot_is_reused(
        program, client):
    server = program('--port', '0', '--max-per-address', '3')
    port = server.port()
    first = [client(port) for _ in range(3)]
    for each in first:
        each.expect('/login')
    extra = client(port)
    lines = extra.read_to_close()
    assert len(lines) == 1 and 'too many connections' in lines[0]
    server.expect(r'127\.0\.0\.1:\d+ refused: too many connections from 127\.0\.0\.1')
    other = client(port, source='127.0.0.2')
    other.expect('/login')
    assert other.ask('/login other')[0].startswith('Welcome, other')
    first[0].send('/logout')
    first[0].read_to_close()
    server.expect(r'closed: logout')
    again = client(port)
    assert again.line() == 'Welcome to the chat server!'


@ONE_LOOP
def test_the_default_is_64_connections_from_one_address(program, client):
    server = program('--port', '0')
    port = server.port()
    assert MAX_PER_ADDRESS == 64
    clients = [client(port) for _ in range(64)]
    for each in clients:
        each.expect('/login')
    assert 'too many connections' in client(port).read_to_close()[0]
    assert clients[-1].ask('/login last')[0].startswith('Welcome, last')


def test_zero_turns_the_per_address_limit_off(make_server, client):
    running = make_server(max_per_address=0, max_clients=100)
    clients = [client(running.port) for _ in range(70)]
    for each in clients:
        each.expect('/login')


@pytest.mark.parametrize('host, key', [
    ('192.0.2.7', '192.0.2.7'),
    ('2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'),
    ('2001:db8:1:2:bbbb::9', '2001:db8:1:2::/64'),
    ('2001:db8:1:3::1', '2001:db8:1:3::/64'),
    ('::ffff:192.0.2.7', '192.0.2.7'),
    ('fe80::1%eth0', 'fe80::/64'),
])
def test_ipv4_addresses_count_alone_and_ipv6_ones_by_their_64(host, key):
    assert address_key(host) == key


# ---- refusals: the newcomer gets its line, the log a few

def test_a_refused_newcomer_gets_its_line_even_if_it_sent_first(make_server, client):
    gate, parked = threading.Event(), threading.Event()
    gate.set()

    def gated(loop):
        """The loop stops before its next wait while the gate is shut."""
        poll = loop.poll

        def gated_poll(timeout):
            while not gate.is_set():
                parked.set()
                gate.wait()
            parked.clear()
            poll(min(timeout, 0.05))

        loop.poll = gated_poll

    running = make_server(max_clients=1, prepare=gated)
    client(running.port).expect('/login')
    try:
        for _ in range(20):
            gate.clear()
            assert parked.wait(TIMEOUT)
            extra = client(running.port)
            extra.sock.sendall(b'/login pushy\r\n' * 100)    # unread when it is refused
            gate.set()
            assert extra.read_to_close() == [
                'Sorry, the server is full; please try again later.']
            extra.close()
    finally:
        gate.set()                                 # a loop parked at the gate cannot stop


def test_a_storm_of_refusals_is_logged_in_a_few_lines(program, client):
    server = program('--port', '0', '--max-per-address', '1')
    port = server.port()
    client(port).expect('/login')
    for _ in range(200):
        assert 'too many connections' in client(port).line()
    server.stop()
    _code, log = server.finish()
    lines = [line for line in log.splitlines() if 'refused' in line]
    counted = sum(int(n) for line in lines for n in re.findall(r'(\d+) more connections', line))
    assert len(lines) < 10 and counted + sum('refused: too many' in line for line in lines) == 200


# ---- nothing stays behind: churn, and the sessions a shutdown ends

@ONE_LOOP
def test_churn_leaves_memory_flat_while_an_idler_waits_in_the_hall(program, client):
    """20,000 connections come and go while one never logs in: none of them may stay
    referenced until the idler's login deadline."""
    server = program('--port', '0')
    port = server.port()
    idler = client(port)
    idler.expect('/login')
    if server.memory() is None:
        pytest.skip("no /proc to read the server's memory from")
    samples = []
    for cycle in range(20000):
        with socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT) as churn:
            if cycle % 50 == 0:
                churn.recv(100)        # now and then, wait for the server to keep up
        if cycle % 2000 == 1999:
            idler.sync()               # every close before this one has been handled
            samples.append(server.memory())
    settled = samples[2:]              # after 6,000 cycles of warm-up
    growth = max(settled) - min(settled)
    print('churn: resident memory over 20,000 cycles (MiB): %s; growth after warm-up '
          '%.2f MiB' % (', '.join('%.1f' % (sample / MiB) for sample in samples),
                        growth / MiB))
    assert growth < 2 * MiB
    assert idler.ask('/login idler')[0].startswith('Welcome, idler')


def test_sessions_closed_at_the_end_of_the_shutdown_grace_are_logged(make_server, client,
                                                                    caplog):
    caplog.set_level(logging.INFO, logger='chat')
    running = make_server(line_rate=0, max_queue=256 * MiB)
    sluggard, talker = far_behind(client, running.port)
    running.stop()
    sluggard.close()
    talker.close()
    closes = [record.getMessage() for record in caplog.records if ' closed' in
              record.getMessage()]
    assert any('(sluggard): server shutting down; output still unsent after 2 s' in line
               for line in closes)
    assert any('(talker): server shutting down' in line for line in closes)
