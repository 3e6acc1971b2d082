"""How many password guesses a second one address gets against the operators' password.

    python bench/bruteforce.py [--connections 64] [--seconds 10]

Starts `python -m chat` with an operators' password, opens that many
connections from 127.0.0.1 (64: the per-address limit), and has each log in
and guess `/op` passwords as fast as the server answers, opening a new
connection whenever one is closed after its third wrong guess. Prints the
guesses the server answered a second, and the guesses it compared with the
password a second: its log has a line for each of those ('gave a wrong
password'); a guess past the address's allowance is answered without one.
"""

import argparse
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time


def start_server(password_file):
    process = subprocess.Popen(
        [sys.executable, '-m', 'chat', '--port', '0', '--no-web', '--op-password-file',
         password_file], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    log, ready = [], threading.Event()

    def read_log():
        for line in process.stderr:
            log.append(line.decode('utf-8', 'replace'))
            if 'listening on' in log[-1]:
                ready.set()

    threading.Thread(target=read_log, daemon=True).start()
    if not ready.wait(10):
        raise SystemExit('the server did not start: %s' % ''.join(log))
    port = int(re.search(r'listening on \S+:(\d+)', ''.join(log)).group(1))
    return process, port, log


class Guesser:
    """One connection: log in, then guess, one guess at a time."""

    number = 0

    def __init__(self, selector, port):
        Guesser.number += 1
        self.name = 'guesser%d' % Guesser.number
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.sock.setblocking(False)
        self.buffer = b''
        selector.register(self.sock, selectors.EVENT_READ, self)

    def lines(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b'\r\n')
        return [line.decode('utf-8', 'replace') for line in lines]

    def send(self, line):
        self.sock.sendall((line + '\r\n').encode())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--connections', type=int, default=64)
    parser.add_argument('--seconds', type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.NamedTemporaryFile('w', suffix='.txt', delete=False) as file:
        file.write('the right one\n')
    process, port, log = start_server(file.name)
    selector = selectors.DefaultSelector()
    answered = guesses = 0
    try:
        for _ in range(args.connections):
            Guesser(selector, port)
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            for key, _ in selector.select(0.1):
                guesser = key.data
                try:
                    lines = guesser.lines()
                except (EOFError, ConnectionError):
                    selector.unregister(guesser.sock)
                    guesser.sock.close()
                    Guesser(selector, port)
                    continue
                for line in lines:
                    if line.startswith('Log in'):
                        guesser.send('/login ' + guesser.name)
                        continue
                    if line.startswith('Welcome, '):
                        pass                   # logged in: the first guess
                    elif line.startswith(('Wrong password', 'Too many password tries')):
                        answered += 1
                        if 'goodbye' in line:
                            continue           # closed: a new connection takes its place
                    else:
                        continue
                    guesses += 1
                    guesser.send('/op guess-%d' % guesses)
        elapsed = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(10)
        os.unlink(file.name)
    compared = sum('gave a wrong password' in line for line in log)
    print('%d connections from one address, %.0f s:' % (args.connections, elapsed))
    print('  guesses answered: %d, %.1f a second' % (answered, answered / elapsed))
    print('  guesses compared with the password: %d, %.1f a second'
          % (compared, compared / elapsed))


if __name__ == '__main__':
    main()
