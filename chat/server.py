"""`Server`: the design's listening asyncore.dispatcher, and the state users share.

The server listens, makes a ChatSession for each connection it accepts, and
owns what sessions share: `users` (every logged-in user's session, by
nickname), the hall and the three chat rooms. Everything lives in one socket
map, passed explicitly, so two servers can run in one process.

It also keeps the limits that protect everyone (docs/protocol.md): how many
clients may connect, how long one may take to log in, and, through its
sessions, how much input and output each may hold. The loop calls `tick`
between rounds of events to act on them.
"""

import asyncore
import collections
import errno
import logging
import os
import socket
import sys

from .loop import SocketMap
from .rooms import ChatRoom, Hall
from .session import ChatSession, encode, format_address
from .telnet import MAX_LINE

log = logging.getLogger('chat')

BACKLOG = socket.SOMAXCONN
"""Connections the kernel may hold for accept(); the design's 5 drops a burst."""

ACCEPTS = 64
"""Connections accepted per readable event at most, so a storm is taken in batches."""

MAX_QUEUE = 1024 * 1024
"""Bytes of output a session may have queued before it is cut as a slow reader."""

MAX_CLIENTS = 10000
"""Connections at once, logged in or not."""

LOGIN_TIMEOUT = 300
"""Seconds a connection may take to log in; 0 for no limit."""

OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, getattr(errno, 'WSAEMFILE', errno.EMFILE)}
"""accept()'s errors when no descriptor is left (Winsock's own number on Windows)."""


def resolve(host, port):
    """Return (family, address) to listen on for host and port."""
    if host == 'localhost':
        host = '127.0.0.1'             # the design's address, whatever the resolver prefers
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return family, address


class Server(asyncore.dispatcher):
    """Accept connections; own the users, the hall and the chat rooms."""

    channel_class = ChatSession

    def __init__(self, port, host, map=None, max_line=MAX_LINE, max_queue=MAX_QUEUE,
                 max_clients=MAX_CLIENTS, login_timeout=LOGIN_TIMEOUT):
        self.map = SocketMap() if map is None else map
        self._spare = open(os.devnull, 'rb')   # a descriptor kept for refuse_without_descriptors
        asyncore.dispatcher.__init__(self, map=self.map)
        self.max_line = max_line
        self.max_queue = max_queue
        self.max_clients = max_clients
        self.login_timeout = login_timeout
        family, address = resolve(host, port)
        self.create_socket(family, socket.SOCK_STREAM)
        try:
            if hasattr(socket, 'SO_EXCLUSIVEADDRUSE'):
                # Windows: SO_REUSEADDR there would let a second server take a port in use.
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            else:
                self.set_reuse_addr()
            self.bind(address)
            self.listen(BACKLOG)
        except OSError:
            self.close()
            raise
        self.sessions = set()          # every open session, logged in or not
        self.users = {}                # nickname.casefold() -> session
        self.hall = Hall(self, 'Hall')
        self.python = ChatRoom(self, 'python')
        self.write = ChatRoom(self, 'write')
        self.pm = ChatRoom(self, 'pm')
        self.pending = set()           # sessions with output queued this round
        self._cut = []                 # sessions to close at the next tick
        self._newcomers = collections.deque()   # (login deadline, session), oldest first

    @property
    def address(self):
        """The address listened on, as 'HOST:PORT' with the real port."""
        return format_address(self.socket.getsockname())

    def handle_accept(self):
        for _ in range(ACCEPTS):
            try:
                pair = self.accept()
            except OSError as error:
                if error.errno not in OUT_OF_DESCRIPTORS:
                    raise
                self.refuse_without_descriptors()
                return
            if pair is None:           # none waiting, or one that left before it was accepted
                return
            self.admit(*pair)

    def admit(self, conn, addr):
        """Make a session of a new connection, or refuse it if the server is full."""
        if len(self.sessions) >= self.max_clients:
            self.refuse(conn, addr, 'server full (%d clients)' % self.max_clients)
            return
        session = self.channel_class(self, conn)
        self.sessions.add(session)
        if self.login_timeout:
            self._newcomers.append((session.started + self.login_timeout, session))

    def refuse(self, conn, addr, reason):
        """Tell a newcomer the server is full, and close the connection."""
        try:
            conn.send(encode('Sorry, the server is full; please try again later.'))
        except OSError:
            pass                       # gone already: nothing to tell
        conn.close()
        log.info('%s refused: %s', format_address(addr), reason)

    def refuse_without_descriptors(self):
        """Out of file descriptors: free the spare one to accept and refuse a newcomer.

        Otherwise the waiting connection keeps the listening socket readable,
        and the loop spins on a failing accept().
        """
        self._spare.close()
        try:
            pair = self.accept()
            if pair is not None:
                self.refuse(*pair, 'out of file descriptors')
        finally:
            self._spare = open(os.devnull, 'rb')

    def take_pending(self):
        """Return the sessions that queued output since the last call, for the loop to send."""
        pending, self.pending = self.pending, set()
        return pending

    def cut(self, session):
        """Have the next tick close session (a session may not close itself mid-broadcast)."""
        self._cut.append(session)

    def tick(self, now):
        """Close the sessions cut since the last tick, and time out late logins.

        Returns when the next login deadline falls, or None if none is pending.
        """
        while self._cut:
            self._cut.pop().handle_close()
        newcomers = self._newcomers
        while newcomers:
            deadline, session = newcomers[0]
            if not (session.closed or session.client_name) and deadline > now:
                return deadline
            newcomers.popleft()
            if not (session.closed or session.client_name):
                session.time_out(self.login_timeout)
        return None

    def handle_error(self):
        """Log the error; the server goes on listening (asyncore's default would close it)."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.warning('cannot accept a connection: %s', error)
        else:
            log.exception('error accepting a connection')

    def shutdown(self):
        """Stop listening; tell every session, and close each once its output is sent."""
        self.close()
        for session in list(self.sessions):
            session.push('The server is shutting down. Goodbye!')
            session.close_when_done('server shutting down')

    def close(self):
        asyncore.dispatcher.close(self)
        self._spare.close()
