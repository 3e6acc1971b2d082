"""Slow readers: a client that reads less than it is sent is cut when its queue is
full, and nobody else waits for it or loses a message; its memory stays bounded.

Over telnet and over the web, through a ServerThread and the real program.
"""

import logging
import socket
import threading
import time
import tracemalloc

import pytest
from conftest import (TIMEOUT, MiB, SmallSendBuffer, StrictRequest, StrictWebSession, chat_pair,
                      log_in)

from chat.limits import MAX_QUEUE

# When a queue fills, and when the cut is noticed, is the loop's to tell: each loop.
pytestmark = pytest.mark.every_loop

WORST_OUTPUT_PER_SESSION = 1.125 * (MAX_QUEUE + 4200) + 1024
"""The output side of docs/protocol.md's worst case: a queue at its cap and the line that
passed it, in a bytearray that may hold an eighth more, and what a queued line costs."""


def test_slow_reader_is_cut_and_nobody_else_waits_or_loses_a_message(make_server, client):
    running = make_server(max_queue=256 * 1024, line_rate=0)
    reader = log_in(client(running.port), 'reader', 'python')
    slow = client(running.port)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    log_in(slow, 'slow', 'python')
    talker = log_in(client(running.port), 'talker', 'python')
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


def test_slow_reader_is_cut_memory_holds_and_the_others_get_everything(program, client):
    server = program('--port', '0', '--line-rate', '0')
    port = server.port()
    alice, bob = chat_pair(port, client)
    slow = client(port)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    log_in(slow, 'slow', 'python')
    talker = client(port)
    log_in(talker, 'talker', 'python')
    alice.sync(), bob.sync()
    baseline = server.memory()
    # 12 MiB: more than the kernel's socket buffers (4 MiB here) hold for slow.
    lines = ['%d %s' % (n, 'y' * 1000) for n in range(12 * 1024)]
    heard = {alice: [], bob: []}
    readers = [threading.Thread(target=lambda who=who: heard[who].extend(
        who.expect_all('talker: ' + lines[-1], 'slow left the room.'))) for who in heard]
    for reader in readers:
        reader.start()
    talker.send(''.join(line + '\r\n' for line in lines))
    for reader in readers:
        reader.join(TIMEOUT)
    for got in heard.values():
        assert [line for line in got if line.startswith('talker: ')] == [
            'talker: ' + line for line in lines]
        assert 'slow left the room.' in got
    server.expect(r'closed \(slow\): slow reader')
    if baseline is None:
        print('slow reader: 12 MiB sent; memory not measured: no /proc')
        return
    growth = server.memory('VmHWM') - baseline
    print('slow reader: 12 MiB sent, peak memory growth %.1f MiB' % (growth / MiB))
    assert growth < 16 * MiB


def test_worst_case_memory_per_slow_reader_stays_within_the_stated_bound(make_server, client):
    """Readers that never read, each filled to the output cap until it is cut: what Python
    allocates for them, counted by tracemalloc, stays within docs/protocol.md's bound.
    Small send buffers stand in for slow links (see SmallSendBuffer)."""
    readers = 300
    running = make_server(line_rate=0, max_per_address=0)
    running.server.channel_class = SmallSendBuffer
    for n in range(readers):
        reader = client(running.port)
        reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        log_in(reader, 'r%d' % n, 'python')
    flooder = client(running.port)
    log_in(flooder, 'flooder', 'python')
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        flooder.send(('w' * 4000 + '\r\n') * 40)         # past every reader's cap
        deadline = time.monotonic() + TIMEOUT * 4
        while len(running.server.sessions) > 1:
            assert time.monotonic() < deadline, 'the slow readers were never cut'
            time.sleep(0.05)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    running.stop()
    per_reader = peak / readers
    print('worst case: %d slow readers at the %d-byte output cap: peak %.1f MiB allocated, '
          '%.1f KiB per reader' % (readers, MAX_QUEUE, peak / MiB, per_reader / 1024))
    assert per_reader < WORST_OUTPUT_PER_SESSION


class SmallSendBufferWebSession(StrictWebSession):
    """A browser's session with a small send buffer, as on a slow link: what its client does
    not read piles up in the session's queue, not in loopback's megabytes of kernel buffer."""

    def __init__(self, server, sock, origin=None, events=False):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        super().__init__(server, sock, origin, events)


class SmallSendBufferRequest(StrictRequest):
    session_class = SmallSendBufferWebSession


def test_a_browser_that_never_reads_is_cut_as_a_slow_reader(make_server, web_client, client,
                                                            caplog):
    """A tab left open on a sleeping laptop."""
    caplog.set_level(logging.INFO, logger='chat')
    running = make_server(web=True, max_queue=16 * 1024, line_rate=0)
    running.web.channel_class = SmallSendBufferRequest
    sleeper = web_client(running.web_port)
    talker = client(running.port)
    sleeper.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    log_in(sleeper, 'sleeper', 'python')
    log_in(talker, 'talker', 'python')
    talker.send(('z' * 1000 + '\r\n') * 3000)
    talker.expect('sleeper left the room.')
    assert any('(sleeper): slow reader' in record.getMessage()
               for record in caplog.records)
    assert not [record for record in caplog.records if record.exc_info]


def test_a_cut_session_dispatches_nothing_more_of_what_it_sent(make_server, client):
    running = make_server(line_rate=0, max_queue=16 * 1024)
    running.server.channel_class = SmallSendBuffer
    member, greedy = client(running.port), client(running.port)
    greedy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for each, name in ((member, 'member'), (greedy, 'greedy')):
        log_in(each, name, 'python')
    member.sync()
    # One read: replies to /help enough to be cut, then a line that must go nowhere.
    greedy.send(b'/help\r\n' * 2000 + b'after the cut\r\n')
    lines = member.expect('greedy left the room.')
    assert 'greedy: after the cut' not in lines
    assert member.sync() == []


def test_many_senders_at_once_do_not_cut_a_reader_who_reads(make_server, login_all):
    """All in one round, more than --max-queue for the reader, which the kernel takes."""
    running = make_server(max_queue=16 * 1024, line_rate=0)
    reader, *senders = login_all(running, 'reader', *('s%d' % n for n in range(12)),
                                 room='python')
    reader.sync()
    for sender in senders:
        sender.send(('y' * 100 + '\r\n') * 20)
    reader.expect_all(*('s%d: %s' % (n, 'y' * 100) for n in range(12)))
    assert 'Online in python (13)' in reader.ask('/online')[-1]
