"""Clients that try to break the server: floods, slow readers, crowds and chaos.

Each test runs the real program as a process on loopback, bounded in count
and time, and checks its answers, its log and, where /proc has it, its memory.
"""

import random
import socket
import threading
import time

import pytest
from conftest import OTHER_LOOPBACKS, TIMEOUT, Client, MiB, chat_pair, reset

# Load is where the loops differ most: each loop.
pytestmark = pytest.mark.every_loop




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
