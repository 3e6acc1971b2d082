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
5. `ws_fanout`, `ws_pingpong` (`ws-fanout`, `ws-pingpong`): the first and
   third over WebSocket (RFC 6455), against a server's web port: the same
   sizes, figures and checks. The generator speaks WebSocket itself (`WsConn`,
   a minimal client: no library), so its costs are the same for every server.
6. `ws_events_fanout` (`ws-events-fanout`): the fan-out again, its clients
   offering the `chat.events` subprotocol (`EventConn`): each chat line then
   arrives as a JSON object of type `say`, one to a message, and is counted
   and checked as one.

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
import base64
import errno
import hashlib
import json
import math
import operator
import os
import random
import re
import selectors
import socket
import string
import struct
import sys
import time

try:
    import resource
except ImportError:                  # Windows (and tests/winlike): no open-file limit to raise
    resource = None

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
    if resource is None:
        return
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

_CONNECTING, _UPGRADING, _LOGGING_IN, _READY = (
    'connecting', 'upgrading', 'logging in', 'ready')


class Conn:
    """One client connection and what the generator keeps of what it received.

    A telnet client: its lines go out as they are, what it receives is the
    server's lines. `WsConn` is the same client over WebSocket. A scenario
    sends with `sock.sendall(conn.frame(lines))` and reads with
    `conn.receive()`, so that it runs over either.
    """

    __slots__ = ('sock', 'nick', 'hello', 'state', 'tail', 'chunks', 'count',
                 'expected', 'out', 'done', 'closed')

    def __init__(self, nick, hello, source=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            self.sock.bind((source, 0))           # another loopback address (127.0.1.1, ...)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.nick = nick
        self.hello = hello             # lines sent once connected: /login and what follows
        self.state = _CONNECTING
        self.tail = b''                # the end of what was received, to find a marker in
        self.chunks = []               # everything received while a scenario keeps it
        self.count = 0                 # lines received while a scenario counts them
        self.expected = 0              # lines it should receive
        self.out = b''                 # bytes still to send
        self.done = False
        self.closed = False

    def connected(self):
        """The connection is made: send what comes first (a few bytes: the buffer takes them)."""
        self.sock.sendall(self.hello)
        self.state = _LOGGING_IN

    @staticmethod
    def frame(lines):
        """Return the bytes that carry lines (each ending in LF) to the server: as they are."""
        return lines

    def start_burst(self):
        """The fan-out's clock is about to start: nothing to do (see EventConn)."""

    def units(self, data):
        """Return the chat lines in data, a received chunk: its LFs."""
        return data.count(b'\n')

    @staticmethod
    def fanout_pairs(stream):
        """Return the (sender, sequence) of each fan-out line in stream, all a member
        received during the burst, and the count of what was not a fan-out line as
        expected (here always 0: the lines are not parsed one by one)."""
        return _FANOUT_LINE.findall(stream), 0

    def receive(self):
        """Read once: the server's lines (b'' if what came completes none), or None at the end."""
        return self.sock.recv(CHUNK) or None

    def seen(self, data, marker):
        """Take received data; return whether marker has now arrived (even split across reads)."""
        window = self.tail + data
        self.tail = window[-len(marker):]
        return marker in window


WS_PATH = '/chat'
"""Where a server takes WebSocket sessions: chat's web side, and bench/ws_yardstick.py."""

_WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
_WS_TEXT, _WS_CLOSE, _WS_PING, _WS_PONG = 0x1, 0x8, 0x9, 0xA


def ws_frame(payload, opcode=_WS_TEXT):
    """Return a client's frame of payload: final, masked with a random key (RFC 6455, 5.2-5.3)."""
    size = len(payload)
    if size < 126:
        header = struct.pack('!BB', 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack('!BBH', 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack('!BBQ', 0x80 | opcode, 0x80 | 127, size)
    mask = os.urandom(4)
    if not size:
        return header + mask
    key = int.from_bytes((mask * (size // 4 + 1))[:size], 'big')
    return header + mask + (int.from_bytes(payload, 'big') ^ key).to_bytes(size, 'big')


class WsConn(Conn):
    """A client over WebSocket, as a browser on chat's web page is.

    Once connected it sends the upgrade (GET /chat with Upgrade: websocket,
    version 13, and a random key; no Origin: not a browser), checks the 101
    and its Sec-WebSocket-Accept, then sends each line as a text message of
    its own, masked, without its LF: a browser's `send(line)`. Of what the
    server sends, `receive` returns the payloads of its text frames, joined:
    lines ending in CR LF, as a telnet client gets them; TCP may split a
    frame across reads, so an unfinished one waits in `pending`. A ping is
    answered; a close frame ends the input.
    """

    __slots__ = ('pending', 'key')

    PROTOCOL = None
    """The subprotocol offered (Sec-WebSocket-Protocol), and that the 101 must name: none."""

    def __init__(self, nick, hello, source=None):
        Conn.__init__(self, nick, hello, source)
        self.pending = b''             # an unfinished frame, or the unfinished response head
        self.key = base64.b64encode(os.urandom(16))

    def connected(self):
        port = self.sock.getpeername()[1]
        offer = b'Sec-WebSocket-Protocol: %s\r\n' % self.PROTOCOL if self.PROTOCOL else b''
        self.sock.sendall(b'GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n'
                          b'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                          b'Sec-WebSocket-Version: 13\r\n%s\r\n'
                          % (WS_PATH.encode(), HOST.encode(), port, self.key, offer))
        self.state = _UPGRADING

    @staticmethod
    def frame(lines):
        """Return one text frame per line (each ending in LF), the LF left out."""
        return b''.join(ws_frame(line) for line in lines.split(b'\n') if line)

    def receive(self):
        data = self.sock.recv(CHUNK)
        if not data or self.closed:
            return None
        if self.pending:
            data = self.pending + data
        if self.state is _UPGRADING:
            data = self._upgraded(data)
            if data is None:
                return b''             # the response head is not whole yet
        return self._payloads(data)

    def _upgraded(self, data):
        """Check the server's response to the upgrade; return what followed its head."""
        head, found, rest = data.partition(b'\r\n\r\n')
        if not found:
            if len(data) > 16384:
                raise ConnectionError('%s: no end to the response head' % self.nick)
            self.pending = data
            return None
        status, *fields = head.split(b'\r\n')
        if status.split(b' ')[1:2] != [b'101']:
            raise ConnectionError('%s: the upgrade was refused: %s'
                                  % (self.nick, status.decode('latin-1')))
        accept = base64.b64encode(hashlib.sha1(self.key + _WS_GUID).digest())
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (field.partition(b':') for field in fields)}
        if headers.get(b'sec-websocket-accept') != accept:
            raise ConnectionError('%s: a wrong Sec-WebSocket-Accept' % self.nick)
        if headers.get(b'sec-websocket-protocol') != self.PROTOCOL:
            raise ConnectionError('%s: offered subprotocol %r, the server chose %r'
                                  % (self.nick, self.PROTOCOL,
                                     headers.get(b'sec-websocket-protocol')))
        self.pending = b''
        self.state = _LOGGING_IN
        self.sock.sendall(self.frame(self.hello))
        return rest

    def _payloads(self, data):
        """Return the payloads of the whole frames in data; keep an unfinished one."""
        out = []
        pos, end = 0, len(data)
        while end - pos >= 2:
            opcode, size = data[pos] & 0x0F, data[pos + 1]
            if size & 0x80:
                raise ConnectionError('%s: a masked frame from the server' % self.nick)
            start = pos + 2
            if size == 126:
                size, start = int.from_bytes(data[pos + 2:pos + 4], 'big'), pos + 4
            elif size == 127:
                size, start = int.from_bytes(data[pos + 2:pos + 10], 'big'), pos + 10
            if start + size > end:
                break                  # the rest of this frame is still on its way
            pos = start + size
            if opcode <= _WS_TEXT:     # text, or a continuation: lines, whole ones
                out.append(data[start:pos])
            elif opcode == _WS_PING:
                self.sock.sendall(ws_frame(data[start:pos], _WS_PONG))
            elif opcode == _WS_CLOSE:
                self.closed = True     # what came before it is the server's last
                pos = end
                break
            elif opcode != _WS_PONG:
                raise ConnectionError('%s: a frame of opcode %d' % (self.nick, opcode))
        self.pending = data[pos:] if pos < end else b''
        return out[0] if len(out) == 1 else b''.join(out)


class EventConn(WsConn):
    """A client over WebSocket that offers the `chat.events` subprotocol, as chat's page
    does: the 101 must name it, and from then on each text message the server sends holds
    one JSON object (a chat line is `{"type":"say","text":...}`, a reply
    `{"type":"line","text":...}`). What it sends is what a WsConn sends: lines.

    A marker ending in CR LF (a line's end) is looked for ending in `"` instead: the end
    of the `text` (or `body`) string that carries the line.

    In the fan-out burst (after `start_burst`) the frames are not parsed as they come:
    `receive` returns the bytes as they are, and `units` counts the `say` objects in them
    by the bytes that open one, `{"type":"say"`, with `bytes.count`. That is exact: inside
    a JSON string a quote is escaped, so those bytes only ever open an object, and a
    frame's header (two bytes, or four) never ends in them. The frames are parsed after
    the clock stops (`fanout_pairs`), and every object checked there.
    """

    __slots__ = ('raw',)

    PROTOCOL = b'chat.events'

    def __init__(self, nick, hello, source=None):
        WsConn.__init__(self, nick, hello, source)
        self.raw = False               # the burst: bytes as received, frames unparsed

    def seen(self, data, marker):
        if marker.endswith(b'\r\n'):
            marker = marker[:-2] + b'"'
        return WsConn.seen(self, data, marker)

    def receive(self):
        if not self.raw:
            return WsConn.receive(self)
        return self.sock.recv(CHUNK) or None

    def start_burst(self):
        """From now on, receive the frames unparsed (and count say objects in them)."""
        self.raw = True
        if self.pending:               # an unfinished frame: the stream kept starts with it
            self.chunks.append(self.pending)
            self.pending = b''
        self.tail = b''

    def units(self, data):
        """Return the say objects that data completes the opening bytes of; one split
        across two reads is counted once, in the second (`tail`: the last bytes before)."""
        count = data.count(_SAY)
        if self.tail:
            count += (self.tail + data[:len(_SAY) - 1]).count(_SAY)
        if len(data) >= len(_SAY) - 1:
            self.tail = data[1 - len(_SAY):]
        else:
            self.tail = (self.tail + data)[1 - len(_SAY):]
        return count

    @staticmethod
    def fanout_pairs(stream):
        """Return the (sender, sequence) of each say object in stream (a member's frames,
        as received), and how many of its messages were not one say object of a fan-out
        line, whole (`_EVENT_SAY`), or were numbered (`seq`) out of order."""
        messages = text_payloads(stream)
        found = _EVENT_SAY.findall(b'\n'.join(messages))
        seqs = list(map(int, map(operator.itemgetter(3), found)))
        unnumbered = sum(map(operator.ge, seqs, seqs[1:]))
        return (list(map(operator.itemgetter(1, 2), found)),
                len(messages) - len(found) + unnumbered)


_SAY = b'{"type":"say"'
"""The bytes that open a say object, as chat writes it: `type` first, compact."""

_EVENT_SAY = re.compile(
    rb'^\{"type":"say","text":"([^":\\\n]+): B(\d{3}) (\d{6}) [^"\\\n]*",'
    rb'"from":"\1","body":"B\2 \3 [^"\\\n]*","room":"python",'
    rb'"seq":(\d+),"time":\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\}$', re.M)
"""A message that is exactly a fan-out line's say object, as chat sends it
(docs/protocol: type, text, from, body, room, seq, time, in that order): (nick, sender,
sequence, seq). One message a line: the messages are joined with LFs, which JSON escapes."""


def text_payloads(stream):
    """Return the payloads of the whole text frames in stream, unmasked server frames
    from a frame's start: a list, one payload a message. Other frames are left out."""
    out = []
    pos, end = 0, len(stream)
    while end - pos >= 2:
        opcode, size = stream[pos] & 0x0F, stream[pos + 1] & 0x7F
        start = pos + 2
        if size == 126:
            size, start = int.from_bytes(stream[pos + 2:pos + 4], 'big'), pos + 4
        elif size == 127:
            size, start = int.from_bytes(stream[pos + 2:pos + 10], 'big'), pos + 10
        if start + size > end:
            break
        pos = start + size
        if opcode == _WS_TEXT:
            out.append(stream[start:pos])
    return out


class Crowd:
    """Many connections to one server, watched by one epoll selector.

    conn_class is Conn for telnet clients, WsConn for WebSocket ones (and
    port then the server's web port).
    """

    def __init__(self, port, conn_class=Conn):
        self.port = port
        self.conn_class = conn_class
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
                conn = self.conn_class(nick, b'/login %s\n%s' % (nick.encode(), then), source)
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
                    conn.connected()
                    self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
                    continue
                data = conn.receive()
                if data is None:
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
            each.sock.sendall(each.frame(data + b'\n'))
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
                received = conn.receive()
                if received is None:
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

def fanout(port, clients=1000, senders=10, lines=200, pid=None, quiet_timeout=5.0,
           conn_class=Conn):
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
    With conn_class WsConn, over WebSocket (`ws_fanout`): each line a message.
    """
    raise_open_file_limit()
    prefix = tag('f')
    settle(pid)
    start = server_figures(pid)
    crowd = Crowd(port, conn_class)
    try:
        members = crowd.open(['%s%d' % (prefix, i) for i in range(clients)],
                             then=b'/python\n', marker=b'You are in the room python.')
        crowd.barrier(members[0], 'sync-%s' % prefix)
        figures = {'clients': clients, 'senders': senders, 'lines': lines}
        for index, conn in enumerate(members):
            conn.expected = (senders - 1 if index < senders else senders) * lines
        bursts = [conn_class.frame(b''.join(b'B%03d %06d %s\n' % (number, seq, PAD)
                                            for seq in range(lines)))
                  for number in range(senders)]
        waiting = sum(1 for conn in members if conn.expected)
        received = 0
        for conn in members:
            conn.start_burst()
        before = server_figures(pid)
        cpu_start = time.process_time()
        first = last = time.perf_counter()
        for conn, burst in zip(members, bursts):
            sent = conn.sock.send(burst)
            if sent < len(burst):
                conn.out = burst[sent:]
                crowd.selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                      conn)
        select, pause = crowd.selector.select, time.sleep
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
                data = conn.receive()
                if data:
                    conn.chunks.append(data)
                    count = conn.units(data)
                    conn.count += count
                    received += count
                    last = time.perf_counter()
                elif data is None:
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
        if figures.get('server_cpu_s'):
            # Steadier than the wall clock on two shared cores: where the scheduler put the
            # server (a core of its own, or the generator's) moves deliveries_per_s by half.
            figures['deliveries_per_server_cpu_s'] = round(received / figures['server_cpu_s'])
        figures.update(check_fanout(members, senders, lines, conn_class))
    finally:
        crowd.close()
    figures['server_rss_before_kb'] = start.get('rss_kb')
    return figures


def check_fanout(members, senders, lines, conn_class=Conn):
    """Check what each member received in fanout: each sender's lines, complete, once, in order.

    Returns the totals over all members: lost (a line never received),
    duplicated (received more than once), reordered (received after a later
    line of the same sender) and checked (members checked: all of them);
    with conn_class EventConn, malformed too (`EventConn.fanout_pairs`).
    The common case is checked in C: a stable sort by sender of the
    (sender, sequence) pairs received must equal the expected list exactly.
    """
    expected = [(b'%03d' % number, b'%06d' % seq)
                for number in range(senders) for seq in range(lines)]
    by_sender = operator.itemgetter(0)
    lost = duplicated = reordered = malformed = 0
    for index, conn in enumerate(members):
        want = expected
        if index < senders:                      # a sender does not hear itself
            want = expected[:index * lines] + expected[(index + 1) * lines:]
        pairs, bad = conn_class.fanout_pairs(b''.join(conn.chunks))
        conn.chunks = []
        malformed += bad
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
    figures = {'lost': lost, 'duplicated': duplicated, 'reordered': reordered,
               'checked': len(members)}
    if conn_class is EventConn:
        figures['malformed'] = malformed
    return figures


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


def idle_pingpong(port, idle=5000, rounds=2000, pid=None, longest=10.0, conn_class=Conn):
    """Round trips between two clients while `idle` others sit logged in, in the hall.

    Client a says `ping N` in room pm; client b, on receiving it, says
    `pong N`; a, on receiving that, starts the next round. Reports the round
    trip's p50 and p99 in ms over the rounds done: all of `rounds`, or as
    many as fit in `longest` seconds. The idle clients are not watched by
    the generator, so its cost does not grow with them; the server's may.
    Also reports the server's memory per idle session: the growth of its
    RSS while the idle clients logged in, divided by their number. With
    conn_class WsConn, over WebSocket (`ws_pingpong`): each line a message.
    """
    raise_open_file_limit()
    prefix = tag('i')
    settle(pid)
    start = server_figures(pid)
    crowd = Crowd(port, conn_class)
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
            ping = conn_class.frame(b'ping %d\n' % number)      # framed before the clock
            pong = conn_class.frame(b'pong %d\n' % number)
            sent = time.perf_counter_ns()
            a.sock.sendall(ping)
            _wait_for(crowd.selector, b, b'ping %d\r\n' % number, stop + 5.0)
            b.sock.sendall(pong)
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
            data = key.data.receive()
            if data is None:
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


def ws_fanout(port, clients=1000, senders=10, lines=200, pid=None, quiet_timeout=5.0):
    """`fanout` over WebSocket, port a web port: each line a masked text message."""
    return fanout(port, clients, senders, lines, pid, quiet_timeout, conn_class=WsConn)


def ws_events_fanout(port, clients=1000, senders=10, lines=200, pid=None,
                     quiet_timeout=5.0):
    """`fanout` over WebSocket with chat.events: each line a message, each line received a
    JSON say object in a message of its own, counted by its opening bytes (`EventConn`)."""
    return fanout(port, clients, senders, lines, pid, quiet_timeout, conn_class=EventConn)


def ws_pingpong(port, idle=5000, rounds=2000, pid=None, longest=10.0):
    """`idle_pingpong` over WebSocket, port a web port: the idle crowd too."""
    return idle_pingpong(port, idle, rounds, pid, longest, conn_class=WsConn)


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

WS_SCENARIOS = {
    'ws-pingpong': ws_pingpong,
    'ws-fanout': ws_fanout,
    'ws-events-fanout': ws_events_fanout,
}
"""The WebSocket scenarios, against a web port, in the order `ws-all` runs them."""


# ---- the command line

def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Load a chat server on 127.0.0.1 and print the figures as JSON.')
    parser.add_argument('scenario',
                        choices=list(SCENARIOS) + ['all', 'steady'] + list(WS_SCENARIOS)
                        + ['ws-all'])
    parser.add_argument('--port', type=int, required=True,
                        help="the server's port (its web port for the ws- scenarios)")
    parser.add_argument('--pid', type=int,
                        help="the server's process id, for its memory and CPU time")
    parser.add_argument('--clients', type=int, help='fanout and storm: how many clients')
    parser.add_argument('--senders', type=int, help='fanout: how many members send')
    parser.add_argument('--lines', type=int, help='fanout and paced: lines per sender')
    parser.add_argument('--idle', type=int, help='pingpong: idle clients')
    parser.add_argument('--rounds', type=int, help='pingpong: round trips')
    args = parser.parse_args(argv)
    fanout_options = {'clients': args.clients, 'senders': args.senders, 'lines': args.lines}
    pingpong_options = {'idle': args.idle, 'rounds': args.rounds}
    options = {
        'fanout': fanout_options,
        'paced': {'lines': args.lines},
        'pingpong': pingpong_options,
        'storm': {'clients': args.clients},
        'steady': {'clients': args.clients},
        'ws-fanout': fanout_options,
        'ws-events-fanout': fanout_options,
        'ws-pingpong': pingpong_options,
    }
    if args.scenario == 'all':
        names = list(SCENARIOS)
    elif args.scenario == 'ws-all':
        names = list(WS_SCENARIOS)
    else:
        names = [args.scenario]
    every = dict(SCENARIOS, steady=steady, **WS_SCENARIOS)
    results = {}
    for name in names:
        given = {key: value for key, value in options[name].items() if value is not None}
        results[name] = every[name](args.port, pid=args.pid, **given)
    json.dump(results if len(names) > 1 else results[names[0]], sys.stdout, indent=2)
    print()

if __name__ == '__main__':
    main()
