"""The event loop: asyncore's, over one explicit socket map, with a clean stop.

`Loop(server).run()` is the design's `asyncore.loop()`, with poll() and the
server's own map. `stop()`, safe from a signal handler or another thread,
ends it: the server tells every session it is shutting down, and the loop
runs on for at most GRACE seconds to send what is queued.
"""

import asyncore
import socket
import time

TICK = 30.0
"""Longest wait in poll(); stop() wakes the loop at once whatever this is."""

GRACE = 2.0
"""Seconds allowed, at shutdown, to send what sessions have queued."""


class Waker(asyncore.dispatcher):
    """One end of a socket pair in the map: a byte sent to the other ends a poll() at once."""

    def __init__(self, map):
        reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        asyncore.dispatcher.__init__(self, reader, map=map)

    def wake(self):
        try:
            self._writer.send(b'\0')
        except OSError:
            pass                       # full (one wake-up is enough) or closed (the loop ended)

    def handle_read(self):
        self.recv(4096)

    def writable(self):
        return False

    def close(self):
        asyncore.dispatcher.close(self)
        self._writer.close()


class Loop:
    """Run a server's socket map until stop() is called."""

    def __init__(self, server):
        self.server = server
        self.map = server.map
        self._stopping = False
        self._waker = Waker(self.map)

    def run(self):
        try:
            while not self._stopping:
                self._step(TICK)
            self.server.shutdown()
            deadline = time.monotonic() + GRACE
            while self.server.sessions and time.monotonic() < deadline:
                self._step(deadline - time.monotonic())
        finally:
            asyncore.close_all(self.map)

    def _step(self, longest):
        """Let the server act on its deadlines, then wait for and handle one round of events."""
        now = time.monotonic()
        due = self.server.tick(now)
        timeout = longest if due is None else min(longest, due - now)
        asyncore.loop(max(timeout, 0), use_poll=True, map=self.map, count=1)

    def stop(self):
        """End run(): safe from a signal handler or another thread."""
        self._stopping = True
        self._waker.wake()
