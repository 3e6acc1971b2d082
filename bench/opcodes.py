"""Python bytecode instructions a server runs per chat line: a figure that does not move.

Timings on a shared machine move by 10% from run to run; this count does not,
but for a round the kernel adds now and then by handing loopback data over late
(an empty round, worth a few instructions a line in a count of 20 lines).
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
line. When the kernel hands loopback data over late (a loaded machine), the
loop turns more rounds, all empty, before the line arrives: every round past the
first of a line is taken off as an empty one, so that a late delivery adds
nothing to the count. The asyncio yardstick (bench/yardstick.py, without --batch) reads and writes
in one iteration of its loop, and is counted as it is.

    python bench/opcodes.py --web      # and a second table: browsers, and mixed rooms

`--web` counts, in rooms of room pm, a line from a browser to a browser
(WebSocket frames in and out, through chat's web side), and a line from a
telnet client to rooms of two and three members, telnet or browser: what
one more member costs, telnet or browser, and whether a telnet member costs
more in a room that has a browser in it. An events browser (one that offered
the `chat.events` subprotocol, as chat's page does: each line it gets is a
JSON object in a message of its own) gets the same rooms: one to another, one
more in a telnet room, and one more in a room that has one already (whose
line's object is made by then: what each further one costs). Each is counted the same way, its
empty round taken off; in a room of three the line is counted until both
others have it. Where `websockets` is installed, the WebSocket yardstick
(bench/ws_yardstick.py, with --batch, the peer bench/run.py measures) gets a
row too, and one for events browsers, counted as the asyncio one is. Each room
is counted in a process of its own: on CPython 3.12 the same code counts
differently once other rooms have been counted in the same process.
"""

import argparse
import asyncio
import functools
import os
import socket
import subprocess
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
        self.opcodes = self.calls = self.runs = 0

    def _call(self, frame, event, arg):
        self.calls += 1
        frame.f_trace_opcodes = True
        return self._opcode

    def _opcode(self, frame, event, arg):
        if event == 'opcode':
            self.opcodes += 1
        return self._opcode

    def run(self, function):
        self.runs += 1
        sys.settrace(self._call)
        try:
            function()
        finally:
            sys.settrace(None)


def per_line(counter, empty, lines):
    """(instructions, calls) a line: counter's counts, less an empty round's for each round
    past the first of each line."""
    rounds = counter.runs - lines
    return ((counter.opcodes - empty.opcodes * rounds) / lines,
            (counter.calls - empty.calls * rounds) / lines)


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
    return per_line(counter, empty, lines)


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


# ---- --web: browsers, and rooms of telnet and browser members

def room_line(step, ports, kinds, lines, counter):
    """Log one client of each kind ('telnet'; 'web' on the web port, or 'events', there
    offering chat.events) into room pm; the first sends lines, counted by counter until
    every other has each. Returns the clients, still connected: the caller closes them."""
    import loadgen                  # here: it needs `resource`, which Windows lacks

    classes = {'telnet': loadgen.Conn, 'web': loadgen.WsConn, 'events': loadgen.EventConn}
    clients = []
    for number, kind in enumerate(kinds):
        conn = classes[kind]('u%d' % number, b'/login u%d\n/pm\n' % number)
        conn.sock.close()
        conn.sock = socket.create_connection(
            ('127.0.0.1', ports['telnet' if kind == 'telnet' else 'web']))
        conn.sock.setblocking(False)
        conn.connected()             # telnet: /login and /pm; a browser: the upgrade first
        clients.append(conn)

    def until(conns, marker, counting=None):
        for conn in conns:
            conn.tail = b''
        waiting = list(conns)
        while True:
            for conn in list(waiting):
                try:
                    data = conn.receive()
                except BlockingIOError:
                    continue
                if data is None:
                    raise ConnectionError('the server closed %s' % conn.nick)
                if conn.seen(data, marker):
                    waiting.remove(conn)
            if not waiting:
                return
            if counting is None:
                step()
            else:
                counting.run(step)

    for conn in clients:
        until([conn], b'You are in the room pm.')
    sender, receivers = clients[0], clients[1:]
    for number in range(100 + lines):           # the first 100 warm up, uncounted
        sender.sock.sendall(sender.frame(b'ping %d\n' % number))
        until(receivers, b'ping %d\r\n' % number, counter if number >= 100 else None)
    return clients


def chat_room_figures(lines, kinds):
    """chat's count per line from kinds[0] to the others, as chat_figures counts."""
    from chat.web import WebServer             # here: a chat without a web side has none

    limits = Limits(login_timeout=0, line_rate=0, max_per_address=0).capped(capacity(LOOPS[0]))
    server = Server(0, '127.0.0.1', limits=limits)
    web = WebServer(server, 0, '127.0.0.1')
    loop = make_loop(server, LOOPS[0])
    step = functools.partial(loop.run_once, 0)
    counter = Counter()
    ports = {'telnet': server.socket.getsockname()[1], 'web': web.socket.getsockname()[1]}
    clients = room_line(step, ports, kinds, lines, counter)
    empty = Counter()
    empty.run(step)
    for client in clients:
        client.sock.close()
    web.close()
    server.close()
    return per_line(counter, empty, lines)


def websockets_figures(lines, kind='web'):
    """The WebSocket yardstick's count per line from a browser to a browser (--batch), both
    of kind ('web', or 'events': chat.events)."""
    import ws_yardstick

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def start():
        return await ws_yardstick.server('127.0.0.1', 0, batch=True)

    server = loop.run_until_complete(start())
    counter = Counter()
    port = server.sockets[0].getsockname()[1]
    # The loop is turned by hand, one iteration at a time, as for asyncio above; websockets
    # asks for the running loop (asyncio.get_running_loop()), so it is marked as running.
    asyncio.events._set_running_loop(loop)
    try:
        clients = room_line(loop._run_once, {'web': port}, [kind, kind], lines, counter)
        for client in clients:
            client.sock.close()
    finally:
        asyncio.events._set_running_loop(None)
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()
    return counter.opcodes / lines, counter.calls / lines


ROOMS = [
    # label, the sender's kind, then the others'
    ('browser to browser', ['web', 'web']),
    ('telnet to telnet', ['telnet', 'telnet']),
    ('telnet to browser', ['telnet', 'web']),
    ('telnet to telnet + telnet', ['telnet', 'telnet', 'telnet']),
    ('telnet to telnet + browser', ['telnet', 'telnet', 'web']),
    ('events browser to events browser', ['events', 'events']),
    ('telnet to events browser', ['telnet', 'events']),
    ('telnet to telnet + events browser', ['telnet', 'telnet', 'events']),
    ('telnet to events browser + events browser', ['telnet', 'events', 'events']),
]
"""The rooms `--web` counts a line in."""


def room_in_own_process(lines, kinds):
    """chat_room_figures(lines, kinds), counted in a new process (see the module's doc)."""
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--lines', str(lines), '--room',
         ','.join(kinds)], capture_output=True, text=True, check=True).stdout
    opcodes, calls = output.split()
    return float(opcodes), float(calls)


def web_table(lines):
    """The --web table: chat's rooms, what a member costs, and the websockets yardstick."""
    counts = {label: room_in_own_process(lines, kinds) for label, kinds in ROOMS}
    rows = [('chat-%s, %s' % (LOOPS[0], label),) + counts[label] for label, _ in ROOMS]
    telnet = counts['telnet to telnet + telnet'][0] - counts['telnet to telnet'][0]
    mixed = counts['telnet to telnet + browser'][0] - counts['telnet to browser'][0]
    browser = counts['telnet to telnet + browser'][0] - counts['telnet to telnet'][0]
    events = counts['telnet to telnet + events browser'][0] - counts['telnet to telnet'][0]
    events_more = (counts['telnet to events browser + events browser'][0]
                   - counts['telnet to events browser'][0])
    try:
        import websockets.asyncio.server       # noqa: F401
    except ImportError:
        rows.append(('websockets-batched, browser to browser', None, None))
        rows.append(('websockets-batched, events browser to events browser', None, None))
    else:
        rows.append(('websockets-batched, browser to browser',) + websockets_figures(lines))
        rows.append(('websockets-batched, events browser to events browser',)
                    + websockets_figures(lines, 'events'))
    out = ['| room | bytecode instructions per line | Python calls per line |',
           '|---|---:|---:|']
    for label, opcodes, calls in rows:
        if opcodes is None:
            out.append('| %s | (pip install websockets) | |' % label)
        else:
            out.append('| %s | %.0f | %.0f |' % (label, opcodes, calls))
    out += ['',
            '| one more member, per line | bytecode instructions |',
            '|---|---:|',
            '| a telnet member, in a telnet room | %.0f |' % telnet,
            '| a telnet member, in a room with a browser | %.0f |' % mixed,
            '| a browser member, in a telnet room | %.0f |' % browser,
            '| an events browser member, in a telnet room | %.0f |' % events,
            '| an events browser member, in a room with an events browser | %.0f |'
            % events_more]
    return '\n'.join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lines', type=int, default=1000, help='lines counted (default: 1000)')
    parser.add_argument('--web', action='store_true',
                        help='then count browsers and mixed rooms too: a second table')
    parser.add_argument('--room', metavar='KINDS',
                        help='only count a line in one room, as --web does: telnet,web,...')
    args = parser.parse_args(argv)
    if args.room:
        print('%r %r' % chat_room_figures(args.lines, args.room.split(',')))
        return
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
    if args.web:
        print()
        print(web_table(args.lines))


if __name__ == '__main__':
    main()
