"""Clients that try to break the server: floods, slow readers, crowds and chaos.

Each test runs the real program as a process on loopback, bounded in count
and time, and checks its answers, its log and, where /proc has it, its memory.
"""

import random
import socket
import threading
import time

import pytest
from conftest import TIMEOUT, Client, reset

MiB = 1024 * 1024


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
    server = program('--port', '0')
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
        server = program('--port', '0', '--login-timeout', '4')
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


def chaos_client(port, ident, ledger, rng, lives):
    """Log in, hop between rooms, chat, and leave in one of many ways; again, per life."""
    for life in range(lives):
        nick = 'c%d-%d' % (ident, life)
        chaos = Client(port)
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


def test_chaos_every_message_reaches_each_reader_once_and_in_order(program, client):
    server = program('--port', '0')
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

    def run(ident):
        try:
            chaos_client(port, ident, ledger, random.Random(ident), lives)
        except Exception as error:                     # reported below, with the rest
            errors.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(ident,)) for ident in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]
    elapsed = time.monotonic() - started

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
    print('chaos: %d clients x %d lives in %.1f s; confirmed messages delivered %d / %d'
          % (clients, lives, elapsed, delivered, expected))
    assert 'Online in python (1): reader-python' in readers['python'].ask('/online')
    assert 'Traceback' not in ''.join(line for line in server.log if line)
