"""Fixtures: a real server on a loopback port, in a thread or a process, and line clients.

The server runs in its own socket map, and its sessions re-raise any error
that is not a socket error, so a server-side exception fails the test that
caused it instead of quietly closing a connection. Every wait has a deadline.

A test asks for what it needs, and the fixtures stop and close it afterwards,
a failure included:

    chat_server, connect, login         a default server; clients past the welcome;
                                        clients logged in (login('alice', 'python'))
    web_server, web_connect             the same with a web side, browsers
    make_server(**options)              a server of the test's (limits, web=True,
                                        prepare=..., server_class=...), on its loop
    client(port), web_client(port)      clients to any port
    login_all(server, *names, room=)    a logged-in client for each name
    program(*args)                      `python -m chat ARGS` as a process

log_in(client, name, room) logs in a client already connected (one whose socket
options a test set first, say).

Which event loop: a test that runs a server (through `loop_name`, or a fixture
that uses it) runs it on the platform's default loop, LOOPS[0]. What the loop
can change is run once with each loop in LOOPS: mark the test, or a whole
module, with `every_loop`:

    pytestmark = pytest.mark.every_loop      # each test of the module, on each loop

    @pytest.mark.every_loop                  # this test, on each loop
    def test_a_reset_is_cleaned_up(loop_name): ...

The marked ones are the loop itself (test_loop), the limits, the abuse and
hardening tests, the stress tests, the platforms, and the ends of a connection
(test_channel, test_slow_readers, test_pacing): what the loop tells a channel,
and when. A test that names its own loops with parametrize('loop_name', ...)
(READY_LOOPS, say) keeps them. On the Windows-like interpreter LOOPS is
['select'], so everything runs there once.
"""

import asyncore
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
import time

import pytest
from hypothesis import settings

from chat.limits import Limits
from chat.loop import LOOPS, capacity, make_loop
from chat.server import Server
from chat.session import ChatSession
from chat.web import Request, WebServer, WebSession

TIMEOUT = 5.0
"""Seconds any one wait may take before the test fails."""

GRACE_MARGIN = 2.0
"""Seconds a shutdown may take past its grace period on a busy machine."""

WINDOWS = sys.platform == 'win32'

MiB = 1024 * 1024

STOP = signal.CTRL_BREAK_EVENT if WINDOWS else signal.SIGTERM
"""What stops a server process: Windows can send a process group Ctrl-Break, not SIGTERM."""

LINGER_RESET = struct.pack('HH' if WINDOWS else 'ii', 1, 0)
"""SO_LINGER on with a zero timeout: close() then resets the connection."""


def installed_script(name):
    """The path of a console script of this package, installed with this Python; or None."""
    # pip puts scripts in the scheme's scripts folder: bin/ beside python in a virtual
    # environment, Scripts\ under the prefix on Windows.
    return (shutil.which(name, path=sysconfig.get_path('scripts'))
            or shutil.which(name, path=os.path.dirname(sys.executable)))


def reset(sock):
    """Close sock with a reset (RST) instead of an orderly FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    sock.close()


# Speed is for the benchmarks: a slow example on a busy machine is no failure.
settings.register_profile('chat', deadline=None)
settings.load_profile('chat')


class Strict:
    """A channel that re-raises what is not a socket error, so the test that caused it fails."""

    def handle_error(self):
        if isinstance(sys.exc_info()[1], OSError):
            super().handle_error()
        else:
            raise


class StrictSession(Strict, ChatSession):
    pass


class SmallSendBuffer(StrictSession):
    """A session whose send buffer is small, as on a slow link, so that what its client
    does not read piles up in the session's queue, not in loopback's 4 MiB of kernel buffer."""

    def __init__(self, server, sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        super().__init__(server, sock)


class StrictServer(Server):
    channel_class = StrictSession

    def handle_error(self):
        raise


class StrictWebSession(Strict, WebSession):
    pass


class StrictRequest(Strict, Request):
    session_class = StrictWebSession


class StrictWebServer(WebServer):
    channel_class = StrictRequest

    def handle_error(self):
        raise


class ServerThread:
    """A server (a StrictServer unless told) on 127.0.0.1, port 0, its loop in a thread.

    Keyword arguments are its limits (`Limits`), capped at what the loop can watch. With
    web=True it has a web side too (StrictWebServer), on web_port; password and
    op_password are the class's and the operators'.
    """

    def __init__(self, server_class=StrictServer, loop=LOOPS[0], prepare=None, web=False,
                 origins=(), password=None, op_password=None, host='127.0.0.1', proxies=(),
                 **limits):
        limits = Limits(**limits).capped(capacity(loop))
        self.server = server_class(0, host, limits=limits, password=password,
                                   op_password=op_password)
        self.port = self.server.socket.getsockname()[1]
        if web:
            self.web = StrictWebServer(self.server, 0, host, origins, proxies)
            self.web_port = self.web.socket.getsockname()[1]
        self.loop = make_loop(self.server, loop)
        if prepare is not None:
            prepare(self.loop)             # before the loop runs
        self.error = None
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.loop.run()
        except BaseException as error:   # handed to the test, which fails with it
            self.error = error

    def stop(self):
        """Stop the loop and wait for its thread; again, it does nothing."""
        if self.thread.ident is None or (not self.thread.is_alive() and self.stopped):
            return
        self.stopped = True
        self.loop.stop()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), 'the server loop did not stop'
        if self.error is not None:
            raise self.error


def free_port():
    """A port of 127.0.0.1 nothing listens on now, for a program that cannot be asked for
    port 0 and tell which it took (nginx; a second chat on the same port)."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def loopback_is_a_network():
    """Whether 127.0.0.2 and the like can be used: Linux and Windows, not macOS by default."""
    try:
        with socket.socket() as probe:
            probe.bind(('127.0.0.2', 0))
        return True
    except OSError:
        return False


OTHER_LOOPBACKS = loopback_is_a_network()
"""Whether tests can connect from addresses other than 127.0.0.1."""

needs_other_loopbacks = pytest.mark.skipif(
    not OTHER_LOOPBACKS, reason='only 127.0.0.1 answers here (macOS has no 127.0.0.2 alias)')


class Client:
    """A line client on a real socket: send lines, read lines, each with a deadline."""

    _tokens = itertools.count()

    def __init__(self, port, host='127.0.0.1', source=None):
        """Connect to host:port, from the local address source if given (127.0.0.2, say)."""
        self.sock = socket.create_connection(
            (host, port), timeout=TIMEOUT, source_address=(source, 0) if source else None)
        self.buffer = b''

    def send(self, data):
        """Send bytes as they are, or a str as one line ending in CR LF."""
        if isinstance(data, str):
            data = (data + '\r\n').encode('utf-8')
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError('the server closed the connection')
        self.buffer += data

    def line(self):
        """Return the next line the server sends, without its CR LF."""
        while b'\r\n' not in self.buffer:
            self._fill()
        data, self.buffer = self.buffer.split(b'\r\n', 1)
        return data.decode('utf-8', 'replace')

    def raw(self, size):
        """Return the next size bytes, whatever they are."""
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def expect(self, text):
        """Read lines until one contains text; return every line read."""
        lines = []
        while not lines or text not in lines[-1]:
            lines.append(self.line())
        return lines

    def expect_all(self, *wanted):
        """Read lines until each of the wanted lines has come; return every line read."""
        lines, missing = [], set(wanted)
        while missing:
            lines.append(self.line())
            missing.discard(lines[-1])
        return lines

    def sync(self):
        """Return every line the server sent before it answered a probe sent now.

        The server handles a connection's lines in order, so what comes
        before the probe's reply is everything sent to this client so far.
        """
        token = '/sync-%d-' % next(self._tokens)  # the dash: /sync-1- is no prefix of /sync-10-
        self.send(token)
        lines = self.expect('Unknown command: ' + token)
        return lines[:-1]

    def ask(self, line):
        """Send a line; return the server's whole reply to it."""
        self.send(line)
        return self.sync()

    def read_to_close(self):
        """Return the lines the server sends until it closes the connection."""
        while True:
            data = self.sock.recv(65536)
            if not data:
                break
            self.buffer += data
        lines = self.buffer.decode('utf-8', 'replace').split('\r\n')
        self.buffer = b''
        assert lines[-1] == '', 'unfinished last line: %r' % lines[-1]
        return lines[:-1]

    def close(self):
        self.sock.close()


ONE_LOOP = pytest.mark.parametrize('loop_name', LOOPS[:1])
"""In a module marked every_loop, for the slow tests of what the loops do not change:
the platform's default loop only."""

READY_LOOPS = [name for name in LOOPS if name != 'select'] or [pytest.param(
    'poll', marks=pytest.mark.skip(reason='no poll() or epoll() here: only the select loop'))]
"""The loops that register each socket once, for the tests of what only they do."""


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'every_loop: run the test once with each event loop in LOOPS')


def _parametrizes_the_loop(definition):
    for marker in definition.iter_markers('parametrize'):
        names = marker.args[0]
        if isinstance(names, str):
            names = [name.strip() for name in names.split(',')]
        if 'loop_name' in names:
            return True
    return False


def pytest_generate_tests(metafunc):
    """Give a test marked every_loop each loop, unless it names its own loops."""
    if ('loop_name' in metafunc.fixturenames
            and metafunc.definition.get_closest_marker('every_loop') is not None
            and not _parametrizes_the_loop(metafunc.definition)):
        metafunc.parametrize('loop_name', LOOPS)


@pytest.fixture
def loop_name():
    """The event loop a test's server runs: the default one, or each one under every_loop."""
    return LOOPS[0]


@pytest.fixture
def make_server(loop_name):
    """Return a function that starts a ServerThread on the test's loop, stopped after the test.

    Its keyword arguments are ServerThread's: limits, web=True, prepare, server_class...
    A test may stop a server itself, to check what the shutdown does; the stop after
    the test then does nothing. A server-side error fails the test at that stop.
    """
    started = []

    def make(**options):
        options.setdefault('loop', loop_name)
        started.append(ServerThread(**options))
        return started[-1]

    yield make
    errors = []
    for running in reversed(started):
        try:
            running.stop()
        except BaseException as error:   # every server stops; the first error is raised
            errors.append(error)
    if errors:
        raise errors[0]


@pytest.fixture
def chat_server(make_server):
    return make_server()


def log_in(client, name, room=None):
    """Take a connected client past the welcome, log it in as name and into room if given.

    Returns the client, its lines all read: the next line is what comes next.
    """
    client.expect('/login')
    reply = client.ask('/login ' + name)
    assert any('Welcome, ' + name in line for line in reply), reply
    if room:
        assert room in client.ask('/' + room)[-1]
    return client


def far_behind(client, port, width=1000, count=12000):
    """Log a reader that never reads (its receive buffer small) and a talker into python;
    the talker says count lines of width bytes, more than the kernel holds for the reader.

    Returns (the reader, the talker), once the server has handled every line: the rest
    of the talk waits in the server's queue for the reader.
    """
    reader, talker = client(port), client(port)
    reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    log_in(reader, 'sluggard', 'python')
    log_in(talker, 'talker', 'python')
    talker.send(('x' * width + '\r\n') * count)
    talker.sync()
    return reader, talker


@pytest.fixture
def login_all(client):
    """Return a function that logs a new client in to a server (or port) for each name.

    login_all(server, 'alice', 'bob', room='python') returns [alice, bob], each in
    room if given, connected one after the other and closed after the test.
    """

    def login_all(server, *names, room=None, source=None):
        port = getattr(server, 'port', server)
        return [log_in(client(port, source=source), name, room) for name in names]

    return login_all


def _connections(client_class, port):
    """The body of connect and web_connect: open clients of a class to a port."""
    clients = []

    def connect(welcome=True, **options):
        client = client_class(port, **options)
        clients.append(client)
        if welcome:
            client.expect('/login')
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def connect(chat_server):
    """Return a function that opens a client to the test server, past its welcome."""
    yield from _connections(Client, chat_server.port)


@pytest.fixture
def login(connect):
    """Return a function that gives a client logged in as name, in room if given."""

    def login(name, room=None):
        client = connect()
        client.send('/login ' + name)
        client.expect('Welcome, ' + name)
        client.sync()                  # the hall's help
        if room:
            assert room in client.ask('/' + room)[-1]
        return client

    return login


class Program:
    """`python -m chat ARGS` as a process, its standard error collected as it comes."""

    def __init__(self, *args, loop=LOOPS[0], preexec_fn=None, env=None):
        # Windows sends Ctrl-Break only to a process group: the server gets its own.
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'chat', '--loop', loop, *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=preexec_fn, env=env,
            creationflags=subprocess.CREATE_NEW_PROCESS_GROUP if WINDOWS else 0)
        self.log = []
        self._changed = threading.Condition()
        # A thread drains the log, so a busy server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self):
        for data in self.process.stderr:
            with self._changed:
                self.log.append(data.decode('utf-8', 'replace'))
                self._changed.notify_all()
        with self._changed:
            self.log.append(None)      # the end of the log
            self._changed.notify_all()

    def expect(self, pattern, timeout=TIMEOUT):
        """Wait for a log line matching pattern; return the match."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.log[seen:]:
                    assert line is not None, 'the program exited without logging %r: %r' % (
                        pattern, self.log)
                    match = re.search(pattern, line)
                    if match:
                        return match
                seen = len(self.log)
                left = deadline - time.monotonic()
                assert left > 0, 'no log line matched %r: %r' % (pattern, self.log)
                self._changed.wait(left)

    def port(self):
        """Wait for the listening line; return the port it names."""
        return int(self.expect(r'listening on \S+:(\d+)').group(1))

    def memory(self, field='VmRSS'):
        """Return the process's resident memory (or its peak, with 'VmHWM') in bytes.

        None where there is no /proc to read it from (macOS, Windows): the
        tests that measure memory then check everything else.
        """
        if not os.path.exists('/proc/self/status'):
            return None
        with open('/proc/%d/status' % self.process.pid) as status:
            for line in status:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
        raise LookupError(field)

    def cpu_seconds(self):
        """The CPU time the process has used (user and system), from /proc; None without."""
        try:
            with open('/proc/%d/stat' % self.process.pid) as stat:
                fields = stat.read().rsplit(')', 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def stop(self):
        """Ask the server to shut down, as SIGTERM (Ctrl-Break on Windows) does."""
        self.process.send_signal(STOP)

    def finish(self):
        """Wait for the program to exit; return (exit code, everything it logged)."""
        self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        return self.process.returncode, ''.join(line for line in self.log if line)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        self.process.stderr.close()


@pytest.fixture
def program(loop_name):
    """Return a function that starts `python -m chat ARGS`, killed after the test."""
    started = []

    def start(*args, **options):
        started.append(Program(*args, loop=loop_name, **options))
        return started[-1]

    yield start
    for each in started:
        each.kill()


def _opened(client_class):
    """The body of client and web_client: open clients of a class, closed after the test."""
    opened = []

    def open_client(port, host='127.0.0.1', source=None, **options):
        opened.append(client_class(port, host, source, **options))
        return opened[-1]

    yield open_client
    for each in opened:
        each.close()


@pytest.fixture
def client():
    """Return a function that opens a Client to a port, closed after the test."""
    yield from _opened(Client)


@pytest.fixture
def web_client():
    """Return a function that opens a WebClient to a web port, closed after the test.

    Its keyword arguments are WebClient's: origin, upgrade.
    """
    yield from _opened(WebClient)


def mask(data, key):
    """Mask (or unmask) data with a 4-byte key, as RFC 6455 (5.3) says, byte by byte."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(data))


def client_frame(payload, opcode=0x1, fin=True, key=b'\x01\x02\x03\x04', masked=True, rsv=0):
    """One frame as a browser sends it: masked, with the shortest length that fits."""
    size = len(payload)
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    bit = 0x80 if masked else 0
    if size < 126:
        header = struct.pack('!BB', first, bit | size)
    elif size < 1 << 16:
        header = struct.pack('!BBH', first, bit | 126, size)
    else:
        header = struct.pack('!BBQ', first, bit | 127, size)
    return header + (key + mask(payload, key) if masked else payload)


UPGRADE = ('GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n'
           'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
           'Sec-WebSocket-Version: 13\r\n{extra}\r\n')
"""A browser's upgrade request; its key is the RFC's own example (4.2.2)."""


class WebClient(Client):
    """A WebSocket client on a real socket, with Client's line methods: what a browser does.

    Every line it sends is one text message; what it reads is the text of the
    server's messages, split into lines as Client splits a telnet stream.
    Control frames are kept aside: pongs in `pongs`, a close's code in `close_code`.
    """

    protocols = None
    """The subprotocols its upgrade offers (Sec-WebSocket-Protocol), if any."""

    def __init__(self, port, host='127.0.0.1', source=None, origin=None, upgrade=True,
                 extra=''):
        super().__init__(port, host, source)
        self.pongs = []
        self.close_code = None
        self.raw_buffer = b''
        self.head_text = None
        if upgrade:
            extra += 'Origin: %s\r\n' % origin if origin else ''
            if self.protocols:
                extra += 'Sec-WebSocket-Protocol: %s\r\n' % self.protocols
            self.sock.sendall(UPGRADE.format(host='%s:%d' % (host, port),
                                             extra=extra).encode())
            self.head_text = head = self.head()
            assert head.startswith('HTTP/1.1 101'), head
            assert 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=' in head

    def head(self):
        """Read an HTTP response head; return it as text."""
        while b'\r\n\r\n' not in self.raw_buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError('the server closed the connection')
            self.raw_buffer += data
        head, self.raw_buffer = self.raw_buffer.split(b'\r\n\r\n', 1)
        return head.decode('latin-1')

    def send(self, data):
        """Send bytes as they are, or a str as one text message."""
        if isinstance(data, str):
            data = client_frame(data.encode('utf-8'))
        self.sock.sendall(data)

    def frame(self):
        """Read one frame of the server's; return (opcode, payload)."""
        while True:
            if len(self.raw_buffer) >= 2:
                first, second = self.raw_buffer[0], self.raw_buffer[1]
                assert not second & 0x80, 'a server frame must not be masked'
                size, start = second & 0x7F, 2
                if size == 126 and len(self.raw_buffer) >= 4:
                    size, start = struct.unpack('!H', self.raw_buffer[2:4])[0], 4
                elif size == 127 and len(self.raw_buffer) >= 10:
                    size, start = struct.unpack('!Q', self.raw_buffer[2:10])[0], 10
                if size < 126 or start > 2:
                    if len(self.raw_buffer) >= start + size:
                        payload = self.raw_buffer[start:start + size]
                        self.raw_buffer = self.raw_buffer[start + size:]
                        assert first & 0x80, 'the server sends whole messages'
                        return first & 0x0F, payload
            data = self.sock.recv(65536)
            if not data:
                raise EOFError('the server closed the connection')
            self.raw_buffer += data

    def _fill(self):
        while True:
            opcode, payload = self.frame()
            if opcode == 0x1:
                self.buffer += payload
                return
            if opcode == 0xA:
                self.pongs.append(payload)
            elif opcode == 0x8:
                self.close_code = struct.unpack('!H', payload[:2])[0] if payload else None
                raise EOFError('the server closed the session: %s' % self.close_code)

    def read_to_close(self):
        """Return the lines the server sends until its close frame."""
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        lines = self.buffer.decode('utf-8', 'replace').split('\r\n')
        self.buffer = b''
        assert lines[-1] == '', 'unfinished last line: %r' % lines[-1]
        return lines[:-1]


class EventClient(WebClient):
    """A WebSocket client that reads events (chat.events), as the page does: every message
    one JSON object. `event()` returns the next; `line()` the next object's text, so that
    Client's helpers (expect, ask, sync) read the lines a telnet user would read."""

    protocols = 'chat.events'

    def __init__(self, *args, **kwargs):
        self.held = []                 # objects without text that line() passed over
        super().__init__(*args, **kwargs)

    def event(self):
        """Return the next object the server sends (a close raises EOFError)."""
        if self.held:
            return self.held.pop(0)
        while True:
            opcode, payload = self.frame()
            if opcode == 0x1:
                return json.loads(payload.decode('utf-8'))
            if opcode == 0xA:
                self.pongs.append(payload)
            elif opcode == 0x8:
                self.close_code = struct.unpack('!H', payload[:2])[0] if payload else None
                raise EOFError('the server closed the session: %s' % self.close_code)

    def next_of(self, kind, **fields):
        """Read objects until one of type kind whose fields match; return it."""
        while True:
            event = self.event()
            if event['type'] == kind and all(event.get(key) == value
                                             for key, value in fields.items()):
                return event

    def line(self):
        """The text of the next object that has one (what a telnet user reads); the objects
        before it that have none are held for event()."""
        held, self.held = self.held, []
        try:
            while True:
                event = self.event()
                if 'text' in event:
                    return event['text']
                held.append(event)
        finally:
            self.held = held + self.held


@pytest.fixture
def web_server(make_server):
    return make_server(web=True)


@pytest.fixture
def web_connect(web_server):
    """Return a function that opens a WebSocket client to the test server, past its welcome."""
    yield from _connections(WebClient, web_server.web_port)


class Clock:
    """A clock a test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def stepped():
    """A server on a clock of the test's, its loop turned by hand; and a client factory."""
    clock = Clock()
    servers = []

    def start(op_password=None, **limits):
        server = StrictServer(0, '127.0.0.1', limits=Limits(**limits).capped(
            capacity(LOOPS[0])), clock=clock, op_password=op_password)
        loop = make_loop(server, LOOPS[0])
        servers.append(server)
        return server, loop, clock

    yield start
    for server in servers:
        asyncore.close_all(server.map)


def turn(loop, client, text):
    """Turn the loop until client has received a line carrying text; return that line."""
    client.sock.setblocking(False)
    for _ in range(1000):
        loop.run_once(0)
        try:
            client._fill()
        except BlockingIOError:
            continue
        while b'\r\n' in client.buffer:
            line = client.line()
            if text in line:
                return line
    raise AssertionError('no line carrying %r' % text)


def count_rounds(loop):
    """ServerThread's prepare: count the loop's rounds in loop.rounds."""
    loop.rounds = 0
    poll = loop.poll

    def counted(timeout):
        loop.rounds += 1
        poll(timeout)

    loop.poll = counted


def rounds_in(running, seconds):
    """How many rounds the loop ran in seconds: an idle loop waits, a spinning one runs."""
    before = running.loop.rounds
    time.sleep(seconds)
    return running.loop.rounds - before


def chat_pair(port, client):
    """Two logged-in clients in the room python: (alice, bob)."""
    alice, bob = (log_in(client(port), name, 'python') for name in ('alice', 'bob'))
    alice.sync()
    return alice, bob


def read_to_end(sock):
    """Everything sock receives until the other side ends its output."""
    data = b''
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
