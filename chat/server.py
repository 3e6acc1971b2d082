"""`Server`: the design's listening asyncore.dispatcher, and the state users share.

The server listens, makes a ChatSession for each connection it accepts, and
owns what sessions share: `users` (every logged-in user's session, by
nickname), the hall and the three chat rooms. Everything lives in one socket
map, passed explicitly, so two servers can run in one process.
"""

import asyncore
import errno
import logging
import os
import socket
import sys

from .rooms import ChatRoom, Hall
from .session import ChatSession, encode, format_address
from .telnet import MAX_LINE

log = logging.getLogger('chat')

BACKLOG = socket.SOMAXCONN
"""Connections the kernel may hold for accept(); the design's 5 drops a burst."""


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

    def __init__(self, port, host, map=None, max_line=MAX_LINE):
        self.map = {} if map is None else map
        self._spare = open(os.devnull, 'rb')   # a descriptor kept for refuse_without_descriptors
        asyncore.dispatcher.__init__(self, map=self.map)
        self.max_line = max_line
        family, address = resolve(host, port)
        self.create_socket(family, socket.SOCK_STREAM)
        try:
            self.set_reuse_addr()
            self.bind(address)
            self.listen(BACKLOG)
        except OSError:
            self.close()
            raise
        self.users = {}                # nickname.casefold() -> session
        self.hall = Hall(self, 'Hall')
        self.python = ChatRoom(self, 'python')
        self.write = ChatRoom(self, 'write')
        self.pm = ChatRoom(self, 'pm')

    @property
    def address(self):
        """The address listened on, as 'HOST:PORT' with the real port."""
        return format_address(self.socket.getsockname())

    def handle_accept(self):
        try:
            pair = self.accept()
        except OSError as error:
            if error.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            self.refuse_without_descriptors()
            return
        if pair is None:               # the client left before it was accepted
            return
        conn, addr = pair
        self.channel_class(self, conn)

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

    def close(self):
        asyncore.dispatcher.close(self)
        self._spare.close()

    def handle_error(self):
        """Log the error; the server goes on listening (asyncore's default would close it)."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.warning('cannot accept a connection: %s', error)
        else:
            log.exception('error accepting a connection')

    def sessions(self):
        """Return every open session."""
        return [obj for obj in self.map.values() if isinstance(obj, ChatSession)]

    def shutdown(self):
        """Stop listening; tell every session, and close each once its output is sent."""
        self.close()
        for session in self.sessions():
            session.push('The server is shutting down. Goodbye!')
            session.close_when_done()
