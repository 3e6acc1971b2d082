"""`Server`: the design's listening asyncore.dispatcher, and the state users share.

The server listens, makes a ChatSession for each connection it accepts, and
owns what sessions share: `users` (every logged-in user's session, by
nickname), the hall and the three chat rooms. Everything lives in one socket
map, passed explicitly, so two servers can run in one process.

It also keeps the limits that protect everyone (docs/protocol.md): how many
clients may connect, and from one address; how long one may take to log in;
how fast one may send lines; how long a closing one may take to drain; and,
through its sessions, how much input and output each may hold. The loop calls
`tick` between rounds of events to act on their deadlines. Whatever the server
holds for a session it lets go of in `forget`, which every close goes through.
"""

import asyncore
import collections
import errno
import ipaddress
import logging
import os
import socket
import sys
import time

from .loop import SocketMap
from .rooms import ChatRoom, Hall
from .session import LINGER, ChatSession, discard_input, encode, format_address
from .telnet import MAX_LINE

log = logging.getLogger('chat')

BACKLOG = socket.SOMAXCONN
"""Connections the kernel may hold for accept(); the design's 5 drops a burst."""

ACCEPTS = 64
"""Connections accepted per readable event at most, so a storm is taken in batches."""

MAX_QUEUE = 64 * 1024
"""Bytes of output the kernel has not taken that a session may hold before it is cut."""

MAX_CLIENTS = 10000
"""Connections at once, logged in or not."""

MAX_PER_ADDRESS = 64
"""Connections at once from one IPv4 address or IPv6 /64; 0 for no limit."""

LOGIN_TIMEOUT = 300
"""Seconds a connection may take to log in; 0 for no limit."""

LINE_RATE = 5.0
"""Lines a second a client may send once its burst is spent; 0 for no limit."""

LINE_BURST = 20
"""Lines a client may send at once."""

REFUSAL_LOG_EVERY = 1.0
"""Seconds between two log lines about refused connections at most."""

OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, getattr(errno, 'WSAEMFILE', errno.EMFILE)}
"""accept()'s errors when no descriptor is left (Winsock's own number on Windows)."""

FULL = 'Sorry, the server is full; please try again later.'
TOO_MANY = 'Sorry, too many connections from your address; please close one first.'


def resolve(host, port):
    """Return (family, address) to listen on for host and port."""
    if host == 'localhost':
        host = '127.0.0.1'             # the design's address, whatever the resolver prefers
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return family, address


def address_key(host):
    """What the per-address limit counts by: an IPv4 address, or an IPv6 /64."""
    if ':' not in host:
        return host                                    # IPv4, as accept() wrote it
    ip = ipaddress.ip_address(host.split('%')[0])      # '%': an IPv6 scope, as in fe80::1%eth0
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)                 # IPv4 through a dual-stack socket
        return str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip)


class Server(asyncore.dispatcher):
    """Accept connections; own the users, the hall and the chat rooms."""

    channel_class = ChatSession

    def __init__(self, port, host, map=None, max_line=MAX_LINE, max_queue=MAX_QUEUE,
                 max_clients=MAX_CLIENTS, login_timeout=LOGIN_TIMEOUT, line_rate=LINE_RATE,
                 line_burst=LINE_BURST, max_per_address=MAX_PER_ADDRESS, motd=()):
        self.map = SocketMap() if map is None else map
        self._spare = open(os.devnull, 'rb')   # a descriptor kept for refuse_without_descriptors
        asyncore.dispatcher.__init__(self, map=self.map)
        self.max_line = max_line
        self.max_queue = max_queue
        self.max_clients = max_clients
        self.login_timeout = login_timeout
        self.line_rate = line_rate
        self.line_burst = line_burst
        self.max_per_address = max_per_address
        self.motd = list(motd)         # lines shown after every login
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
        self.users = {}                # nickname_key(nickname) -> session
        self.hall = Hall(self, 'Hall')
        self.python = ChatRoom(self, 'python')
        self.write = ChatRoom(self, 'write')
        self.pm = ChatRoom(self, 'pm')
        self.pending = set()           # sessions for the loop to send to, or ask again
        self._addresses = {}           # address_key -> its open sessions
        self._aborted = []             # sessions to close at the next tick
        self._next_round = {}          # sessions with lines left for the next round
        # Deadlines, session -> when. Each kind is always the same delay after now,
        # so insertion order is deadline order, and the first is the next due.
        # (OrderedDict: taking from the front of a plain dict gets slower and slower.)
        self._newcomers = collections.OrderedDict()   # login deadline
        self._paced = collections.OrderedDict()       # when the line rate allows more
        self._lingering = collections.OrderedDict()   # when a close still sending gives up
        self._refused = 0              # refusals not logged yet (see refuse)
        self._refusal_logged = -REFUSAL_LOG_EVERY

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
        """Make a session of a new connection, or refuse it if the limits say so."""
        if len(self.sessions) >= self.max_clients:
            self.refuse(conn, addr, FULL, 'server full (%d clients)' % self.max_clients)
            return
        key = address_key(addr[0])
        same = self._addresses.get(key, 0)
        if self.max_per_address and same >= self.max_per_address:
            self.refuse(conn, addr, TOO_MANY, 'too many connections from %s (%d)' % (key, same))
            return
        session = self.channel_class(self, conn)
        session.address_key = key
        self._addresses[key] = same + 1
        self.sessions.add(session)
        if self.login_timeout:
            self._newcomers[session] = session.started + self.login_timeout

    def refuse(self, conn, addr, reply, reason):
        """Tell a newcomer why it cannot stay, and close the connection.

        The log says so at most once every REFUSAL_LOG_EVERY seconds, with the
        count of the others, so that a storm of refusals cannot flood it.
        """
        try:
            conn.send(encode(reply))
        except OSError:
            pass                       # gone already: nothing to tell
        discard_input(conn)
        conn.close()
        now = time.monotonic()
        if now - self._refusal_logged < REFUSAL_LOG_EVERY:
            self._refused += 1
            return
        self._log_refusals()
        self._refusal_logged = now
        log.info('%s refused: %s', format_address(addr), reason)

    def _log_refusals(self):
        if self._refused:
            log.info('%d more connections refused', self._refused)
            self._refused = 0

    def refuse_without_descriptors(self):
        """Out of file descriptors: free the spare one to accept and refuse a newcomer.

        Otherwise the waiting connection keeps the listening socket readable,
        and the loop spins on a failing accept().
        """
        self._spare.close()
        try:
            pair = self.accept()
            if pair is not None:
                self.refuse(*pair, FULL, 'out of file descriptors')
        finally:
            self._spare = open(os.devnull, 'rb')

    def take_pending(self):
        """Return the sessions that queued output since the last call, for the loop to send."""
        pending, self.pending = self.pending, set()
        return pending

    def abort(self, session):
        """Have the next tick close session (a session may not close itself mid-broadcast)."""
        self._aborted.append(session)

    def pace(self, session, seconds):
        """Have session handle its held lines in seconds, when the line rate allows them."""
        self._next_round.pop(session, None)       # the rate, not the turn, decides now
        self._paced.pop(session, None)            # so that the order stays deadline order
        self._paced[session] = time.monotonic() + seconds

    def next_round(self, session):
        """Have session handle the rest of its lines at the next tick (see TURN)."""
        self._next_round[session] = None

    def linger(self, session, seconds):
        """Give a closing session seconds to send what it owes; then it is cut."""
        self._lingering[session] = time.monotonic() + seconds

    def forget(self, session):
        """Let go of everything held for a session that has closed, however it closed."""
        self.sessions.discard(session)
        self._newcomers.pop(session, None)
        self._paced.pop(session, None)
        self._next_round.pop(session, None)
        self._lingering.pop(session, None)
        key = session.address_key
        if key is not None:
            self._addresses[key] -= 1
            if not self._addresses[key]:
                del self._addresses[key]

    def tick(self, now):
        """Act on what is due: aborted sessions, held lines, late logins, slow closes.

        Returns when the next deadline falls, or None if there is none.
        """
        while self._aborted:
            self._aborted.pop().handle_close()
        if not (self._next_round or self._paced or self._newcomers or self._lingering
                or self._refused):
            return None                # the common case, every round: nothing is waiting
        turns, self._next_round = list(self._next_round), {}
        for session in turns + _due(self._paced, now):
            session.resume()
        for session in _due(self._newcomers, now):
            if not (session.client_name or session.closed):
                session.time_out(self.login_timeout)
        for session in _due(self._lingering, now):
            session.give_up(LINGER)
        if self._refused and now - self._refusal_logged >= REFUSAL_LOG_EVERY:
            self._log_refusals()
        if self._aborted or self._next_round:
            return now
        firsts = [next(iter(deadlines.values()))
                  for deadlines in (self._paced, self._newcomers, self._lingering) if deadlines]
        if self._refused:
            firsts.append(self._refusal_logged + REFUSAL_LOG_EVERY)
        return min(firsts) if firsts else None

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
        self._log_refusals()
        for session in list(self.sessions):
            session.push('The server is shutting down. Goodbye!')
            session.close_when_done('server shutting down')

    def close(self):
        asyncore.dispatcher.close(self)
        self._spare.close()


def _due(deadlines, now):
    """Take the sessions whose deadline has come out of deadlines (oldest first); return them."""
    due = []
    while deadlines:
        session, deadline = next(iter(deadlines.items()))
        if deadline > now:
            break
        del deadlines[session]
        due.append(session)
    return due
