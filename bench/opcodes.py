"""Python bytecode instructions a server runs per chat line: a figure that does not move.

Timings on a shared machine move by 10% from run to run; this count does not.
A line goes from one client to the other member of a room, over loopback,
through a real server whose loop this process turns by hand, and
`sys.settrace` counts the bytecode instructions (and Python calls) run while
the loop turns. What the kernel does for the sockets is not in it, nor is what
runs in C (a `bytes.find`, a `send()`): it is the interpreter's share of the
work, the part the code decides.

    python bench/opcodes.py            # chat's default loop and naive asyncio, 1000 lines each

chat runs as `make bench` runs it, with its limits off (--line-rate 0
--max-per-address 0), and again with them on, at a line rate so high that no
line waits: the cost of the limits' bookkeeping to a chat that stays under them.

chat's loop reads a line in one round and sends it on at the start of the next,
then waits. Here that wait returns at once, and the loop turns once more before
the next line: one empty round a line too many, so the count of an empty round
(taken after the lines, with both clients connected and quiet) is taken off each
line. The asyncio yardstick (bench/yardstick.py, without --batch) reads and writes
in one iteration of its loop, and is counted as it is.
"""

import argparse
import asyncio
import functools
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

import yardstick                                      # noqa: E402
from chat.limits import Limits                        # noqa: E402
from chat.loop import LOOPS, capacity, make_loop      # noqa: E402
from chat.server import Server                        # noqa: E402


class Counter:
    """Count bytecode instructions and Python calls while `run(function)` runs."""

    def __init__(self):
        self.opcodes = self.calls = 0

    def _call(self, frame, event, arg):
        self.calls += 1
        frame.f_trace_opcodes = True
        return self._opcode

    def _opcode(self, frame, event, arg):
        if event == 'opcode':
            self.opcodes += 1
        return self._opcode

    def run(self, function):
        sys.settrace(self._call)
        try:
            function()
        finally:
            sys.settrace(None)


def ping_pong(step, port, lines, counter):
    """Log two clients into room pm; send lines from one to the other, turning the
    server's loop with step(), counted by counter while it turns. Returns the two
    clients, still connected: the caller closes them."""
    clients = [socket.create_connection(('127.0.0.1', port)) for _ in range(2)]
    for client in clients:
        client.setblocking(False)

    def until(client, marker, counting=None):
        received = b''
        while True:
            try:
                received += client.recv(65536)
            except BlockingIOError:
                pass
            if marker in received:
                return
            # Turned only while something is owed: asyncio's loop would wait for ever.
            if counting is None:
                step()
            else:
                counting.run(step)

    for number, client in enumerate(clients):
        until(client, b'/login')
        client.send(b'/login u%d\n' % number)
        until(client, b'Welcome')
        client.send(b'/pm\n')
        until(client, b'room pm')
    sender, receiver = clients
    for number in range(100 + lines):           # the first 100 warm up, uncounted
        sender.send(b'ping %d\n' % number)
        until(receiver, b'ping %d\r\n' % number, counter if number >= 100 else None)
    return clients


def chat_figures(lines, **limits):
    limits = Limits(login_timeout=0, **limits).capped(capacity(LOOPS[0]))
    server = Server(0, '127.0.0.1', limits=limits)
    loop = make_loop(server, LOOPS[0])     # the platform's default: epoll on Linux
    step = functools.partial(loop.run_once, 0)     # a C callable: no frame of its own
    counter = Counter()
    clients = ping_pong(step, server.socket.getsockname()[1], lines, counter)
    # An empty round, counted while both clients are still there and quiet.
    empty = Counter()
    empty.run(step)
    for client in clients:
        client.close()
    server.close()
    return ((counter.opcodes - empty.opcodes * lines) / lines,
            (counter.calls - empty.calls * lines) / lines)


def asyncio_figures(lines):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    chat = yardstick.Chat(batch=False)
    server = loop.run_until_complete(
        loop.create_server(lambda: yardstick.Session(chat), '127.0.0.1', 0))
    counter = Counter()
    # One iteration of asyncio's loop; its private name, as no public call runs just one.
    clients = ping_pong(loop._run_once, server.sockets[0].getsockname()[1], lines, counter)
    for client in clients:
        client.close()
    server.close()
    return counter.opcodes / lines, counter.calls / lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lines', type=int, default=1000, help='lines counted (default: 1000)')
    args = parser.parse_args(argv)
    print('| server | bytecode instructions per line | Python calls per line |')
    print('|---|---:|---:|')
    chat = 'chat-' + LOOPS[0]
    for name, figures, options in (
            (chat, chat_figures, dict(line_rate=0, max_per_address=0)),
            # The line rate's bookkeeping, for a chat that never reaches the rate.
            (chat + ', limits on', chat_figures, dict(line_rate=1e9, max_per_address=64)),
            ('asyncio', asyncio_figures, {})):
        opcodes, calls = figures(args.lines, **options)
        print('| %s | %.0f | %.0f |' % (name, opcodes, calls))


if __name__ == '__main__':
    main()
