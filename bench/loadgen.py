"""The load generator: chat clients by the thousand, from one process, on loopback.

Each scenario is a function that drives a server on 127.0.0.1 and returns a
dict of figures; `python bench/loadgen.py SCENARIO --port N [--pid PID]`
runs one from the command line and prints the dict as JSON.

1. `fanout`: a full room, a few senders in a burst. Deliveries per second,
   and every line checked: each sender's lines reach every other member
   complete, once and in order.
2. `paced`: a quiet room; one member sends a line every few ms, the others
   measure how long each takes to arrive.
3. `idle_pingpong`: thousands of idle logged-in clients, and two others
   passing a line back and forth. The round trip, and the server's memory
   per idle session.
4. `login_storm`: thousands of clients connecting and logging in.

Conventions:

1. One process, one thread, non-blocking sockets and an epoll selector
   (`selectors.DefaultSelector`). Reading is kept cheap so the generator is
   not what is measured: big `recv`s, lines counted with `bytes.count` on
   whole chunks, and the checking done after the clock stops. Every timed
   figure comes with the generator's own CPU time over the same interval,
   so a reader can see whether it, rather than the server, was saturated.
2. Given the server's pid, a scenario also reports the server's resident
   memory (VmRSS) and CPU time (utime + stime), read from /proc, before and
   after it, and `settle`s first: it waits until the server has finished
   the work the previous scenario left it (closing sessions, say).
3. Every connection goes to 127.0.0.1, every wait has a deadline, and every
   socket a scenario opens is closed when it returns, whatever happens.
4. Nicknames carry a random tag, so scenarios never collide on a server
   that is still closing the sessions of the one before.
"""

import argparse
import errno
import json
import math
import operator
import os
import random
import re
import resource
import selectors
import socket
import string
import sys
import time

HOST = '127.0.0.1'

WINDOW = 500
"""Connections being opened at once (connected, not yet logged in).

Below the kernel's accept backlog (4096 here), so that no SYN is dropped: a
dropped SYN is retried after a whole second, which would then be most of
what a login figure measures.
"""

CHUNK = 65536
"""Bytes asked of each recv()."""

COALESCE = 0.01
"""The fraction of the burst so far that fanout sleeps after each round of reads.

A server that sends each line as it goes (asyncio's transport.write does)
spreads a burst thinly over every member's socket; a generator reading as
fast as it can then wakes for a line or two per recv() and spends as much
CPU as the server, in the kernel mostly. Sleeping lets lines pile up into
bigger chunks. The sleep is 1 to 50 ms and 1% of the time elapsed, so the
last receipt is seen at most about 1% late.
"""

LOGGED_IN = b'! You are in the hall.\r\n'
"""The end of the login reply, `Welcome, NICK! You are in the hall.`, and nothing else."""

PAD = b'the quick brown fox'
"""Text after a fan-out line's sender and sequence number, to make it look like chat."""

_FANOUT_LINE = re.compile(rb'^[^:\r\n]+: B(\d{3}) (\d{6}) ', re.M)
"""A fan-out line as received, `NICK: Bsss qqqqqq PAD`: (sender, sequence)."""

_TICK = os.sysconf('SC_CLK_TCK')


# ---- the server's figures, from /proc

def raise_open_file_limit():
    """Raise this process's open-file soft limit to the hard limit: each client is one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_figures(pid):
    """Return the server's resident memory (kB) and CPU time (s), or {} without a pid."""
    if not pid:
        return {}
    with open('/proc/%d/status' % pid) as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith('VmRSS:'))
    with open('/proc/%d/stat' % pid) as stat:
        # The command name, field 2, may hold spaces: count the fields after its ')'.
        fields = stat.read().rpartition(')')[2].split()
    utime, stime = int(fields[11]), int(fields[12])
    return {'rss_kb': rss_kb, 'cpu_s': (utime + stime) / _TICK}


def settle(pid, quiet=0.25, longest=30.0):
    """Wait until the server has stopped working: under 10 ms of CPU in `quiet` seconds.

    Without a pid there is nothing to watch, so this waits one `quiet` period.
    Returns the seconds waited.
    """
    start = time.monotonic()
    if not pid:
        time.sleep(quiet)
        return quiet
    before = server_figures(pid)['cpu_s']
    while time.monotonic() - start < longest:
        time.sleep(quiet)
        now = server_figures(pid)['cpu_s']
        if now - before < 0.01:
            break
        before = now
    return time.monotonic() - start


def percentile(values, fraction):
    """The nearest-rank percentile of values (fraction 0.5 for the median)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def tag(letter):
    """A short random nickname prefix for one scenario: the letter, then 3 letters."""
    return letter + ''.join(random.choice(string.ascii_lowercase) for _ in range(3))


# ---- connections

_CONNECTING, _LOGGING_IN, _READY = 'connecting', 'logging in', 'ready'


class Conn:
    """One client connection and what the generator keeps of what it received."""

    __slots__ = ('sock', 'nick', 'hello', 'state', 'tail', 'chunks', 'count',
                 'expected', 'out', 'done', 'closed')

    def __init__(self, nick, hello, source=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            self.sock.bind((source, 0))           # another loopback address (127.0.1.1, ...)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.nick = nick
        self.hello = hello             # bytes sent once connected: /login and what follows
        self.state = _CONNECTING
        self.tail = b''                # the end of what was received, to find a marker in
        self.chunks = []               # everything received while a scenario keeps it
        self.count = 0                 # lines received while a scenario counts them
        self.expected = 0              # lines it should receive
        self.out = b''                 # bytes still to send
        self.done = False
        self.closed = False

    def seen(self, data, marker):
        """Take received data; return whether marker has now arrived (even split across reads)."""
        window = self.tail + data
        self.tail = window[-len(marker):]
        return marker in window


class Crowd:
    """Many connections to one server, watched by one epoll selector."""

    def __init__(self, port):
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.conns = []

    def open(self, nicks, then=b'', marker=LOGGED_IN, window=WINDOW, keep_reading=True,
             timeout=120.0, sources=()):
        """Connect a client for each nickname; each logs in, sends `then`, waits for marker.

        At most `window` connections are in progress at once. A client whose
        marker has arrived stays registered (reading and dropping what comes,
        such as other members' `entered` notices) if keep_reading, and is
        left unwatched otherwise, like an idle user. Returns the new Conns.
        """
        todo = list(reversed(nicks))
        new, in_progress, ready = [], 0, 0
        deadline = time.monotonic() + timeout
        while ready < len(nicks):
            while todo and in_progress < window:
                nick = todo.pop()
                source = sources[len(new) % len(sources)] if sources else None
                conn = Conn(nick, b'/login %s\n%s' % (nick.encode(), then), source)
                err = conn.sock.connect_ex((HOST, self.port))
                if err not in (0, errno.EINPROGRESS):
                    conn.sock.close()
                    raise OSError(err, 'cannot connect to %s:%d: %s'
                                  % (HOST, self.port, os.strerror(err)))
                self.selector.register(conn.sock, selectors.EVENT_WRITE, conn)
                new.append(conn)
                self.conns.append(conn)
                in_progress += 1
            if time.monotonic() > deadline:
                raise TimeoutError('%d of %d clients logged in after %g s'
                                   % (ready, len(nicks), timeout))
            for key, _ in self.selector.select(1.0):
                conn = key.data
                if conn.state is _CONNECTING:
                    err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, 'cannot connect: %s' % os.strerror(err))
                    conn.sock.sendall(conn.hello)        # a few bytes: the buffer takes them
                    conn.state = _LOGGING_IN
                    self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
                    continue
                data = conn.sock.recv(CHUNK)
                if not data:
                    raise ConnectionError('the server closed %s while it logged in' % conn.nick)
                if conn.state is _LOGGING_IN and conn.seen(data, marker):
                    conn.state = _READY
                    conn.tail = b''
                    in_progress -= 1
                    ready += 1
                    if not keep_reading:
                        self.selector.unregister(conn.sock)
        return new

    def barrier(self, talker, word, timeout=60.0):
        """Have talker say word in its room; wait until every other member watched has it.

        A server sends each client its lines in order, so once a member has
        the word, it has everything the server sent it before: `entered`
        notices, say. Lines after the barrier start from a clean slate.
        talker may be a list: one talker in each room, all saying the word.
        """
        data = word.encode()
        talkers = talker if isinstance(talker, list) else [talker]
        for each in talkers:
            each.sock.sendall(data + b'\n')
        waiting = {conn for conn in self.conns
                   if conn not in talkers and conn.state is _READY and not conn.closed}
        watched = {key.data for key in self.selector.get_map().values()}
        waiting &= watched
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError('%d members never got the barrier line' % len(waiting))
            for key, _ in self.selector.select(1.0):
                conn = key.data
                received = conn.sock.recv(CHUNK)
                if not received:
                    raise ConnectionError('the server closed %s' % conn.nick)
                if conn in waiting and conn.seen(received, data):
                    waiting.discard(conn)
        for conn in self.conns:
            conn.tail = b''

    def close(self):
        """Close every connection."""
        for conn in self.conns:
            conn.sock.close()
        self.conns = []
        self.selector.close()


def _measure(pid, figures, before, cpu_start, wall):
    """Add the server's and the generator's CPU over a timed interval to figures."""
    after = server_figures(pid)
    loadgen_cpu = time.process_time() - cpu_start
    figures['loadgen_cpu_s'] = round(loadgen_cpu, 3)
    figures['loadgen_cpu_share'] = round(loadgen_cpu / wall, 3) if wall else None
    if after:
        server_cpu = after['cpu_s'] - before['cpu_s']
        figures['server_cpu_s'] = round(server_cpu, 3)
        figures['server_cpu_share'] = round(server_cpu / wall, 3) if wall else None
        figures['server_rss_after_kb'] = after['rss_kb']


# ---- the scenarios

def fanout(port, clients=1000, senders=10, lines=200, pid=None, quiet_timeout=5.0):
    """A burst into a full room: deliveries per second, and lost or reordered lines.

    All clients log in and enter room python; the first `senders` of them
    then send `lines` lines each, all at once. Each line is
    `Bsss qqqqqq PAD`, its sender's number and its sequence number, so each
    of the other members must receive every sender's lines, complete, once
    and in order. During the burst the generator only stores and counts what
    arrives; every receiver is checked after the clock has stopped.

    deliveries_per_s is the lines received by all members over the time from
    the first send to the last receipt. The burst ends when every member has
    its lines, or after quiet_timeout seconds in which nothing arrived.
    """
    raise_open_file_limit()
    prefix = tag('f')
    settle(pid)
    start = server_figures(pid)
    crowd = Crowd(port)
    try:
        members = crowd.open(['%s%d' % (prefix, i) for i in range(clients)],
                             then=b'/python\n', marker=b'You are in the room python.')
        crowd.barrier(members[0], 'sync-%s' % prefix)
        figures = {'clients': clients, 'senders': senders, 'lines': lines}
        for index, conn in enumerate(members):
            conn.expected = (senders - 1 if index < senders else senders) * lines
        bursts = [b''.join(b'B%03d %06d %s\n' % (number, seq, PAD) for seq in range(lines))
                  for number in range(senders)]
        waiting = sum(1 for conn in members if conn.expected)
        received = 0
        before = server_figures(pid)
        cpu_start = time.process_time()
        first = last = time.perf_counter()
        for conn, burst in zip(members, bursts):
            sent = conn.sock.send(burst)
            if sent < len(burst):
                conn.out = burst[sent:]
                crowd.selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                      conn)
        select, recv_size, pause = crowd.selector.select, CHUNK, time.sleep
        while waiting:
            events = select(quiet_timeout)
            if not events:
                break                                    # nothing for a while: the rest is lost
            for key, mask in events:
                conn = key.data
                if mask & selectors.EVENT_WRITE:
                    sent = conn.sock.send(conn.out)
                    conn.out = conn.out[sent:]
                    if not conn.out:
                        crowd.selector.modify(conn.sock, selectors.EVENT_READ, conn)
                if not mask & selectors.EVENT_READ:
                    continue
                data = conn.sock.recv(recv_size)
                if data:
                    conn.chunks.append(data)
                    conn.count += data.count(b'\n')
                    received += data.count(b'\n')
                    last = time.perf_counter()
                else:
                    crowd.selector.unregister(conn.sock)
                    conn.closed = True
                if not conn.done and (conn.count >= conn.expected or conn.closed):
                    conn.done = True
                    waiting -= 1
            pause(min(0.05, max(0.001, (last - first) * COALESCE)))
        wall = last - first
        _measure(pid, figures, before, cpu_start, wall)
        figures['seconds'] = round(wall, 3)
        figures['deliveries'] = received
        figures['deliveries_per_s'] = round(received / wall) if wall else None
        figures.update(check_fanout(members, senders, lines))
    finally:
        crowd.close()
    figures['server_rss_before_kb'] = start.get('rss_kb')
    return figures


def check_fanout(members, senders, lines):
    """Check what each member received in fanout: each sender's lines, complete, once, in order.

    Returns the totals over all members: lost (a line never received),
    duplicated (received more than once), reordered (received after a later
    line of the same sender) and checked (members checked: all of them).
    The common case is checked in C: a stable sort by sender of the
    (sender, sequence) pairs received must equal the expected list exactly.
    """
    expected = [(b'%03d' % number, b'%06d' % seq)
                for number in range(senders) for seq in range(lines)]
    by_sender = operator.itemgetter(0)
    lost = duplicated = reordered = 0
    for index, conn in enumerate(members):
        want = expected
        if index < senders:                      # a sender does not hear itself
            want = expected[:index * lines] + expected[(index + 1) * lines:]
        pairs = _FANOUT_LINE.findall(b''.join(conn.chunks))
        conn.chunks = []
        if sorted(pairs, key=by_sender) == want:
            continue
        seqs = {}
        for number, seq in pairs:
            seqs.setdefault(int(number), []).append(int(seq))
        for number in range(senders):
            if number == index:
                duplicated += len(seqs.get(number, ()))    # an echo is a line too many
                continue
            got = seqs.get(number, [])
            lost += lines - len(set(got))
            duplicated += len(got) - len(set(got))
            highest = -1
            for seq in got:
                if seq < highest:
                    reordered += 1
                highest = max(highest, seq)
    return {'lost': lost, 'duplicated': duplicated, 'reordered': reordered,
            'checked': len(members)}


def paced(port, members=5, lines=500, interval=0.004, pid=None):
    """Latency in a quiet room: one line every `interval` s, the others time its arrival.

    Each line carries its send time (time.perf_counter_ns, one clock: the
    sender and receivers are in this process). Reports p50, p99 and the
    worst in ms over every (line, receiver) pair, and the lines lost.
    """
    raise_open_file_limit()
    prefix = tag('p')
    settle(pid)
    start = server_figures(pid)
    crowd = Crowd(port)
    try:
        room = crowd.open(['%s%d' % (prefix, i) for i in range(members)],
                          then=b'/write\n', marker=b'You are in the room write.')
        crowd.barrier(room[0], 'sync-%s' % prefix)
        sender, line = room[0], re.compile(rb'P (\d+) (\d+)\r\n')
        latencies = []
        expected = lines * (members - 1)
        before = server_figures(pid)
        cpu_start = time.process_time()
        begin = time.perf_counter()
        sent, next_send, last_send = 0, begin, begin
        while len(latencies) < expected:
            now = time.perf_counter()
            if sent < lines and now >= next_send:
                sender.sock.sendall(b'P %d %d\n' % (sent, time.perf_counter_ns()))
                sent += 1
                next_send += interval
                last_send = now
            elif sent == lines and now > last_send + 2.0:
                break                                    # what has not come by now is lost
            wait = max(0.0, next_send - now) if sent < lines else 0.5
            for key, _ in crowd.selector.select(wait):
                arrived = time.perf_counter_ns()
                conn = key.data
                data = conn.sock.recv(CHUNK)
                if not data:
                    raise ConnectionError('the server closed %s' % conn.nick)
                complete, _, conn.tail = (conn.tail + data).rpartition(b'\n')
                latencies.extend((arrived - int(stamp)) / 1e6
                                 for _, stamp in line.findall(complete + b'\n'))
        wall = time.perf_counter() - begin
        figures = {'members': members, 'lines': lines, 'interval_ms': interval * 1000,
                   'p50_ms': round(percentile(latencies, 0.5), 3),
                   'p99_ms': round(percentile(latencies, 0.99), 3),
                   'max_ms': round(max(latencies), 3),
                   'lost': expected - len(latencies)}
        _measure(pid, figures, before, cpu_start, wall)
    finally:
        crowd.close()
    figures['server_rss_before_kb'] = start.get('rss_kb')
    return figures


def idle_pingpong(port, idle=5000, rounds=2000, pid=None, longest=10.0):
    """Round trips between two clients while `idle` others sit logged in, in the hall.

    Client a says `ping N` in room pm; client b, on receiving it, says
    `pong N`; a, on receiving that, starts the next round. Reports the round
    trip's p50 and p99 in ms over the rounds done: all of `rounds`, or as
    many as fit in `longest` seconds. The idle clients are not watched by
    the generator, so its cost does not grow with them; the server's may.
    Also reports the server's memory per idle session: the growth of its
    RSS while the idle clients logged in, divided by their number.
    """
    raise_open_file_limit()
    prefix = tag('i')
    settle(pid)
    start = server_figures(pid)
    crowd = Crowd(port)
    try:
        crowd.open(['%s%d' % (prefix, i) for i in range(idle)], keep_reading=False)
        settle(pid)
        crowded = server_figures(pid)
        pair = crowd.open(['%sa' % prefix, '%sb' % prefix],
                          then=b'/pm\n', marker=b'You are in the room pm.')
        crowd.barrier(pair[0], 'sync-%s' % prefix)
        a, b = pair
        trips = []
        before = server_figures(pid)
        cpu_start = time.process_time()
        begin = time.perf_counter()
        stop = begin + longest
        for number in range(rounds):
            if time.perf_counter() > stop:
                break
            sent = time.perf_counter_ns()
            a.sock.sendall(b'ping %d\n' % number)
            _wait_for(crowd.selector, b, b'ping %d\r\n' % number, stop + 5.0)
            b.sock.sendall(b'pong %d\n' % number)
            _wait_for(crowd.selector, a, b'pong %d\r\n' % number, stop + 5.0)
            trips.append((time.perf_counter_ns() - sent) / 1e6)
        wall = time.perf_counter() - begin
        figures = {'idle': idle, 'rounds': len(trips),
                   'p50_ms': round(percentile(trips, 0.5), 3),
                   'p99_ms': round(percentile(trips, 0.99), 3)}
        _measure(pid, figures, before, cpu_start, wall)
    finally:
        crowd.close()
    figures['server_rss_before_kb'] = start.get('rss_kb')
    if start:
        figures['server_rss_idle_kb'] = crowded['rss_kb']
        figures['bytes_per_idle_session'] = (
            round((crowded['rss_kb'] - start['rss_kb']) * 1024 / idle) if idle else None)
    return figures


def _wait_for(selector, conn, marker, deadline):
    """Read what arrives until conn has received marker; other clients' data is dropped."""
    while True:
        timeout = deadline - time.perf_counter()
        if timeout <= 0:
            raise TimeoutError('%s never received %r' % (conn.nick, marker))
        for key, _ in selector.select(timeout):
            data = key.data.sock.recv(CHUNK)
            if not data:
                raise ConnectionError('the server closed %s' % key.data.nick)
            if key.data is conn and conn.seen(data, marker):
                conn.tail = b''
                return


def login_storm(port, clients=5000, window=1000, pid=None):
    """Seconds for `clients` clients to connect and log in, `window` at a time.

    Each client sends `/login NICK` once connected and counts as in when its
    `Welcome, NICK! You are in the hall.` arrives. The window stays under the
    kernel's accept backlog, so the figure measures the server, not the
    kernel's one-second SYN retry.
    """
    raise_open_file_limit()
    prefix = tag('l')
    settle(pid)
    crowd = Crowd(port)
    try:
        before = server_figures(pid)
        cpu_start = time.process_time()
        begin = time.perf_counter()
        crowd.open(['%s%d' % (prefix, i) for i in range(clients)],
                   window=window, keep_reading=False)
        wall = time.perf_counter() - begin
        figures = {'clients': clients, 'window': window, 'seconds': round(wall, 3),
                   'logins_per_s': round(clients / wall)}
        _measure(pid, figures, before, cpu_start, wall)
    finally:
        crowd.close()
    figures['server_rss_before_kb'] = before.get('rss_kb')
    return figures


def steady(port, clients=150, rate=2.0, seconds=10.0, sources=5, pid=None):
    """A chat within the limits: clients in the three rooms, each saying a line every 1/rate s.

    The clients come from `sources` loopback addresses (127.0.1.1, ...), 30 each
    by default, under the server's 64 per address, and each sends fewer lines
    a second than its line rate, so that limits switched on cost only their
    bookkeeping. Each line carries its send time; every other member of the
    room times its arrival. Reports latency p50 and p99 in ms, the lines lost,
    and the server's CPU over the interval.
    """
    raise_open_file_limit()
    prefix = tag('s')
    settle(pid)
    crowd = Crowd(port)
    rooms = (b'python', b'write', b'pm')
    addresses = ['127.0.1.%d' % n for n in range(1, sources + 1)]
    try:
        members = {}
        for number, room in enumerate(rooms):
            nicks = ['%s%d%d' % (prefix, number, i) for i in range(clients // len(rooms))]
            members[room] = crowd.open(nicks, then=b'/%s\n' % room, sources=addresses,
                                       marker=b'You are in the room %s.' % room)
        crowd.barrier([members[room][0] for room in rooms], 'sync-%s' % prefix)
        talkers = [conn for room in rooms for conn in members[room]]
        line = re.compile(rb'S (\d+)\r\n')
        latencies, interval = [], 1.0 / rate
        begin = time.perf_counter()
        # Each talker starts at its own moment within the first interval.
        due = [(begin + interval * n / len(talkers), conn) for n, conn in enumerate(talkers)]
        sent = 0
        before = server_figures(pid)
        cpu_start = time.process_time()
        end = begin + seconds
        while True:
            now = time.perf_counter()
            if now >= end + 1.0:
                break                                    # the last lines have had a second
            for n, (when, conn) in enumerate(due):
                if when <= now < end:
                    conn.sock.sendall(b'S %d\n' % time.perf_counter_ns())
                    due[n] = (when + interval, conn)
                    sent += 1
            for key, _ in crowd.selector.select(0.002):
                arrived = time.perf_counter_ns()
                conn = key.data
                data = conn.sock.recv(CHUNK)
                if not data:
                    raise ConnectionError('the server closed %s' % conn.nick)
                complete, _, conn.tail = (conn.tail + data).rpartition(b'\n')
                latencies.extend((arrived - int(stamp)) / 1e6
                                 for stamp in line.findall(complete + b'\n'))
        wall = time.perf_counter() - begin
        expected = sent * (clients // len(rooms) - 1)
        figures = {'clients': clients, 'rate': rate, 'sent': sent,
                   'p50_ms': round(percentile(latencies, 0.5), 3),
                   'p99_ms': round(percentile(latencies, 0.99), 3),
                   'lost': expected - len(latencies)}
        _measure(pid, figures, before, cpu_start, wall)
    finally:
        crowd.close()
    return figures


SCENARIOS = {
    'pingpong': idle_pingpong,
    'storm': login_storm,
    'fanout': fanout,
    'paced': paced,
}
"""The scenarios by their command-line name, in the order `all` runs them.

The idle crowd comes first, so that its memory per session is read on a
server that has had no clients: later, the server reuses the memory the
sessions of earlier scenarios freed, and would seem to need none.
"""


# ---- the command line

def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Load a chat server on 127.0.0.1 and print the figures as JSON.')
    parser.add_argument('scenario', choices=list(SCENARIOS) + ['all', 'steady'])
    parser.add_argument('--port', type=int, required=True, help="the server's port")
    parser.add_argument('--pid', type=int,
                        help="the server's process id, for its memory and CPU time")
    parser.add_argument('--clients', type=int, help='fanout and storm: how many clients')
    parser.add_argument('--senders', type=int, help='fanout: how many members send')
    parser.add_argument('--lines', type=int, help='fanout and paced: lines per sender')
    parser.add_argument('--idle', type=int, help='pingpong: idle clients')
    parser.add_argument('--rounds', type=int, help='pingpong: round trips')
    args = parser.parse_args(argv)
    options = {
        'fanout': {'clients': args.clients, 'senders': args.senders, 'lines': args.lines},
        'paced': {'lines': args.lines},
        'pingpong': {'idle': args.idle, 'rounds': args.rounds},
        'storm': {'clients': args.clients},
        'steady': {'clients': args.clients},
    }
    names = list(SCENARIOS) if args.scenario == 'all' else [args.scenario]
    results = {}
    for name in names:
        given = {key: value for key, value in options[name].items() if value is not None}
        results[name] = dict(SCENARIOS, steady=steady)[name](args.port, pid=args.pid, **given)
    json.dump(results if len(names) > 1 else results[names[0]], sys.stdout, indent=2)
    print()


if __name__ == '__main__':
    main()
