"""Clients that try to break the server: floods, slow readers, crowds and chaos.

Each test runs the real program as a process on loopback, bounded in count
and time, and checks its answers, its log and, where /proc has it, its memory.
"""

import random
import socket
import threading
import time
import tracemalloc

import pytest
from conftest import OTHER_LOOPBACKS, TIMEOUT, Client, ServerThread, SmallSendBuffer, reset

from chat.limits import MAX_QUEUE

# Load is where the loops differ most: each loop.
pytestmark = pytest.mark.every_loop

MiB = 1024 * 1024

WORST_OUTPUT_PER_SESSION = 1.125 * (MAX_QUEUE + 4200) + 1024
"""The output side of docs/protocol.md's worst case: a queue at its cap and the line that
passed it, in a bytearray that may hold an eighth more, and what a queued line costs."""


def chat_pair(port, client):
    """Two logged-in clients in the room python: (alice, bob)."""
    alice, bob = client(port), client(port)
    for each, name in ((alice, 'alice'), (bob, 'bob')):
        each.expect('/login')
        each.ask('/login ' + name)
        each.ask('/python')
    alice.sync()
    return alice, bob


def test_flood_without_line_end_holds_memory_and_others_are_served(program, client):
    server = program('--port', '0')
    port = server.port()
    alice, bob = chat_pair(port, client)
    flooder = client(port)
    flooder.expect('/login')
    baseline = server.memory()
    chunk = b'x' * (64 * 1024)
    flooding = threading.Thread(target=lambda: [flooder.send(chunk) for _ in range(1024)])
    flooding.start()                                   # 64 MiB, no line end
    exchanges, sampled = 0, baseline
    while flooding.is_alive() or exchanges < 3:
        alice.send('ping %d' % exchanges)
        assert bob.line() == 'alice: ping %d' % exchanges
        exchanges += 1
        if baseline is not None:
            sampled = max(sampled, server.memory())
    flooding.join(TIMEOUT)
    flooder.send(b'\r\n')
    assert flooder.sync() == ['Line too long (over 4096 bytes): it was dropped.']
    if baseline is None:
        print('flood: 64 MiB sent, %d exchanges meanwhile; memory not measured: no /proc'
              % exchanges)
        return
    growth = server.memory('VmHWM') - baseline
    print('flood: 64 MiB sent, %d exchanges meanwhile; resident memory at most %.2f MiB '
          'over the start, peak (VmHWM) %.2f MiB over it'
          % (exchanges, (sampled - baseline) / MiB, growth / MiB))
    assert growth < 8 * MiB


def test_slow_reader_is_cut_memory_holds_and_the_others_get_everything(program, client):
    server = program('--port', '0', '--line-rate', '0')
    port = server.port()
    alice, bob = chat_pair(port, client)
    slow = client(port)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.expect('/login')
    slow.ask('/login slow')
    slow.ask('/python')
    talker = client(port)
    talker.expect('/login')
    talker.ask('/login talker')
    talker.ask('/python')
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


def test_idle_crowd_past_1024_then_login_works_and_idlers_time_out(program, client, loop_name):
    if loop_name == 'select':
        pytest.skip('the select loop cannot watch 1100 connections: select() stops at 1024')
    resource = pytest.importorskip('resource', reason='no open-file limit to raise here')
    crowd = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < crowd + 100:
        pytest.skip('the hard open-file limit (%d) is below %d' % (hard, crowd + 100))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, crowd + 100), hard))
    try:
        server = program('--port', '0', '--login-timeout', '4', '--max-per-address', '0')
        port = server.port()
        idlers = [client(port) for _ in range(crowd)]
        for idler in idlers:
            idler.expect('/login')
        alice, bob = chat_pair(port, client)           # well within the timeout
        alice.send('above the crowd')
        assert bob.line() == 'alice: above the crowd'
        for idler in idlers:
            assert 'timeout' in idler.read_to_close()[-1]
        assert alice.ask('/online')[0] == 'Online in python (2): alice, bob'
        print('idle crowd: %d connections held, all timed out' % crowd)
        assert server.log.count(None) == 0 and 'Traceback' not in ''.join(server.log)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


ROOMS = ('python', 'write', 'pm')


class Ledger:
    """What chaos clients sent into each room, and what the server confirmed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.confirmed = {room: [] for room in ROOMS}   # (nick, seq) the server handled

    def confirm(self, room, messages):
        with self.lock:
            self.confirmed[room].extend(messages)


def chaos_client(port, ident, ledger, rng, lives, source=None):
    """Log in, hop between rooms, chat, and leave in one of many ways; again, per life."""
    for life in range(lives):
        nick = 'c%d-%d' % (ident, life)
        chaos = Client(port, source=source)
        try:
            chaos.expect('/login')
            chaos.ask('/login ' + nick)
            seq = 0
            for _ in range(rng.randint(1, 3)):
                room = rng.choice(ROOMS)
                chaos.ask('/' + room)
                sent = []
                for _ in range(rng.randint(1, 4)):
                    chaos.send('m %s %d' % (nick, seq))
                    sent.append((nick, seq))
                    seq += 1
                chaos.sync()                           # the server has handled them
                ledger.confirm(room, sent)
                chaos.ask('/back')
            chaos.ask('/' + rng.choice(ROOMS))
            way = rng.choice(['logout', 'close', 'reset', 'half', 'mid-line', 'mid-telnet'])
            unconfirmed = 'm %s %d' % (nick, seq)      # may arrive or not, but only once
            if way == 'logout':
                chaos.send('/logout')
                chaos.read_to_close()
            elif way == 'half':
                chaos.send(unconfirmed + '\r\n')
                chaos.sock.shutdown(socket.SHUT_WR)
                chaos.read_to_close()
            else:
                if way == 'mid-line':
                    chaos.send(unconfirmed.encode())
                elif way == 'mid-telnet':
                    chaos.send(b'\xff\xfa\x18 half a subnegotiation')
                if way in ('reset', 'mid-telnet'):
                    reset(chaos.sock)
        finally:
            chaos.close()


def flooder(port, room, stop, source=None):
    """Log in, then send 600 lines into room at once, and stay until told to stop."""
    flood = Client(port, source=source)
    try:
        flood.expect('/login')
        flood.ask('/login flood-' + room)
        flood.ask('/' + room)
        flood.send(''.join('f %d\r\n' % n for n in range(600)))
        stop.wait(60)
    finally:
        flood.close()


def crowd_from_one_address(port, source, count, refused):
    """Open count connections from one address at once; count the ones refused."""
    clients = [Client(port, source=source) for _ in range(count)]
    try:
        for each in clients:
            first = each.line()
            if 'too many connections' in first:
                assert each.read_to_close() == []
                refused.append(each)
            else:
                assert first == 'Welcome to the chat server!'
    finally:
        for each in clients:
            each.close()


def test_chaos_every_message_reaches_each_reader_once_and_in_order(program, client):
    """With the limits on: chaos clients from ten addresses, flooders in every room, and
    one address that opens more connections than it may."""
    # Where only 127.0.0.1 answers (macOS), every client shares it: no per-address limit.
    server = program('--port', '0', *([] if OTHER_LOOPBACKS else ['--max-per-address', '0']))
    port = server.port()
    readers = {}
    for room in ROOMS:
        reader = client(port)
        reader.expect('/login')
        reader.ask('/login reader-' + room)
        reader.ask('/' + room)
        readers[room] = reader
    heard = {room: [] for room in ROOMS}
    listening = [threading.Thread(target=lambda room=room: heard[room].extend(
        readers[room].expect('closer: END'))) for room in ROOMS]
    for thread in listening:
        thread.start()

    ledger, errors = Ledger(), []
    clients, lives = 300, 3
    # Ten addresses of 30 clients each stay under the limit of 64 per address.
    sources = ['127.0.1.%d' % n for n in range(1, 11)] if OTHER_LOOPBACKS else [None]

    def run(target, *args):
        try:
            target(*args)
        except Exception as error:                     # reported below, with the rest
            errors.append(error)

    stop_flooding, refused = threading.Event(), []
    threads = [threading.Thread(target=run, args=(
        chaos_client, port, ident, ledger, random.Random(ident), lives,
        sources[ident % len(sources)])) for ident in range(clients)]
    threads += [threading.Thread(target=run, args=(flooder, port, room, stop_flooding))
                for room in ROOMS]
    if OTHER_LOOPBACKS:
        threads.append(threading.Thread(target=run, args=(
            crowd_from_one_address, port, '127.0.2.1', 80, refused)))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads[:clients]:
        thread.join(60)
    elapsed = time.monotonic() - started
    stop_flooding.set()
    for thread in threads[clients:]:
        thread.join(TIMEOUT)
    assert not errors, errors[:3]

    closer = client(port)
    closer.expect('/login')
    closer.ask('/login closer')
    for room in ROOMS:
        closer.ask('/' + room)
        closer.ask('END')
        closer.ask('/back')
    for thread in listening:
        thread.join(TIMEOUT)

    delivered = expected = 0
    for room in ROOMS:
        got = {}
        for line in heard[room]:
            if line.startswith('c') and ': m ' in line:
                nick, seq = line.split(': m ', 1)[1].split()
                got.setdefault(nick, []).append(int(seq))
        for nick, seqs in got.items():
            assert seqs == sorted(set(seqs)), 'out of order or repeated: %s %s' % (nick, seqs)
        for nick, seq in ledger.confirmed[room]:
            assert seq in got.get(nick, ()), '%s lost %s %d' % (room, nick, seq)
        expected += len(ledger.confirmed[room])
        delivered += sum(seq in got.get(nick, ()) for nick, seq in ledger.confirmed[room])
        flood = [int(line.split()[-1]) for line in heard[room]
                 if line.startswith('flood-%s: f ' % room)]
        assert flood == list(range(len(flood))) and len(flood) >= 20, flood[:30]
    print('chaos: %d clients x %d lives in %.1f s, 3 flooders, %d of 80 connections from one '
          'address refused; confirmed messages delivered %d / %d'
          % (clients, lives, elapsed, len(refused), delivered, expected))
    if OTHER_LOOPBACKS:
        assert len(refused) == 80 - 64
    assert 'Online in python (1): reader-python' in readers['python'].ask('/online')
    assert 'Traceback' not in ''.join(line for line in server.log if line)


def test_worst_case_memory_per_slow_reader_stays_within_the_stated_bound(loop_name):
    """Readers that never read, each filled to the output cap until it is cut: what Python
    allocates for them, counted by tracemalloc, stays within docs/protocol.md's bound.
    Small send buffers stand in for slow links (see SmallSendBuffer)."""
    readers = 300
    running = ServerThread(loop=loop_name, line_rate=0, max_per_address=0)
    running.server.channel_class = SmallSendBuffer
    clients = []
    try:
        for n in range(readers):
            reader = Client(running.port)
            reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.expect('/login')
            reader.ask('/login r%d' % n)
            reader.ask('/python')
            clients.append(reader)
        flooder = Client(running.port)
        clients.append(flooder)
        flooder.expect('/login')
        flooder.ask('/login flooder')
        flooder.ask('/python')
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
    finally:
        for each in clients:
            each.close()
        running.stop()
    per_reader = peak / readers
    print('worst case: %d slow readers at the %d-byte output cap: peak %.1f MiB allocated, '
          '%.1f KiB per reader' % (readers, MAX_QUEUE, peak / MiB, per_reader / 1024))
    assert per_reader < WORST_OUTPUT_PER_SESSION
