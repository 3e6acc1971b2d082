"""`ChatSession`: one connected client, as the design's async_chat subclass.

Bytes arrive in `recv`, pass through the telnet layer (chat/telnet.py) and
reach asynchat as lines ending in LF. asynchat calls `collect_incoming_data`
with the pieces and `found_terminator` at each line end, which turns the line
into text and hands it to the session's room: `self.room.handle(self, line)`.

Output goes the other way through `push(line)`. Bytes become text only in
`found_terminator` and text becomes bytes only in `encode`.

A session ends in one of two ways, and both end in `handle_close`, which
frees everything the session holds, closes the socket and logs why, once:
- `close_when_done(reason)`: orderly. Stop reading, send what is queued (for
  at most LINGER seconds), then close. Logout, end of input, a late login and
  the server's shutdown end a session this way.
- `abort(reason)`: drop what is queued and close at the server's next tick,
  not at once, because a session may be aborted in the middle of a room's
  broadcast. A slow reader, and a close that outlived LINGER, end this way.
asyncore calls `handle_close` itself when the connection is gone (a reset).
"""

import asynchat
import asyncore
import logging
import os
import socket
import sys
import time
import unicodedata

from .commands import EndSession
from .telnet import TOO_LONG, Telnet, clean

log = logging.getLogger('chat')

READ_SIZE = 8 * 1024
"""Bytes read from a client at once: at most this much of a paced client's lines waits here."""

LINGER = 10.0
"""Seconds an orderly close may spend sending what is owed before the connection is cut."""

TURN = 32
"""Lines a session handles in one round of the loop at most, counted or not by the line
rate: the rest of its read waits for the next round, so no client delays the others.
Above the line burst (20), so that a burst the rate allows takes one round; a smaller
turn means more rounds, each a send() per reader: 16 cost a fan-out a tenth of its speed."""

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
"""The options set on each session's socket, where the platform has them."""


def socket_option(name):
    """The number of the socket option called name, or None where the platform lacks it."""
    if name == 'TCP_KEEPALIVE' and sys.platform == 'darwin':
        return getattr(socket, name, 0x10)     # macOS has it; Python names it from 3.10
    return getattr(socket, name, None)


def nickname_key(name):
    """What nicknames are compared by: NFKC and case folding, so that ALICE and the
    fullwidth ａｌｉｃｅ are both alice."""
    return unicodedata.normalize('NFKC', unicodedata.normalize('NFKC', name).casefold())


def encode(line):
    """Return a line of text as the bytes a client receives: UTF-8 ending in CR LF."""
    return (line + '\r\n').encode('utf-8')


def format_address(address):
    """Return 'HOST:PORT', or '[HOST]:PORT' for IPv6."""
    host, port = address[:2]
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)


class ChatSession(asynchat.async_chat):
    """One client's connection: its nickname, its room, its bytes in and out."""

    ac_in_buffer_size = READ_SIZE

    def __init__(self, server, sock):
        asynchat.async_chat.__init__(self, sock, map=server.map)
        # The design's terminator was the str '\r\n'; the telnet layer ends every line with LF.
        self.set_terminator(b'\n')
        self.server = server
        self.data = []
        self.client_name = ''
        # asynchat's output queue goes unused (push and handle_write are this class's own):
        # letting it go saves 600 bytes a session.
        self.producer_fifo = None
        self.address_key = None   # what the server counts this connection under, per address
        self.room = None
        self.peer = format_address(self.addr) if self.addr else '(gone)'
        self.telnet = Telnet(server.max_line)
        self.started = time.monotonic()
        self.closed = False
        self.reason = None        # why the session ended, for the log
        self._out = []            # lines queued for the client since the last send
        self._sending = b''       # the part of a joined queue the kernel has not taken yet
        self._queued = 0          # bytes in both, held under server.max_queue
        self._held = b''          # lines read but over the line rate: handled later
        self._tokens = float(server.line_burst)   # lines the client may send now
        self._stamp = self.started   # when _tokens was last brought up to date
        self._eof = False         # the client has ended its sending side
        self._closing = False     # close once the queue is sent
        for level, name, value in SOCKET_OPTIONS:
            option = socket_option(name)
            if option is not None:
                try:
                    sock.setsockopt(getattr(socket, level), option, value)
                except OSError:
                    pass               # refused by this system, or the peer is gone already
        log.info('%s connected', self.peer)
        self.enter(server.hall)

    def enter(self, room):
        """Move the session to room: leave the room it is in, then join room."""
        if self.room is not None:
            self.room.remove(self)     # the design never left the old room
        self.room = room
        room.add(self)

    # ---- input: bytes -> lines -> the room's handler

    def readable(self):
        # Paced lines waiting (_held) keep the rest in the network's buffers: the sender slows.
        return not (self._eof or self._closing or self._held)

    @property
    def paced(self):
        """Whether lines wait for the line rate: the loop then watches for the end of input."""
        return bool(self._held) and not (self._eof or self._closing)

    def recv(self, buffer_size):
        """Return the telnet layer's LF-ended lines to asynchat, a turn's worth at most.

        Lines held back earlier come first (see resume); else the socket is read.
        """
        if self._held:
            data, self._held = self._held, b''
        else:
            data = self.socket.recv(buffer_size)
            if data:
                data = self.telnet.feed(data)
            else:
                self._eof = True       # the client ended its sending side
                data = self.telnet.finish()
            if self.telnet.answers:
                self.push_data(bytes(self.telnet.answers))
                self.telnet.answers.clear()
        data, self._held = split_lines(data, TURN)
        if self._held:                 # enough for one round: the rest waits for the next
            self.server.next_round(self)
        return data

    def handle_read(self):
        asynchat.async_chat.handle_read(self)
        if self._eof and not self._closing:
            # Free the nickname at once; the replies to the last lines still go out.
            self.logout()
            self.close_when_done('the client ended its side')

    def resume(self):
        """Handle the held lines the line rate now allows (the server calls this when due)."""
        if self.closed:
            return
        error = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:                      # reset while it waited: a loop reading nothing misses it
            self.reason = 'connection error: %s' % os.strerror(error)
            self.handle_close()
            return
        asyncore.read(self)            # handle_read, with asyncore's error handling
        self.server.pending.add(self)  # readable() may have changed: the loop asks again

    def handle_hang_up(self):
        """The client ended its input while its lines waited (the loop saw it, on Linux).

        The end of input logs out at once, as at any other time: the lines still
        waiting for the line rate, and anything unread, go with the client.
        """
        self._held = b''
        self._eof = True
        self.logout()
        self.close_when_done('the client ended its side')

    def collect_incoming_data(self, data):
        """Buffer a piece of the line being received."""
        self.data.append(data)

    def found_terminator(self):
        """Hand a complete line to the handler of the session's room."""
        data = b''.join(self.data)
        self.data = []
        if self.room is None or self._closing:
            return                     # logged out or cut: the rest of the input is ignored
        too_long = data == TOO_LONG    # the telnet layer cut this line at the limit
        line = '' if too_long else clean(data.decode('utf-8', 'replace'))
        if not (line or too_long):
            return                     # an empty line: no reply, and no count
        if not self._take_token():     # over the line rate: this line and the rest wait
            self._hold(data)
            self.server.pace(self, 1 / self.server.line_rate)
            return
        if too_long:
            self.push('Line too long (over %d bytes): it was dropped.'
                      % self.server.max_line)
            log.info('%s sent a line over %d bytes: dropped', self.peer, self.server.max_line)
            return
        try:
            self.room.handle(self, line)
        except EndSession:
            # The design called handle_close() here, which would drop the goodbye.
            self.logout()
            self.close_when_done('logout')

    def _hold(self, data):
        """Keep this line and the rest of the turn for later; asynchat reads no further."""
        self._held = data + b'\n' + self.ac_in_buffer + self._held
        self.ac_in_buffer = b''

    def _take_token(self):
        """Count a line against the line rate; False if the client must wait for it."""
        rate = self.server.line_rate
        if not rate:
            return True
        now = time.monotonic()
        self._tokens = min(self.server.line_burst, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def handle_expt(self):
        """Urgent data (telnet's Synch): drop it, where SO_OOBINLINE did not put it in line."""
        try:
            self.socket.recv(1, socket.MSG_OOB)
        except OSError:
            pass                       # in line after all (EINVAL), or already read

    # ---- output: text -> bytes -> one send() per loop iteration
    #
    # asynchat's own output side (producer_fifo, initiate_send) sends at once,
    # on every push. A push to a peer that has vanished then closes that peer
    # in the middle of whoever pushed, say a room's broadcast; and a burst costs
    # one send() per line. So push only queues, and the loop, finding the
    # session writable, sends the whole queue with one send().

    def push(self, line):
        """Send one line of text to the client."""
        self.push_data(encode(line))

    def push_data(self, data):
        """Queue bytes for the client; the loop sends the queue at the end of the round."""
        push_to_all((self,), data)

    def _overflow(self):
        """The queue has passed server.max_queue: a slow reader, unless the kernel takes it."""
        # Offer the kernel the queue first: a big reply is no slow reader if it is taken.
        self._send_queue(self._send_quietly)
        if self._queued > self.server.max_queue:
            self.abort('slow reader: over %d bytes queued' % self.server.max_queue)

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

    # ---- the end of a session

    def close_when_done(self, reason=None):
        """Close the connection once everything queued has been sent, within LINGER seconds."""
        if not self._closing:
            self._closing = True
            self.server.linger(self, LINGER)
        self.reason = self.reason or reason
        self.server.pending.add(self)

    def abort(self, reason):
        """Drop what is queued and close at the server's next tick, not mid-broadcast."""
        self._drop_queue()
        self.reason = reason
        self._closing = True
        self.server.abort(self)

    def _drop_queue(self):
        self._out = []
        self._sending = b''
        self._queued = 0

    def give_up(self, seconds):
        """An orderly close still sending after seconds: drop the rest, and close."""
        if self.closed:
            return
        self.abort('%s; output still unsent after %g s' % (self.reason, seconds))

    def time_out(self, seconds):
        """Say the login took too long, and close once that is sent."""
        self.push('No login within %g second%s: timeout. Goodbye!'
                  % (seconds, '' if seconds == 1 else 's'))
        self.close_when_done('login timeout')

    def logout(self):
        """Leave the room and free the nickname. Safe to call more than once."""
        room, self.room = self.room, None
        if room is not None:
            room.remove(self)
        key = nickname_key(self.client_name)
        if self.client_name and self.server.users.get(key) is self:
            del self.server.users[key]

    def handle_close(self):
        """The connection is over, however it ended: free everything, close, log why."""
        if self.closed:
            return
        self.closed = True
        self._drop_queue()
        self._held = b''
        self.logout()
        self.server.forget(self)
        if self._closing:
            discard_input(self.socket)
        self.close()
        log.info('%s closed%s: %s', self.peer,
                 ' (%s)' % self.client_name if self.client_name else '',
                 self.reason or 'closed by the client')

    def handle_error(self):
        """A socket error ends the session quietly; anything else is a bug, logged once."""
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
        if end < 0:
            return data, b''
    return data[:end + 1], data[end + 1:]


def push_to_all(sessions, data, sender=None):
    """Queue the same bytes for every session but sender: push_data, for many at once.

    A room's broadcast calls this for each line, once per member: the hottest
    loop of the server, so the queueing is written out here, not a call per member.
    """
    size = len(data)
    for session in sessions:
        if session is sender or session._closing:   # nothing is sent after close_when_done
            continue
        if not session._out:
            session.server.pending.add(session)     # the loop sends it at the end of the round
        session._out.append(data)
        session._queued += size
        if session._queued > session.server.max_queue:
            session._overflow()


def discard_input(sock):
    """Read and drop what a client has sent that no one will read, before closing its socket.

    Closing a socket with unread input sends a reset, and a reset makes the
    client's system drop what it has not yet shown: the goodbye.
    """
    try:
        sock.setblocking(False)
        for _ in range(16):
            if not sock.recv(65536):
                break
    except OSError:
        pass                           # nothing more to read now, or the peer is gone
