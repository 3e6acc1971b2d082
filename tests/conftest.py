"""Fixtures: a real server on a loopback port in a thread, and line clients.

The server runs in its own socket map, and its sessions re-raise any error
that is not a socket error, so a server-side exception fails the test that
caused it instead of quietly closing a connection. Every wait has a deadline.
"""

import itertools
import socket
import sys
import threading

import pytest
from hypothesis import settings

from chat.loop import Loop
from chat.server import Server
from chat.session import ChatSession

TIMEOUT = 5.0
GRACE_MARGIN = 2.0
"""Seconds a shutdown may take past its grace period on a busy machine."""
"""Seconds any one wait may take before the test fails."""

# Speed is for the benchmarks: a slow example on a busy machine is no failure.
settings.register_profile('chat', deadline=None)
settings.load_profile('chat')


class StrictSession(ChatSession):
    def handle_error(self):
        if isinstance(sys.exc_info()[1], OSError):
            super().handle_error()
        else:
            raise


class StrictServer(Server):
    channel_class = StrictSession

    def handle_error(self):
        raise


class ServerThread:
    """A server (a StrictServer unless told) on 127.0.0.1, port 0, its loop in a thread."""

    def __init__(self, server_class=StrictServer, **options):
        self.server = server_class(0, '127.0.0.1', map={}, **options)
        self.port = self.server.socket.getsockname()[1]
        self.loop = Loop(self.server)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.loop.run()
        except BaseException as error:   # handed to the test, which fails with it
            self.error = error

    def stop(self):
        self.loop.stop()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), 'the server loop did not stop'
        if self.error is not None:
            raise self.error


class Client:
    """A line client on a real socket: send lines, read lines, each with a deadline."""

    _tokens = itertools.count()

    def __init__(self, port, host='127.0.0.1'):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
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


@pytest.fixture
def chat_server():
    running = ServerThread()
    yield running
    running.stop()


@pytest.fixture
def connect(chat_server):
    """Return a function that opens a client to the test server, past its welcome."""
    clients = []

    def connect(welcome=True):
        client = Client(chat_server.port)
        clients.append(client)
        if welcome:
            client.expect('/login')
        return client

    yield connect
    for client in clients:
        client.close()


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
