"""`ChatSession`: one connected client, as the design's async_chat subclass.

Bytes arrive in `recv`, pass through the telnet layer (chat/telnet.py) and
reach asynchat as lines ending in LF. asynchat calls `collect_incoming_data`
with the pieces and `found_terminator` at each line end, which turns the line
into text and hands it to the session's room: `self.room.handle(self, line)`.

Output goes the other way through `push(line)`. Bytes become text only in
`found_terminator` and text becomes bytes only in `encode`.
"""

import asynchat
import logging
import socket
import sys
import time

from .commands import EndSession
from .telnet import TOO_LONG, Telnet, clean

log = logging.getLogger('chat')

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


def encode(line):
    """Return a line of text as the bytes a client receives: UTF-8 ending in CR LF."""
    return (line + '\r\n').encode('utf-8')


def format_address(address):
    """Return 'HOST:PORT', or '[HOST]:PORT' for IPv6."""
    host, port = address[:2]
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)


class ChatSession(asynchat.async_chat):
    """One client's connection: its nickname, its room, its bytes in and out."""

    def __init__(self, server, sock):
        asynchat.async_chat.__init__(self, sock, map=server.map)
        # The design's terminator was the str '\r\n'; the telnet layer ends every line with LF.
        self.set_terminator(b'\n')
        self.server = server
        self.data = []
        self.client_name = ''
        self.room = None
        self.peer = format_address(self.addr) if self.addr else '(gone)'
        self.telnet = Telnet(server.max_line)
        self.started = time.monotonic()
        self.closed = False
        self.reason = None        # why the session ended, for the log
        self._out = []            # bytes queued for the client, sent by handle_write
        self._queued = 0          # their total length, held under server.max_queue
        self._eof = False         # the client has ended its sending side
        self._closing = False     # close once the queue is sent
        for level, name, value in SOCKET_OPTIONS:
            if hasattr(socket, name):
                try:
                    sock.setsockopt(getattr(socket, level), getattr(socket, name), value)
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

    def recv(self, buffer_size):
        """Read from the socket; return the telnet layer's LF-ended lines to asynchat."""
        data = self.socket.recv(buffer_size)
        if data:
            data = self.telnet.feed(data)
        else:
            self._eof = True           # the client ended its sending side
            data = self.telnet.finish()
        if self.telnet.answers:
            self.push_data(bytes(self.telnet.answers))
            self.telnet.answers.clear()
        return data

    def handle_read(self):
        asynchat.async_chat.handle_read(self)
        if self._eof:                  # the replies to the last lines still go out
            self.close_when_done('the client ended its side')

    def collect_incoming_data(self, data):
        """Buffer a piece of the line being received."""
        self.data.append(data)

    def found_terminator(self):
        """Hand a complete line to the handler of the session's room."""
        data = b''.join(self.data)
        self.data = []
        if self.room is None:
            return                     # logged out: the rest of the input is ignored
        if data == TOO_LONG:           # the telnet layer cut this line at the limit
            self.push('Line too long (over %d bytes): it was dropped.'
                      % self.server.max_line)
            log.info('%s sent a line over %d bytes: dropped', self.peer, self.server.max_line)
            return
        line = clean(data.decode('utf-8', 'replace'))
        try:
            self.room.handle(self, line)
        except EndSession:
            # The design called handle_close() here, which would drop the goodbye.
            self.logout()
            self.close_when_done('logout')

    def readable(self):
        return not (self._eof or self._closing)

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
        """Queue bytes for the client; handle_write sends the queue with one send()."""
        if self._closing:              # as in asynchat, nothing is sent after close_when_done
            return
        if not self._out:
            self.server.pending.add(self)   # the loop sends it at the end of this round
        self._out.append(data)
        self._queued += len(data)
        if self._queued > self.server.max_queue:
            self.cut('slow reader: over %d bytes queued' % self.server.max_queue)

    def writable(self):
        return bool(self._out) or self._closing

    def handle_write(self):
        if self._out:
            data = self._out[0] if len(self._out) == 1 else b''.join(self._out)
            sent = self.send(data)
            if self.closed:
                return                 # the send found the peer gone, and closed
            self._out = [data[sent:]] if sent < len(data) else []
            self._queued = len(data) - sent
        if self._closing and not self._out:
            self.handle_close()

    def close_when_done(self, reason=None):
        """Close the connection once everything queued has been sent."""
        self._closing = True
        self.reason = self.reason or reason
        self.server.pending.add(self)

    def cut(self, reason):
        """Drop what is queued and close soon: at the server's next tick, not mid-broadcast."""
        self._out = []
        self._queued = 0
        self.close_when_done(reason)
        self.server.cut(self)

    def time_out(self, seconds):
        """Say the login took too long, send that if the client can take it now, and close."""
        self.push('No login within %g second%s: timeout. Goodbye!'
                  % (seconds, '' if seconds == 1 else 's'))
        self.close_when_done('login timeout')
        self.handle_write()
        self.handle_close()

    # ---- the end of a session

    def logout(self):
        """Leave the room and free the nickname. Safe to call more than once."""
        room, self.room = self.room, None
        if room is not None:
            room.remove(self)
        key = self.client_name.casefold()
        if self.client_name and self.server.users.get(key) is self:
            del self.server.users[key]

    def handle_close(self):
        """The connection is over, however it ended: clean up, then close the socket."""
        if self.closed:
            return
        self.closed = True
        self._out = []
        self.logout()
        self.server.sessions.discard(self)
        if self._closing:
            self._discard_input()
        self.close()
        log.info('%s closed%s: %s', self.peer,
                 ' (%s)' % self.client_name if self.client_name else '',
                 self.reason or 'closed by the client')

    def _discard_input(self):
        """Read and drop what the client has sent and no one will read.

        Closing a socket with unread input sends a reset, and a reset makes
        the client's system drop what it has not yet shown: the goodbye.
        """
        try:
            for _ in range(16):
                if not self.socket.recv(65536):
                    break
        except OSError:
            pass                       # nothing more to read now, or the peer is gone

    def handle_error(self):
        """A socket error ends the session quietly; anything else is a bug, logged once."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self.reason = 'connection error: %s' % (error.strerror or error)
        else:
            self.reason = 'internal error'
            log.exception('%s internal error; closing the session', self.peer)
        self.handle_close()
