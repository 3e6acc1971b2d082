"""`Channel`: the machinery beneath the design's session, as a layer of its own.

asyncore and asynchat are built in layers, each readable on its own:
`asyncore.dispatcher` is a socket in the loop, and `asynchat.async_chat` adds
input split at a terminator and output pushed. The design's ChatSession sits
on async_chat. A server on a real network needs more beneath it than
async_chat gives, and `Channel` is that layer:

    asyncore.dispatcher -> asynchat.async_chat -> Channel -> ChatSession

1. Framing: below asynchat's terminator, a framing turns what the client
   sends into lines ending in LF, and what the server sends into what the
   client reads (`framing_class`: `Telnet`, chat/telnet.py, or `WebSocket`,
   chat/websocket.py). chat/framing.py states what a framing does.
2. Waiting input: lines over the line rate, or past a round's
   LINES_PER_ROUND, wait in `_waiting`, and the channel is `paused` (not
   `readable`) until the schedule gives it its turn (`take_turn`), so the
   client's next lines wait in the network's buffers. `admits_line` decides
   what becomes of each line.
3. Output: `push_data` only queues (up to max_queue: see `_overflow`); the
   loop sends a channel's whole queue with one send() a round.
4. The end: `close_when_done(reason)` sends what is queued first, for at most
   the linger limit; `abort(reason)` drops it and closes at the schedule's
   next tick. A reset or a socket error closes at once. Every way ends in
   `handle_close`, which lets go of everything held for the channel, closes
   the socket, and happens once; `hand_over` is the one way out that leaves
   the socket open, for another channel to take.
5. Socket options, and errors: a socket error closes the channel quietly,
   anything else is a bug, logged once with its traceback.

Text becomes bytes here, in `push_to_all`, only: each line is rendered once
for all who read it the same way (chat/events.py).
"""

import asynchat
import asyncore
import logging
import os
import socket
import sys

from .framing import ENDED, TOO_LONG, encode
from .limits import Pause, TokenBucket
from .telnet import Telnet

log = logging.getLogger('chat')

READ_SIZE = 8 * 1024
"""Bytes read from a client at once: at most this much of a paced client's lines waits here."""

PACED_READ = 512
"""Bytes read at once from a client the line rate paces: what the framing parses before
the rate has a say. A read of tiny WebSocket frames or telnet commands costs the parse of
every one of them; 64 flooders' reads of READ_SIZE cost another client some 300 ms, of
PACED_READ some 20. A person's lines, and a paste of them, need no more."""

LINES_PER_ROUND = 32
"""Lines a channel handles in one round of the loop at most, counted by the line rate or
not: the rest of its read waits for the next round, so no client delays the others. Above
the line burst, so that a burst the rate allows takes one round; fewer means more rounds,
each a send() per reader (docs/performance.md measures what 16 cost a fan-out)."""

SOCKET_OPTIONS = [
    ('IPPROTO_TCP', 'TCP_NODELAY', 1),         # a reply leaves at once, not 40 ms later
    ('SOL_SOCKET', 'SO_KEEPALIVE', 1),         # a vanished peer is noticed in the end...
    ('IPPROTO_TCP', 'TCP_KEEPIDLE', 60),       # ...after 60 s of silence (Linux, Windows 10)
    ('IPPROTO_TCP', 'TCP_KEEPALIVE', 60),      # ...(macOS's name for it)
    ('IPPROTO_TCP', 'TCP_KEEPINTVL', 10),      # ...probing every 10 s
    ('IPPROTO_TCP', 'TCP_KEEPCNT', 6),         # ...6 times
    ('IPPROTO_TCP', 'TCP_USER_TIMEOUT', 120000),   # Linux: or 2 min of unacknowledged output
    ('SOL_SOCKET', 'SO_OOBINLINE', 1),         # telnet's Synch: urgent data read in line
]
"""The options set on each channel's socket, where the platform has them."""


def socket_option(name):
    """The number of the socket option called name, or None where the platform lacks it."""
    if name == 'TCP_KEEPALIVE' and sys.platform == 'darwin':
        return getattr(socket, name, 0x10)     # macOS has it; Python names it from 3.10
    return getattr(socket, name, None)


def format_address(address):
    """Return 'HOST:PORT', or '[HOST]:PORT' for IPv6."""
    host, port = address[:2]
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)


class Channel(asynchat.async_chat):
    """A client's connection to server: framed input, held lines, queued output, closes.

    A subclass gives asynchat's `collect_incoming_data` and `found_terminator`,
    `push(line)` for the replies `admits_line` makes, and `time_out(seconds)`
    if it starts a deadline of the schedule's.
    """

    ac_in_buffer_size = READ_SIZE
    framing_class = Telnet

    # push_to_all reads these for every member of a room, for every line: kept in slots,
    # they are read as fast as Python reads an attribute, and the instance's dict (asyncore's
    # attributes, the session's) stays small. CPython 3.11 and later read an instance whose
    # dict has passed 30 names more slowly: a room's fan-out then took some 1.6 times as
    # long (docs/performance.md).
    __slots__ = ('server', 'schedule', 'max_queue', 'framing', 'events', 'peer',
                 'address_key', 'closed', 'reason', '_out', '_sending', '_queued',
                 '_waiting', '_bucket', '_eof', '_closing')

    @staticmethod
    def refusal(reply, status):
        """The bytes that tell a connection refused by the limits why: reply, as a line
        (status is for a browser's request: chat/web.py)."""
        return encode(reply)

    def __init__(self, server, sock):
        asynchat.async_chat.__init__(self, sock, map=server.map)
        self.server = server
        self.schedule = server.schedule
        limits = server.limits
        self.max_queue = limits.max_queue
        self.framing = self.framing_class(limits.max_line)
        self.events = self.framing.events   # the client reads events (chat.events)
        # asynchat's output queue goes unused (push_data and handle_write are this class's
        # own): letting its deque go saves its memory, for every channel.
        self.producer_fifo = None
        self.peer = format_address(self.addr) if self.addr else '(gone)'
        self.address_key = None   # what the server counts this connection under, per address
        self.closed = False
        self.reason = None        # why the connection ended, for the log
        self._out = []            # data queued for the client since the last send
        self._sending = b''       # the part of a joined queue the kernel has not taken yet
        self._queued = 0          # bytes in both, held under max_queue
        self._waiting = b''       # lines read, not handled yet: over the rate, or the round's
        self._bucket = (TokenBucket(limits.line_rate, limits.line_burst, self.schedule.clock())
                        if limits.line_rate else None)
        if self._bucket is not None:
            self.ac_in_buffer_size = PACED_READ   # asynchat's size for each recv()
        self._eof = False         # the client has ended its sending side
        self._closing = False     # close once the queue is sent
        for level, name, value in SOCKET_OPTIONS:
            option = socket_option(name)
            if option is not None:
                try:
                    sock.setsockopt(getattr(socket, level), option, value)
                except OSError:
                    pass               # refused by this system, or the peer is gone already

    # ---- input: bytes -> the framing -> LF-ended lines for asynchat -> admits_line

    def readable(self):
        # Waiting lines keep the rest in the network's buffers: the sender slows.
        return not (self._eof or self._closing or self._waiting)

    @property
    def paused(self):
        """Whether the channel has stopped reading while its lines wait, for the line rate
        or the next round: the loop then watches only for the end of its input."""
        return bool(self._waiting) and not (self._eof or self._closing)

    def recv(self, buffer_size):
        """Return the framing's LF-ended lines to asynchat, a round's worth at most.

        Lines that waited come first (see take_turn); else the socket is read.
        """
        if self._waiting:
            data, self._waiting = self._waiting, b''
        else:
            data = self.socket.recv(buffer_size)
            if data:
                data = self.framing.feed(data)
            else:
                self._eof = True       # the client ended its sending side
                data = self.framing.finish()
            if self.framing.ended:
                self._eof = True       # a close, or a broken protocol: the input is over
        data, self._waiting = split_lines(data, LINES_PER_ROUND)
        if self._waiting:              # enough for one round: the rest waits for the next
            self.schedule.turns.add(self, self.schedule.clock())
        return data

    def handle_read(self):
        asynchat.async_chat.handle_read(self)
        if self.framing.answers:       # after the replies to the read: a close goes last
            self.push_raw(bytes(self.framing.answers))
            self.framing.answers.clear()
        if self._eof and not self._closing:
            self.handle_input_end()

    def handle_input_end(self):
        """The client has ended its sending side: close once what it is owed is sent."""
        self.close_when_done('the client ended its side')

    def take_unread(self, data):
        """Take bytes the client sent before this channel had its socket (a browser's first
        frames, behind its upgrade request), as if just read: handled at the next round."""
        self._waiting = self.framing.feed(data)
        if self.framing.ended:
            self._eof = True
        self.schedule.turns.add(self, self.schedule.clock())

    def handle_hang_up(self):
        """The client ended its input while its lines waited (the loop saw it, on Linux).

        The waiting lines, and anything unread, go with the client.
        """
        self._waiting = b''
        self._eof = True
        self.handle_input_end()

    def take_turn(self):
        """Handle the waiting lines that the rate or the round now allows (the schedule's
        tick)."""
        if self.closed:
            return
        error = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:                      # reset while it waited: a loop reading nothing misses it
            self.reason = 'connection error: %s' % os.strerror(error)
            self.handle_close()
            return
        asyncore.read(self)            # handle_read, with asyncore's error handling
        self.schedule.to_flush.add(self)   # readable() may have changed: the loop asks again

    def admits_line(self, data, line):
        """Whether a line goes on to be handled: data as received, line as cleaned text.

        If not, the line is ignored (the channel is closing, or the line is
        empty), answered (too long), or made to wait with the rest of the read
        until the line rate allows it. Every line counts against the rate, an
        empty one too, and so does every WebSocket frame and telnet command that
        ends no line: its framing gives an empty line for it (chat/framing.py).
        """
        if self._closing:
            return False               # logged out or cut: the rest of the input is ignored
        if self._bucket is not None:   # None: the line rate is off; else every line counts
            now = self.schedule.clock()
            if not self._bucket.take(now):
                self._waiting = data + b'\n' + self.ac_in_buffer + self._waiting
                self.ac_in_buffer = b''               # asynchat reads no further
                self.schedule.turns.discard(self)     # the rate, not the round, decides now
                self.schedule.paced.add(self, now)
                return False
        if not line:                   # empty (no reply), or cut at the limit by the framing
            if data == TOO_LONG:
                self.push('Line too long (over %d bytes): it was dropped.'
                          % self.framing.max_line)
                log.info('%s sent a line over %d bytes: dropped', self.peer,
                         self.framing.max_line)
            return False
        return True

    def slow_down(self, seconds):
        """Handle none of the client's lines for seconds at least (after a wrong password).

        The line rate carries it: the channel's bucket is emptied for that long;
        if the rate is off, a `Pause` stands in for the bucket, and holds the
        lines for that long only.
        """
        now = self.schedule.clock()
        if self._bucket is None:
            self._bucket = Pause(now)
        self._bucket.hold(now, seconds)

    def handle_expt(self):
        """Urgent data (telnet's Synch): drop it, where SO_OOBINLINE did not put it in line."""
        try:
            self.socket.recv(1, socket.MSG_OOB)
        except OSError:
            pass                       # in line after all (EINVAL), or already read

    # ---- output: data queued, then one send() a round
    #
    # asynchat's own push sends at once. A send that finds the peer gone then
    # closes the channel in the middle of whoever pushed, a room's broadcast
    # say, and a burst costs one send() a line. So push_data queues, and the
    # loop sends the whole queue with one send() at the end of the round; only
    # a queue past max_queue is offered to the kernel at once (_overflow).

    def push_data(self, data):
        """Queue bytes for the client; the loop sends the queue at the end of the round."""
        if self._closing:              # nothing is sent after close_when_done
            return
        if not self._out:
            self.schedule.to_flush.add(self)
        self._out.append(data)
        self._queued += len(data)
        if self._queued > self.max_queue:
            self._overflow()

    def push_raw(self, data):
        """Queue bytes the framing has made (a telnet answer, a WebSocket control frame),
        after everything queued so far, which is framed now to keep the order."""
        if self.closed:
            return
        queued, self._out = b''.join(self._out), []
        if queued and self.framing.wrap is not None:
            queued = self._wrap(queued)
        self._sending = bytes(self._sending) + queued + data
        self._queued += len(data)
        self.schedule.to_flush.add(self)
        if self._queued > self.max_queue:
            self._overflow()

    def _wrap(self, data):
        """Return queued data framed as the framing sends it (a WebSocket's text frame)."""
        framed = self.framing.wrap(data)
        self._queued += len(framed) - len(data)
        return framed

    def _overflow(self):
        """The queue has passed max_queue: a slow reader, unless the kernel takes it now."""
        # Offer the kernel the queue first: a big reply is no slow reader if it is taken.
        self._send_queue(self._send_quietly)
        if self._queued > self.max_queue:
            self.abort('slow reader: over %d bytes queued' % self.max_queue)

    def writable(self):
        return bool(self._queued) or self._closing

    def handle_write(self):
        self._send_queue(self.send)
        if self._closing and not self._queued and not self.closed:
            self.handle_close()

    def _send_queue(self, send):
        """Send the queue, joined once, as far as the kernel takes it."""
        while self._queued and not self.closed:
            if not self._sending:      # what is left of a partial send goes first
                self._sending = b''.join(self._out)
                self._out = []
                if self.framing.wrap is not None:
                    self._sending = self._wrap(self._sending)
            sent = send(self._sending)
            self._queued -= sent
            if sent < len(self._sending):
                # The rest, as a view: what is left of a big queue is not copied.
                self._sending = memoryview(self._sending)[sent:]
                return                 # the kernel is full: the loop waits until writable
            self._sending = b''

    def _send_quietly(self, data):
        """socket.send for push_data: it must close nothing, as it may run mid-broadcast."""
        try:
            return self.socket.send(data)
        except OSError:
            return 0                   # full, or gone: the loop's own send will tell

    # ---- the end: two ways to close, one exit

    def close_when_done(self, reason=None, why=ENDED):
        """Close once everything queued is sent, within the linger limit.

        why, for the framing's goodbye, is ENDED, SHUTTING_DOWN or PUT_OUT
        (chat/framing.py); reason is for the log.
        """
        if not self._closing:
            goodbye = self.framing.goodbye(why)
            if goodbye:                # a WebSocket's close frame: after all that is queued
                self.push_raw(goodbye)
            self._closing = True
            self.schedule.lingering.add(self, self.schedule.clock())
        self.reason = self.reason or reason
        self.schedule.to_flush.add(self)

    def abort(self, reason):
        """Drop what is queued and close at the schedule's next tick, not mid-broadcast."""
        self._drop_queue()
        self.reason = reason
        self._closing = True
        self.schedule.close_soon(self)

    def _drop_queue(self):
        self._out = []
        self._sending = b''
        self._queued = 0

    def stop_lingering(self, seconds):
        """An orderly close still sending after seconds: drop the rest, and close."""
        if not self.closed:
            self.abort('%s; output still unsent after %g s' % (self.reason, seconds))

    def handle_close(self):
        """The connection is over, however it ended: let go of it and close it, once."""
        if self.closed:
            return
        self.closed = True
        self._drop_queue()
        self._waiting = b''
        self.schedule.forget(self)
        self.server.forget(self)
        if self._closing:
            finish_connection(self.socket)
        self.close()

    def hand_over(self):
        """Leave the loop without closing the socket, for a new channel to take it.

        Returns (the socket, the bytes read from it that no one has handled).
        The channel is closed as far as anyone holding it can tell.
        """
        # What asynchat holds, then what waits for the next round (past LINES_PER_ROUND LFs).
        sock, unread = self.socket, self.ac_in_buffer + self._waiting
        self.ac_in_buffer = self._waiting = b''
        self.del_channel()             # out of the map, the socket left open
        self.closed = True
        self._closing = True           # asynchat hands this channel nothing more
        self.schedule.forget(self)
        self.server.forget(self)
        return sock, unread

    def handle_error(self):
        """A socket error closes the channel quietly; anything else is a bug, logged once."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self.reason = 'connection error: %s' % (error.strerror or error)
        else:
            self.reason = 'internal error'
            log.exception('%s internal error; closing the session', self.peer)
        self.handle_close()


def split_lines(data, count):
    """Return (the first count lines of data, the rest): LF-ended lines, as asynchat gets them."""
    if data.count(b'\n') < count:
        return data, b''               # the common case: a read of a few lines
    end = -1
    for _ in range(count):
        end = data.find(b'\n', end + 1)
    return data[:end + 1], data[end + 1:]


def push_to_all(channels, line, sender=None):
    """Send a line to each of channels but sender: push_data, for many channels at once.

    Room.broadcast calls it with the room's sessions. The line is encoded
    once for all of them; a chat.events client's framing renders it once too
    (its event, kept on the line: chat/events.py). That is the hottest loop of
    the server, so the queueing is push_data's, written out here rather than
    made a call per channel.
    """
    data = encode(line)
    size = len(data)
    for channel in channels:
        if channel is sender or channel._closing:   # nothing is sent after close_when_done
            continue
        if channel.events:             # its framing renders the line once, and keeps it
            channel.push_data(channel.framing.render(line))
            continue
        if not channel._out:
            channel.schedule.to_flush.add(channel)  # the loop sends it at the end of the round
        channel._out.append(data)
        channel._queued += size
        if channel._queued > channel.max_queue:
            channel._overflow()


def finish_connection(sock):
    """End a socket's output, and drop the input no one will read, before it closes.

    Closing a socket with unread input sends a reset, and a reset makes the
    client's system drop what it has not yet shown: the goodbye. The end of
    output (FIN) goes first, so a reset that input arriving later causes
    comes after it: a browser sends its request as it connects, and a refusal
    can be sent before that request arrives.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.setblocking(False)
        for _ in range(16):
            if not sock.recv(65536):
                break
    except OSError:
        pass                           # nothing more to read now, or the peer is gone
