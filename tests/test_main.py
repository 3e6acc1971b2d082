"""The program: `python -m chat` as a subprocess, its options, start-up failures, signals."""

import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import TIMEOUT, WINDOWS, free_port, installed_script


def run(*args):
    """Run `python -m chat ARGS` to its end; return (exit code, standard error)."""
    done = subprocess.run([sys.executable, '-m', 'chat', *args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=TIMEOUT)
    return done.returncode, done.stderr.decode('utf-8', 'replace')


def test_port_zero_picks_a_free_port_and_logs_it_first(program, client):
    server = program('--port', '0')
    match = server.expect(r'listening on 127\.0\.0\.1:(\d+)')
    assert 'listening on' in server.log[0]           # the first line logged
    assert '/login' in client(int(match.group(1))).expect('/login')[-1]


@pytest.mark.every_loop
def test_stop_signal_tells_every_session_and_exits_0(program, client):
    """SIGTERM; on Windows, Ctrl-Break (SIGBREAK), the signal a test can send there."""
    server = program('--port', '0')
    port = server.port()
    alice, bob = client(port), client(port)
    alice.ask('/login alice')
    bob.ask('/login bob')
    bob.ask('/python')
    server.stop()
    for each in (alice, bob):
        lines = each.read_to_close()
        assert 'shutting down' in lines[-1]
    code, log = server.finish()
    assert code == 0
    assert 'shutting down' in log
    assert 'Traceback' not in log


@pytest.mark.every_loop
@pytest.mark.skipif(WINDOWS, reason='Windows sends Ctrl-C to a whole console, not one process')
def test_sigint_stops_it_the_same_way(program, client):
    server = program('--port', '0')
    port = server.port()
    alice = client(port)
    alice.expect('/login')
    server.process.send_signal(signal.SIGINT)
    assert 'shutting down' in alice.read_to_close()[-1]
    code, log = server.finish()
    assert code == 0 and 'Traceback' not in log


def test_port_in_use_is_one_line_naming_the_port_and_exit_1():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run('--port', str(port))
    assert code == 1
    [line] = err.splitlines()
    assert str(port) in line and 'in use' in line and 'PORT=' in line


@pytest.mark.parametrize('host', ['no-such-host.invalid', 'a..b', 'x' * 64 + '.example'])
def test_unknown_or_invalid_host_is_one_line_and_exit_1(host):
    code, err = run('--host', host, '--port', '0')
    assert code == 1
    [line] = err.splitlines()
    assert host in line


@pytest.mark.parametrize('args', [
    ['--port', 'many'], ['--port', '70000'], ['--max-line', '0'],
    ['--log-level', 'LOUD'], ['--colour'], ['--max-queue', '0'], ['--max-clients', 'x'],
    ['--login-timeout', '-1'], ['--login-timeout', 'nan']])
def test_bad_option_is_one_line_and_exit_2(args):
    code, err = run(*args)
    assert code == 2
    [line] = err.splitlines()
    assert 'Traceback' not in line


def test_ipv6_loopback_works_and_is_logged_in_brackets(program, client):
    if not socket.has_ipv6:
        pytest.skip('this Python has no IPv6')
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(('::1', 0))
    except OSError:
        pytest.skip('this machine has no IPv6 loopback')
    server = program('--host', '::1', '--port', '0')
    port = int(server.expect(r'listening on \[::1\]:(\d+)').group(1))
    assert '/login' in client(port, host='::1').expect('/login')[-1]


def test_max_line_option_is_applied(program, client):
    server = program('--port', '0', '--max-line', '10')
    port = server.port()
    alice = client(port)
    alice.expect('/login')
    alice.send('/login abcdefgh')
    assert 'too long' in alice.line()


def test_log_level_warning_hides_the_info_lines(program, client):
    port = free_port()
    server = program('--port', str(port), '--web-port', '0', '--log-level', 'warning')
    deadline = time.monotonic() + TIMEOUT
    while True:                        # no log line to wait for: wait for the port
        try:
            client(port).expect('/login')
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, 'the server never listened'
            time.sleep(0.05)
    server.stop()
    code, log = server.finish()
    assert code == 0 and log == ''


def test_console_script_is_installed():
    script = installed_script('chat-server')
    assert script, 'no chat-server installed with %s' % sys.executable
    done = subprocess.run([script, '--help'], capture_output=True, timeout=TIMEOUT)
    assert done.returncode == 0 and b'--max-line' in done.stdout


@pytest.mark.every_loop
def test_limit_options_are_applied(program, client):
    server = program('--port', '0', '--max-clients', '1', '--login-timeout', '2')
    port = server.port()
    first = client(port)
    first.expect('/login')
    assert 'full' in client(port).read_to_close()[0]
    assert first.read_to_close()[-1] == 'No login within 2 seconds: timeout. Goodbye!'
    server.expect(r'closed: login timeout')
