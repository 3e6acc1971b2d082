"""The loops: run the server's map, stop at once when told, flush for a bounded time at
shutdown."""

import asyncore
import socket
import time

import pytest
from conftest import GRACE_MARGIN, READY_LOOPS, TIMEOUT, far_behind

from chat.limits import Limits
from chat.loop import GRACE, capacity, make_loop
from chat.server import Server

# The loops themselves: every test here runs on each one.
pytestmark = pytest.mark.every_loop


def test_stop_ends_the_loop_at_once_although_it_waits_long_in_poll(make_server):
    running = make_server()
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 1.0        # LONGEST_WAIT is 30 s: the waker ended the poll


def test_shutdown_tells_every_session_and_closes_it(make_server, client):
    running = make_server()
    clients = [client(running.port) for _ in range(3)]
    for each in clients:
        each.expect('/login')
    running.stop()
    for each in clients:
        assert 'shutting down' in each.read_to_close()[-1]
    assert running.server.map == {}


def test_shutdown_waits_no_longer_than_its_grace_for_a_client_that_never_reads(make_server,
                                                                             client):
    running = make_server(max_queue=64 * 1024 * 1024, line_rate=0)  # never cut
    # More than the socket buffers hold, queued for a client that never reads.
    far_behind(client, running.port, width=200, count=40000)
    started = time.monotonic()
    running.stop()
    elapsed = time.monotonic() - started
    assert GRACE - 0.5 < elapsed < GRACE + GRACE_MARGIN


# ---- the dispatcher events the design relies on, under each loop

class Recorder(asyncore.dispatcher):
    """A dispatcher that writes down each event it gets."""

    def __init__(self, sock, server, events, name, wants_write=False):
        asyncore.dispatcher.__init__(self, sock, map=server.map)
        self.events, self.name, self.wants_write = events, name, wants_write

    def record(self, event):
        assert self.socket is not None and self._fileno is not None, (
            '%s got %s after it was closed' % (self.name, event))
        self.events.append((self.name, event))

    def handle_accepted(self, conn, addr):
        self.record('accept')
        conn.close()

    def handle_read(self):
        data = self.recv(100)
        if data:
            self.record('read')

    def writable(self):
        return self.wants_write

    def handle_write(self):
        self.record('write')
        self.wants_write = False

    def handle_expt(self):
        self.record('expt')
        self.socket.recv(1, socket.MSG_OOB)

    def handle_close(self):
        self.record('close')
        self.close()


def tcp_pair():
    """A connected pair of TCP sockets on loopback: (ours, theirs)."""
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        theirs = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    return ours, theirs


@pytest.fixture
def bare_loop(loop_name):
    """A loop over a server's map, stepped by hand; the server only provides the map."""
    server = Server(0, '127.0.0.1', limits=Limits().capped(capacity(loop_name)))
    loop = make_loop(server, loop_name)
    yield loop
    asyncore.close_all(server.map)


def run_until(loop, events, count):
    deadline = time.monotonic() + TIMEOUT
    while len(events) < count:
        assert time.monotonic() < deadline, 'only these events came: %r' % events
        loop.run_once(0.1)


def test_accept_read_write_close_and_expt_events_all_fire(bare_loop):
    events = []
    listener = Recorder(socket.socket(), bare_loop.server, events, 'listener')
    listener.bind(('127.0.0.1', 0))
    listener.listen(5)
    client = socket.create_connection(listener.socket.getsockname())
    run_until(bare_loop, events, 1)
    ours, theirs = tcp_pair()
    Recorder(ours, bare_loop.server, events, 'pair', wants_write=True)
    run_until(bare_loop, events, 2)
    theirs.send(b'x')
    run_until(bare_loop, events, 3)
    theirs.send(b'!', socket.MSG_OOB)
    run_until(bare_loop, events, 4)
    theirs.close()
    run_until(bare_loop, events, 5)
    assert events == [('listener', 'accept'), ('pair', 'write'), ('pair', 'read'),
                      ('pair', 'expt'), ('pair', 'close')]
    client.close()


class Closer(Recorder):
    """On reading, closes its victim, and makes a new dispatcher that may take its fd."""

    victim = None

    def handle_read(self):
        Recorder.handle_read(self)
        fd = self.victim._fileno
        self.victim.close()
        # Take descriptors until one is the victim's (lower free ones come first).
        self.spares = []
        while len(self.spares) < 64:
            self.spares.extend(socket.socketpair())
            if fd in (self.spares[-1].fileno(), self.spares[-2].fileno()):
                break
        mine = [sock for sock in self.spares if sock.fileno() == fd]
        if mine:
            self.spares.remove(mine[0])
        self.newcomer = Recorder(mine[0] if mine else socket.socketpair()[0],
                                 self.server, self.events, 'newcomer')
        self.reused = self.newcomer._fileno == fd


# Not the design's select loop: asyncore.poll hands a closed dispatcher's event to
# whichever dispatcher now has the fd. docs/performance.md tells why it is kept as it is.
@pytest.mark.parametrize('loop_name', READY_LOOPS)
def test_closing_another_dispatcher_in_a_handler_is_safe_and_its_fd_goes_to_the_right_one(
        bare_loop, loop_name):
    events = []
    first_ours, first_theirs = tcp_pair()
    second_ours, second_theirs = tcp_pair()
    closer = Closer(first_ours, bare_loop.server, events, 'closer')
    closer.server = bare_loop.server
    closer.victim = Recorder(second_ours, bare_loop.server, events, 'victim')
    bare_loop.run_once(0)              # both registered, waiting to read
    first_theirs.send(b'a')            # the closer is ready first, its victim next
    second_theirs.send(b'b')           # on loopback, both are readable once send returns
    bare_loop.run_once(0.5)
    assert events == [('closer', 'read')]
    assert closer.reused               # the newcomer has the victim's fd: the event was not its
    bare_loop.run_once(0)
    assert events == [('closer', 'read')]
    for sock in [first_theirs, second_theirs] + closer.spares:
        sock.close()
