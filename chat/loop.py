"""The event loops that run a server's socket map, and their clean stop.

The design runs `asyncore.loop()`. At every round that loop asks every
dispatcher `readable()` and `writable()` and hands select() new lists, so a
round costs as much as there are connections, however few are doing
anything: with 5000 idle users, every line waits behind 10,000 questions. This
module offers that loop and a faster one over the same map and dispatchers:

- "select": the round of `asyncore.loop()` (`asyncore.poll`): the design's
  loop, and the only one on Windows, which has no poll(). select() watches
  no descriptor above 1023 (on Windows, CPython's select() takes no more than
  512 sockets), so a server run by this loop takes at most SELECT_LIMIT
  connections (`capacity`).
- "epoll" (Linux) and "poll" (Linux, macOS): each socket is registered once;
  a dispatcher is asked readable()/writable() again only after something
  happened to it (an event, output queued for it, being added), so a round
  costs as much as there are active connections. Events are dispatched by
  asyncore's `readwrite`, so handlers see what asyncore would give them.

Every loop, between rounds, lets the server's schedule act on its deadlines
(`Schedule.tick`, chat/schedule.py) and, at the end of each round, sends what
sessions queued during it, one send() per session (`flush`): a burst of lines
costs one system call per reader.

Where the platforms differ, in one line each:
- Windows: no poll(), so "select" is the default; select() there is not
  interrupted by Ctrl-C, so the select loop waits at most SIGNAL_CHECK.
- macOS: poll() reports a client's half-close as POLLHUP with POLLIN, so
  PollLoop.poll has asyncore read before it believes the hang-up.
"""

import asyncore
import select
import socket
import sys

LONGEST_WAIT = 30.0
"""Seconds a round waits for events at most; stop() and the server's deadlines wake it
sooner."""

GRACE = 2.0
"""Seconds allowed, at shutdown, to send what sessions have queued."""

SIGNAL_CHECK = 1.0
"""Longest wait of the select loop: Ctrl-C does not end a select() wait on Windows."""

SELECT_LIMIT = 500 if sys.platform == 'win32' else 1000
"""Connections the select loop takes: CPython's select() watches at most 512 sockets on
Windows (its FD_SETSIZE there), and no descriptor above 1023 elsewhere; the server keeps
a few for itself."""

LOOPS = [name for name in ('epoll', 'poll') if hasattr(select, name)] + ['select']
"""The loops this platform has, fastest first; the first is the default."""


HANG_UP = getattr(select, 'POLLRDHUP', 0)
"""Linux: the peer has ended its input. Reported even for a socket the loop does not read,
so a paused channel, its lines waiting, learns that its client has gone
(Channel.handle_hang_up)."""

READING = getattr(select, 'POLLIN', 0) | getattr(select, 'POLLPRI', 0)
"""What a poll loop watches a readable dispatcher for (where poll() exists: not Windows)."""


class SocketMap(dict):
    """asyncore's socket map (file descriptor -> dispatcher), telling a watcher of changes.

    asyncore adds a dispatcher with `map[fd] = dispatcher` and removes it with
    `del map[fd]`, so a loop that watches the map learns of each at once,
    without looking at the whole map.
    """

    watcher = None

    def __setitem__(self, fd, dispatcher):
        dict.__setitem__(self, fd, dispatcher)
        if self.watcher is not None:
            self.watcher.added(fd, dispatcher)

    def __delitem__(self, fd):
        dict.__delitem__(self, fd)
        if self.watcher is not None:
            self.watcher.removed(fd)


class Waker(asyncore.dispatcher):
    """One end of a socket pair in the map: a byte sent to the other ends a wait at once."""

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


class SelectLoop:
    """asyncore.loop(), the design's loop over select(), with deadlines, flushing, a clean stop."""

    name = 'select'

    def __init__(self, server):
        self.server = server
        self.schedule = server.schedule
        self.map = server.map
        self._stopping = False
        self._waker = Waker(self.map)
        most = capacity(self.name)
        if most is not None and server.limits.max_clients > most:
            # The limits are made before the server: Limits.capped(capacity(name)).
            raise ValueError('the %s loop watches at most %d connections' % (self.name, most))

    def run(self):
        """Run until stop(); then shut the server down, flushing for at most GRACE seconds."""
        try:
            while not self._stopping:
                self.run_once(LONGEST_WAIT)
            self.server.shutdown()
            deadline = self.schedule.clock() + GRACE
            while True:
                timeout = self._prepare(deadline - self.schedule.clock())
                if not self.server.sessions or timeout <= 0:
                    break
                self.poll(timeout)
            for session in list(self.server.sessions):
                session.stop_lingering(GRACE)
            self.schedule.tick(self.schedule.clock())
        finally:
            asyncore.close_all(self.map)

    def stop(self):
        """End run(): safe from a signal handler or another thread."""
        self._stopping = True
        self._waker.wake()

    def run_once(self, longest):
        """One round: act on deadlines, send what is queued, wait up to longest seconds
        for events and handle them."""
        self.poll(self._prepare(longest))

    def _prepare(self, longest):
        """Act on the schedule's deadlines and send what is queued; return how long to wait."""
        now = self.schedule.clock()
        due = self.schedule.tick(now)
        self.flush()
        return max(0, longest if due is None else min(longest, due - now))

    def poll(self, timeout):
        """One round of asyncore.loop(): ask every dispatcher, wait, dispatch.

        As asyncore.poll does it, with two changes: the wait is at most
        SIGNAL_CHECK, and only sockets being read are asked for urgent data
        (asyncore asks writable ones too, and a session that has stopped
        reading, with urgent data unread, would make select() return at once,
        round after round).
        """
        readers, writers = [], []
        for fd, dispatcher in list(self.map.items()):
            if dispatcher.readable():
                readers.append(fd)
            if dispatcher.writable() and not dispatcher.accepting:
                writers.append(fd)
        readable, writable, urgent = select.select(
            readers, writers, readers, min(timeout, SIGNAL_CHECK))
        for fds, handle in ((readable, asyncore.read), (writable, asyncore.write),
                            (urgent, _urgent)):
            for fd in fds:
                dispatcher = self.map.get(fd)
                if dispatcher is not None:
                    handle(dispatcher)

    def flush(self):
        """Send what each session queued this round; return those sessions."""
        to_flush, flushed = self.schedule.to_flush, []
        while to_flush:                # a session closed here may queue notices for others
            session = to_flush.pop()
            if not session.closed:
                # asyncore.write(session), without the two calls it makes on the way.
                _call(session.handle_write, session)
            flushed.append(session)
        return flushed


def _call(handler, dispatcher):
    """Call one of dispatcher's handlers as asyncore does: an error goes to handle_error."""
    try:
        handler()
    except (asyncore.ExitNow, KeyboardInterrupt, SystemExit):
        raise
    except Exception:
        dispatcher.handle_error()


def _urgent(dispatcher):
    """asyncore's handling of select()'s third list: handle_expt_event, errors handled."""
    _call(dispatcher.handle_expt_event, dispatcher)


class PollLoop(SelectLoop):
    """A loop over epoll or poll that asks only the dispatchers something happened to."""

    def __init__(self, server, name):
        self.name = name
        super().__init__(server)
        # epoll's event bits are poll's on Linux, so asyncore.readwrite reads both.
        if name == 'epoll':
            self._poller = select.epoll()
            self._wait = self._poller.poll                    # seconds
        else:
            self._poller = select.poll()
            self._wait = lambda timeout: self._poller.poll(timeout * 1000)
        self._flags = {}               # fd -> the events registered for it
        self._touched = set()          # dispatchers to ask readable()/writable() again
        self._gone = set()             # fds removed since the last wait
        self.map.watcher = self
        for fd, dispatcher in self.map.items():
            self.added(fd, dispatcher)

    def added(self, fd, dispatcher):
        # Registered for no event yet: the dispatcher may still be in its __init__.
        self._poller.register(fd, 0)
        self._flags[fd] = 0
        self._touched.add(dispatcher)

    def removed(self, fd):
        self._flags.pop(fd, None)
        self._gone.add(fd)
        try:
            self._poller.unregister(fd)
        except (KeyError, OSError):
            pass                       # already closed: the kernel has forgotten it

    def poll(self, timeout):
        self._gone.clear()
        events = self._wait(timeout)
        for fd, flags in events:
            # A socket closed in this round may have left its fd to a new one:
            # this event was not for that one.
            if fd in self._gone:
                continue
            dispatcher = self.map.get(fd)
            if dispatcher is None:
                continue
            if flags == select.POLLIN and dispatcher.connected:
                # A session's input, the common event: asyncore.readwrite(dispatcher,
                # flags), without the two calls it makes on the way to handle_read.
                _call(dispatcher.handle_read, dispatcher)
            elif flags & HANG_UP and getattr(dispatcher, 'paused', False):
                _call(dispatcher.handle_hang_up, dispatcher)
            else:
                if flags & select.POLLIN:
                    # macOS's poll() reports a client's half-close (`printf ... | nc`) as
                    # POLLHUP with POLLIN, and asyncore would close before the replies
                    # went out: the read finds the end of input itself, and the session
                    # ends as after any EOF.
                    flags &= ~select.POLLHUP
                asyncore.readwrite(dispatcher, flags)
            self._touched.add(dispatcher)

    def flush(self):
        flushed = super().flush()
        self._touched.update(flushed)
        self._update_interest()
        return flushed

    def _update_interest(self):
        """Ask the touched dispatchers what they wait for; tell the poller what changed."""
        for dispatcher in self._touched:
            fd = dispatcher._fileno
            if fd is None or self.map.get(fd) is not dispatcher:
                continue               # closed since
            flags = 0
            if dispatcher.readable():
                flags = READING
            elif getattr(dispatcher, 'paused', False):
                flags = HANG_UP        # not reading, but told if the client goes
            if dispatcher.writable() and not dispatcher.accepting:
                flags |= select.POLLOUT
            if flags != self._flags[fd]:
                self._poller.modify(fd, flags)
                self._flags[fd] = flags
        self._touched.clear()

    def run(self):
        try:
            super().run()
        finally:
            self.map.watcher = None
            if self.name == 'epoll':
                self._poller.close()   # an epoll object holds a descriptor; poll's does not


def capacity(name):
    """Connections the loop called name can watch, or None for as many as the system allows."""
    return SELECT_LIMIT if name == 'select' else None


def make_loop(server, name=LOOPS[0]):
    """Return the loop called name (one of LOOPS) over server's map."""
    if name == 'select':
        return SelectLoop(server)
    return PollLoop(server, name)
