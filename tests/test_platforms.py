"""Windows and macOS, as far as this machine can show them.

Each test here is a simulation, because no Windows or macOS machine can be had
where the suite runs; each says what it stands in for. The rest of the suite
also runs on the Windows-like interpreter of tests/winlike (`make test`
does that too), and every server test runs under the select loop, Windows'.
"""

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import GRACE_MARGIN, READY_LOOPS, TIMEOUT, WINDOWS, Program

from chat import __main__ as program_main
from chat.loop import SELECT_LIMIT, SIGNAL_CHECK

# What a platform's loop does or lacks: each loop this interpreter has.
pytestmark = pytest.mark.every_loop

WINLIKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'winlike')


def winlike_environment():
    """The environment of a child process whose interpreter looks like Windows'."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [WINLIKE, env.get('PYTHONPATH')]))
    return env


# ---- Windows

@pytest.mark.skipif(WINDOWS, reason='the simulation of Windows: the real one runs the rest')
def test_windows_like_interpreter_runs_the_server_and_ctrl_c_stops_it_within_a_second(login_all):
    """Simulated: tests/winlike takes poll, epoll and resource away, and holds signals back
    while select() waits, as Windows does with Ctrl-C."""
    server = Program('--port', '0', loop='select', env=winlike_environment())
    try:
        port = server.port()
        assert 'listening on' in server.log[0]
        server.expect('the select loop watches at most %d connections' % SELECT_LIMIT)
        alice, bob = login_all(port, 'alice', 'bob', room='python')
        alice.sync()
        bob.send('你好 from a Windows-like interpreter')
        assert alice.line() == 'bob: 你好 from a Windows-like interpreter'
        time.sleep(SIGNAL_CHECK / 2)    # let the loop settle into a long select() wait
        started = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        assert 'shutting down' in alice.read_to_close()[-1]
        code, log = server.finish()
        elapsed = time.monotonic() - started
    finally:
        server.kill()
    print('windows-like: stopped %.2f s after SIGINT' % elapsed)
    assert code == 0
    assert 'Traceback' not in log and 'stopped' in log
    assert elapsed < SIGNAL_CHECK + GRACE_MARGIN


def test_ctrl_c_stops_the_select_loop_within_a_second_though_select_waits_on():
    """Simulated where it is not real: the signal is raised in another thread of the server's
    process, so the main thread's select() is not interrupted by it, as on Windows."""
    script = ('import signal, sys, threading\n'
              'from chat.__main__ import main\n'
              'threading.Timer(1.5, signal.raise_signal, [signal.SIGINT]).start()\n'
              'sys.exit(main(["--port", "0", "--loop", "select"]))\n')
    started = time.monotonic()
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=TIMEOUT * 2)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert 'SIGINT: shutting down' in done.stderr and 'Traceback' not in done.stderr
    print('select loop: stopped %.2f s after start, the signal at 1.5 s' % elapsed)
    assert elapsed < 1.5 + SIGNAL_CHECK + GRACE_MARGIN


@pytest.mark.skipif(WINDOWS, reason='the simulation of Windows: the real one runs the rest')
def test_windows_like_interpreter_has_only_the_select_loop():
    """Simulated: what the server offers where select has no poll()."""
    done = subprocess.run(
        [sys.executable, '-c', ('import select, chat.loop; '
         'print(hasattr(select, "poll"), chat.loop.LOOPS)')],
        env=winlike_environment(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.stdout.split(None, 1) == ['False', "['select']\n"], done.stderr


def test_select_loop_caps_max_clients_at_what_select_can_watch(make_server, client):
    running = make_server(loop='select', max_clients=SELECT_LIMIT * 10)
    alice = client(running.port)
    assert running.server.limits.max_clients == SELECT_LIMIT < 1024
    alice.expect('/login')
    assert alice.ask('/login alice')[0].startswith('Welcome, alice')


# ---- macOS: the open-file limit

class FakeResource:
    """Simulated: macOS's resource module, which reads the hard limit as unlimited and
    refuses more than kern.maxfilesperproc; Linux never reports an unlimited nofile."""

    RLIMIT_NOFILE = 8
    RLIM_INFINITY = -1

    def __init__(self, soft, hard, accepted):
        self.limit = (soft, hard)
        self.accepted = accepted
        self.asked = []

    def getrlimit(self, which):
        assert which == self.RLIMIT_NOFILE
        return self.limit

    def setrlimit(self, which, limits):
        self.asked.append(limits[0])
        if limits[0] > self.accepted:
            raise ValueError('current limit exceeds maximum limit')
        self.limit = limits


def test_open_file_limit_falls_back_to_the_most_macos_accepts(monkeypatch):
    fake = FakeResource(256, FakeResource.RLIM_INFINITY, accepted=24576)
    monkeypatch.setitem(sys.modules, 'resource', fake)
    assert program_main.raise_open_file_limit() == 24576
    assert fake.limit == (24576, FakeResource.RLIM_INFINITY)
    assert fake.asked[0] == 1 << 20 and len(fake.asked) <= 22


def test_open_file_limit_is_raised_to_a_finite_hard_limit_at_once(monkeypatch):
    fake = FakeResource(1024, 4096, accepted=4096)
    monkeypatch.setitem(sys.modules, 'resource', fake)
    assert program_main.raise_open_file_limit() == 4096
    assert fake.asked == [4096]


def test_open_file_limit_left_alone_when_nothing_is_accepted(monkeypatch):
    fake = FakeResource(256, FakeResource.RLIM_INFINITY, accepted=0)
    monkeypatch.setitem(sys.modules, 'resource', fake)
    assert program_main.raise_open_file_limit() == 256
    assert fake.limit == (256, FakeResource.RLIM_INFINITY)


def test_no_resource_module_means_no_limit_to_raise(monkeypatch):
    """Simulated: Windows has no resource module."""
    monkeypatch.setitem(sys.modules, 'resource', None)
    assert program_main.raise_open_file_limit() is None


def test_a_low_open_file_limit_is_logged_after_listening(monkeypatch, caplog):
    """Simulated: macOS's default soft limit of 256, which it refuses to raise here."""
    fake = FakeResource(256, FakeResource.RLIM_INFINITY, accepted=0)
    monkeypatch.setitem(sys.modules, 'resource', fake)
    make_loop = program_main.make_loop

    def stopped_loop(server, name):
        loop = make_loop(server, name)
        loop.stop()                    # run() returns at once, after a clean shutdown
        return loop

    monkeypatch.setattr(program_main, 'make_loop', stopped_loop)
    monkeypatch.setattr(signal, 'signal', lambda signum, handler: None)   # keep pytest's
    caplog.set_level(logging.INFO, logger='chat')
    assert program_main.main(['--port', '0']) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith('listening on')
    assert any('open-file limit (256) allows about 240 connections' in message
               for message in messages[1:])


# ---- macOS: a hang-up that comes with input

@pytest.mark.parametrize('loop_name', READY_LOOPS)
def test_input_that_comes_with_a_hang_up_is_read_and_answered(make_server, client):
    """Simulated: macOS's poll() reports a half-close as POLLHUP with POLLIN, where Linux
    reports POLLIN alone; here every POLLIN the poller reports carries POLLHUP too."""
    def hang_up_with_input(loop):
        wait = loop._wait
        loop._wait = lambda timeout: [
            (fd, flags | select.POLLHUP if flags & select.POLLIN else flags)
            for fd, flags in wait(timeout)]

    running = make_server(prepare=hang_up_with_input)
    script = client(running.port)
    script.send(b'/login scripted\n/python\n/online\nbye')
    script.sock.shutdown(socket.SHUT_WR)   # the end of input, as `printf ... | nc` sends
    lines = script.read_to_close()
    script.close()
    running.stop()
    assert 'Welcome, scripted! You are in the hall.' in lines
    assert 'Online in python (1): scripted' in lines
