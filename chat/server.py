"""`Server`: the design's listening asyncore.dispatcher, and the state users share.

The server listens, makes a ChatSession for each connection it accepts, and
owns what sessions share: `users` (every logged-in user's session, by
nickname), the hall and the three chat rooms. Everything lives in one socket
map, passed explicitly, so two servers can run in one process.

It also keeps the limits that protect everyone (docs/protocol.md), one
`Limits` value, with the mechanisms of chat/limits.py: the deadlines its
sessions wait for (a turn, the line rate, the time to log in, the end of an
orderly close) and the log of refused connections, all counted by one clock.
The loop calls `tick(now)` between rounds to act on what is due. Whatever the
server holds for a session it lets go of in `forget`, which every close goes
through.
"""

import asyncore
import errno
import hmac
import logging
import os
import socket
import sys
import time

from .channel import finish_connection, format_address
from .limits import LINE_RATE, Attempts, Deadlines, Limits, Refusals, address_key
from .loop import SocketMap
from .rooms import ChatRoom, Hall
from .session import ChatSession
from .websocket import GOING_AWAY, POLICY

log = logging.getLogger('chat')

BACKLOG = socket.SOMAXCONN
"""Connections the kernel may hold for accept(); the design's 5 drops a burst."""

ACCEPTS = 64
"""Connections accepted per readable event at most, so a storm is taken in batches."""

OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, getattr(errno, 'WSAEMFILE', errno.EMFILE)}
"""accept()'s errors when no descriptor is left (Winsock's own number on Windows)."""

FULL = 'Sorry, the server is full; please try again later.'
TOO_MANY = 'Sorry, too many connections from your address; please close one first.'
BANNED = 'Sorry, your address is banned from this server.'

WRONG_PASSWORDS = 3
"""Wrong passwords a connection may give: the last of them closes it."""


def resolve(host, port):
    """Return (family, address) to listen on for host and port."""
    if host == 'localhost':
        host = '127.0.0.1'             # the design's address, whatever the resolver prefers
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return family, address


def listen(dispatcher, host, port):
    """Have dispatcher listen on host and port, or raise OSError and close it."""
    family, address = resolve(host, port)
    dispatcher.create_socket(family, socket.SOCK_STREAM)
    try:
        if hasattr(socket, 'SO_EXCLUSIVEADDRUSE'):
            # Windows: SO_REUSEADDR there would let a second server take a port in use.
            dispatcher.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            dispatcher.set_reuse_addr()
        dispatcher.bind(address)
        dispatcher.listen(BACKLOG)
    except OSError:
        dispatcher.close()
        raise




class Server(asyncore.dispatcher):
    """Accept connections; own the users, the hall and the chat rooms."""

    channel_class = ChatSession

    def __init__(self, port, host, map=None, limits=Limits(), motd=(), clock=time.monotonic,
                 password=None, op_password=None):
        self.map = SocketMap() if map is None else map
        self._spare = open(os.devnull, 'rb')   # a descriptor kept for refuse_without_descriptors
        asyncore.dispatcher.__init__(self, map=self.map)
        self.limits = limits
        self.motd = list(motd)         # lines shown after every login
        self.clock = clock             # what every deadline and the line rate count by
        self.password = password       # the class password, or None: anyone may log in
        self.op_password = op_password   # the operators' password, or None: no operators
        listen(self, host, port)
        self.listeners = [self]        # and the web port's, with the web side (chat/web.py)
        self.web = None                # the web side, if it is on
        self.sessions = set()          # every open channel, logged in or not, web page or not
        self.users = {}                # nickname_key(nickname) -> session
        self.hall = Hall(self, 'Hall')
        self.python = ChatRoom(self, 'python')
        self.write = ChatRoom(self, 'write')
        self.pm = ChatRoom(self, 'pm')
        self.dirty = set()             # sessions changed this round: the loop sends, asks again
        self._addresses = {}           # address_key -> how many sessions it has open
        self._closing_soon = []        # sessions to close at the next tick
        # What each session may be waiting for, each kind always the same delay away.
        self.turns = Deadlines(0)                          # a turn, for lines past TURN
        self.paced = Deadlines(1 / (limits.line_rate or LINE_RATE))   # the line rate's pause
        self.logins = Deadlines(limits.login_timeout)      # the end of the time to log in
        self.lingering = Deadlines(limits.linger)          # the end of an orderly close
        self.requests = Deadlines(limits.request_timeout)  # a web request's head (chat/web.py)
        self.refusals = Refusals()
        self.attempts = Attempts()     # password tries, by address
        self.bans = {}                 # address_key -> when the ban ends (None: never)
        self.muted = set()             # nickname_key of every muted nickname

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
            self.handle_accepted(*pair)

    def handle_accepted(self, sock, addr):
        """Make a session of a new connection, or refuse it if the limits say so."""
        self.admit(sock, addr, self.channel_class, self.logins)

    def admit(self, sock, addr, channel_class, deadlines):
        """Make channel_class(self, sock) of a connection, or refuse it if the limits say so.

        Every connection counts, to whichever port it came: a chat session,
        a browser's request for the page, a browser's chat session. The new
        channel's deadline (to log in, to send a request) is kept in deadlines.
        """
        key = address_key(addr[0])
        if self.banned(key):
            self.refuse(sock, addr, channel_class, BANNED, '%s is banned' % key, 403)
            return
        if len(self.sessions) >= self.limits.max_clients:
            self.refuse(sock, addr, channel_class, FULL,
                        'server full (%d clients)' % self.limits.max_clients)
            return
        same = self._addresses.get(key, 0)
        if self.limits.max_per_address and same >= self.limits.max_per_address:
            self.refuse(sock, addr, channel_class, TOO_MANY,
                        'too many connections from %s (%d)' % (key, same))
            return
        self.enroll(channel_class(self, sock), key, deadlines)

    def enroll(self, channel, key, deadlines):
        """Count a new channel under its address key, and start its deadline (0: none)."""
        channel.address_key = key
        self._addresses[key] = self._addresses.get(key, 0) + 1
        self.sessions.add(channel)
        if deadlines.delay:
            deadlines.add(channel, self.clock())

    def refuse(self, sock, addr, channel_class, reply, reason, status=503):
        """Tell a newcomer why it cannot stay, close the connection, and log it (`Refusals`).

        status is the HTTP status a browser's request is refused with.
        """
        try:
            sock.send(channel_class.refusal(reply, status))
        except OSError:
            pass                       # gone already: nothing to tell
        finish_connection(sock)
        sock.close()
        self.refusals.refused(format_address(addr), reason, self.clock())

    def refuse_without_descriptors(self, listener=None, channel_class=None):
        """Out of file descriptors: free the spare one to accept and refuse a newcomer.

        Otherwise the waiting connection keeps the listening socket readable,
        and the loop spins on a failing accept(). listener is this server
        unless told (the web port's), channel_class what it would have made.
        """
        self._spare.close()
        try:
            pair = (listener or self).accept()
            if pair is not None:
                self.refuse(*pair, channel_class or self.channel_class, FULL,
                            'out of file descriptors')
        finally:
            self._spare = open(os.devnull, 'rb')

    def close_soon(self, session):
        """Have the next tick close session (a session may not close itself mid-broadcast)."""
        self._closing_soon.append(session)

    def forget(self, session):
        """Let go of everything held for a session that has closed, however it closed."""
        self.sessions.discard(session)
        for deadlines in (self.turns, self.paced, self.logins, self.lingering, self.requests):
            deadlines.discard(session)
        key = session.address_key
        if key is not None:
            self._addresses[key] -= 1
            if not self._addresses[key]:
                del self._addresses[key]

    def tick(self, now):
        """Act on what is due: closes, held lines, late logins, slow closes, the refusal log.

        Returns when the next deadline falls, or None if there is none.
        """
        while self._closing_soon:
            self._closing_soon.pop().handle_close()
        if not (self.turns or self.paced or self.logins or self.lingering or self.requests
                or self.refusals.unlogged or self.attempts):
            return None                # the common case, every round: nothing is waiting
        for session in self.turns.pop_due(now) + self.paced.pop_due(now):
            session.resume()
        for session in self.logins.pop_due(now):
            if not (session.client_name or session.closed):
                session.time_out(self.limits.login_timeout)
        for request in self.requests.pop_due(now):
            if not request.closed:
                request.time_out(self.limits.request_timeout)
        for session in self.lingering.pop_due(now):
            session.give_up(self.limits.linger)
        self.refusals.tick(now)
        self.attempts.tick(now)
        if self._closing_soon:
            return now
        waiting = (self.turns, self.paced, self.logins, self.lingering, self.requests,
                   self.refusals, self.attempts)
        return min((when for when in (each.next_due() for each in waiting) if when is not None),
                   default=None)

    def check_password(self, session, given, password):
        """Whether given is the password, compared in constant time; a wrong one counts.

        Each address gets a few tries a second (`Attempts`): a try past them
        is not compared, and is answered to try again in a moment. Each
        connection gets three wrong ones (the third closes it), and each wrong
        one holds its next line back a second. Neither password is ever logged.
        """
        if not self.attempts.take(session.address_key, self.clock()):
            session.push('Too many password tries from your address: try again in a moment.')
            session.hold_back(1.0)
            return False
        if hmac.compare_digest(given.encode('utf-8'), password.encode('utf-8')):
            return True
        session.wrong_passwords += 1
        log.info('%s%s gave a wrong password (%d)', session.peer,
                 ' (%s)' % session.client_name if session.client_name else '',
                 session.wrong_passwords)
        if session.wrong_passwords >= WRONG_PASSWORDS:
            session.end('Wrong password, %d times: goodbye.' % WRONG_PASSWORDS,
                        'a wrong password, %d times' % WRONG_PASSWORDS, POLICY)
        else:
            session.push('Wrong password.')
            session.hold_back(1.0)
        return False

    def banned(self, key):
        """Whether the address key is banned now (a ban past its end is lifted here)."""
        if key not in self.bans:
            return False
        end = self.bans[key]
        if end is not None and end <= self.clock():
            del self.bans[key]
            return False
        return True

    def ban(self, key, minutes, by):
        """Close every connection from the address key and refuse new ones, for minutes
        (None: until the server stops)."""
        self.bans[key] = None if minutes is None else self.clock() + minutes * 60
        for channel in [each for each in self.sessions if each.address_key == key]:
            channel.end('You are banned from this server by %s.' % by, 'banned by %s' % by,
                        POLICY)

    def handle_error(self):
        """Log the error; the server goes on listening (asyncore's default would close it)."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.warning('cannot accept a connection: %s', error)
        else:
            log.exception('error accepting a connection')

    def shutdown(self):
        """Stop listening; tell every session, and close each once its output is sent."""
        for listener in self.listeners:
            listener.close()
        self.refusals.flush()
        for session in list(self.sessions):
            session.push('The server is shutting down. Goodbye!')
            session.close_when_done('server shutting down', GOING_AWAY)

    def close(self):
        asyncore.dispatcher.close(self)
        self._spare.close()
