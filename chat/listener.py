"""`Listener`: a listening socket in the loop, as both of the server's ports have one.

The design's server is an asyncore.dispatcher that listens and accepts. On a
real network accepting needs a little more, the same for the telnet port
(`Server`, chat/server.py) and the web port (`WebServer`, chat/web.py):

1. Listen where asked: `localhost` is the design's 127.0.0.1, and a port in
   use is refused on Windows too (SO_EXCLUSIVEADDRUSE there).
2. Accept in batches: a storm of connections is taken ACCEPTS at a time,
   so the loop still serves the others between batches.
3. Out of file descriptors, keep one spare to accept and refuse the
   newcomer with, or the waiting connection keeps the socket readable and
   the loop spins on a failing accept().
4. An error never stops the listening: it is logged, and the port goes on.

A subclass says what becomes of each connection (`handle_accepted`, as
asyncore names it) and how one is refused when no descriptor is left.
"""

import asyncore
import errno
import logging
import os
import socket
import sys

from .channel import format_address

log = logging.getLogger('chat')

BACKLOG = socket.SOMAXCONN
"""Connections the kernel may hold for accept(); the design's 5 drops a burst."""

ACCEPTS = 64
"""Connections accepted per readable event at most, so a storm is taken in batches."""

OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, getattr(errno, 'WSAEMFILE', errno.EMFILE)}
"""accept()'s errors when no descriptor is left (Winsock's own number on Windows)."""


def resolve(host, port):
    """Return (family, address) to listen on for host and port."""
    if host == 'localhost':
        host = '127.0.0.1'             # the design's address, whatever the resolver prefers
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return family, address


class Listener(asyncore.dispatcher):
    """Listen on host and port in map; accept connections in batches, and hand each on."""

    def __init__(self, host, port, map):
        self._spare = open(os.devnull, 'rb')   # a descriptor kept for _accept_with_spare
        asyncore.dispatcher.__init__(self, map=map)
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
                self._accept_with_spare()
                return
            if pair is None:           # none waiting, or one that left before it was accepted
                return
            self.handle_accepted(*pair)

    def _accept_with_spare(self):
        """Out of file descriptors: free the spare one to accept and refuse a newcomer."""
        self._spare.close()
        try:
            pair = self.accept()
            if pair is not None:
                self.handle_out_of_descriptors(*pair)
        finally:
            self._spare = open(os.devnull, 'rb')

    def handle_out_of_descriptors(self, sock, addr):
        """Refuse a connection accepted with the spare descriptor (a subclass says how)."""
        sock.close()

    def handle_error(self):
        """Log the error; the port goes on listening (asyncore's default would close it)."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.warning('cannot accept a connection: %s', error)
        else:
            log.exception('error accepting a connection')

    def close(self):
        asyncore.dispatcher.close(self)
        self._spare.close()
