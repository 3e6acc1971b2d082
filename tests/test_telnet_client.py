"""A real telnet client, driven through a pseudo-terminal, chatting with a socket client.

The test needs the `telnet` program; .ci/run installs it. Where it is missing
the test is skipped, unless CHAT_REQUIRE_TELNET=1 (as CI sets) makes that a failure.
"""

import os
import select
import shutil
import signal
import subprocess
import time

import pytest
from conftest import TIMEOUT

TELNET = shutil.which('telnet')

try:
    import pty                         # to drive telnet as a terminal: POSIX only
except ImportError:
    pty = None

if pty is None:
    pytestmark = pytest.mark.skip(reason='no pseudo-terminals here (Windows) to drive telnet')
elif TELNET is None:
    if os.environ.get('CHAT_REQUIRE_TELNET') == '1':
        raise RuntimeError('CHAT_REQUIRE_TELNET=1 but no telnet program is on PATH')
    pytestmark = pytest.mark.skip(
        reason='no telnet program: apt-get install telnet, or brew install telnet')


class Terminal:
    """telnet on a pseudo-terminal: type into it, read its screen output."""

    def __init__(self, port):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [TELNET, '127.0.0.1', str(port)], stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, close_fds=True)
        os.close(slave)
        self.screen = b''

    def type(self, text):
        os.write(self.master, text.encode('utf-8'))

    def expect(self, text):
        """Read the screen until text appears on it; return what was read before it."""
        wanted = text.encode('utf-8')
        deadline = time.monotonic() + TIMEOUT
        while wanted not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, 'telnet never showed %r; it showed %r' % (text, self.screen)
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096)
                except OSError:                  # EIO: telnet has exited
                    break
        assert wanted in self.screen, 'telnet ended without showing %r' % text
        before, _, self.screen = self.screen.partition(wanted)
        return before.decode('utf-8', 'replace')

    def close(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(TIMEOUT)
        os.close(self.master)


@pytest.fixture
def terminal(chat_server):
    term = Terminal(chat_server.port)
    yield term
    term.close()


def test_telnet_logs_in_enters_a_room_and_chats(terminal, login):
    terminal.expect('/login <nickname>')
    terminal.type('/login tom\r')
    terminal.expect('Welcome, tom!')
    terminal.type('/python\r')
    terminal.expect('You are in the room python')
    ann = login('ann', 'python')
    terminal.expect('ann entered the room')
    ann.send('hello, tom')
    terminal.expect('ann: hello, tom\r\n')
    terminal.type('hello, ann \u263a\r')
    assert ann.expect('tom:')[-1] == 'tom: hello, ann \u263a'
    terminal.type('/online\r')
    terminal.expect('Online in python (2): ann, tom')


def test_telnet_logout_closes_the_connection(terminal):
    terminal.expect('/login <nickname>')
    terminal.type('/logout\r')
    terminal.expect('Goodbye!')
    terminal.expect('Connection closed by foreign host')
    assert terminal.process.wait(TIMEOUT) is not None


def test_telnet_ctrl_c_leaves_the_session_working(terminal):
    terminal.expect('/login <nickname>')
    terminal.type('/login tom\r')
    terminal.expect('Welcome, tom!')
    terminal.type('\x03')
    terminal.type('/python\r')
    terminal.expect('You are in the room python')
