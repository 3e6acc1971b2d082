"""Run the benchmarks: each server in turn, run after run, and tables of medians.

`python bench/run.py [--runs N] [--quick] [--servers chat-epoll,chat-select,asyncio]
[--scenarios ws-fanout,ws-events-fanout] [--json PATH]` does, for each run, for each
server in the order given:

1. start the server as a subprocess on a free port of 127.0.0.1, and wait
   until it accepts connections;
2. run the scenarios of bench/loadgen.py against it, giving them its pid so
   they report its memory and CPU time: the telnet scenarios, or for a
   WebSocket server (chat-web: chat on its web port; websockets-batched:
   bench/ws_yardstick.py) the WebSocket ones;
3. stop it with SIGTERM (SIGKILL if it has not exited 10 s later).

chat-db is chat-epoll with `--db` on a new file in a temporary directory,
removed when it has stopped; it is measured against chat-epoll, in the same
runs, rather than against the peers: what keeping every line costs.

Servers alternate run by run (A B C, A B C, ...), so that whatever drifts on
the machine during the runs (another process, the CPU's clock) hits them
alike. The table gives each figure's median over the runs for each server,
and the ratio of each chat server to each peer of its kind (telnet, or
WebSocket): the median of the ratios taken run by run, each between two
servers measured minutes apart. The WebSocket servers get a table of their
own. Lost, duplicated and reordered lines are totals over all runs: any one
of them is a bug.
"""

import argparse
import functools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import loadgen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The project's working tree, where `python -m chat` finds the chat package."""

PEERS = ('asyncio', 'asyncio-batched', 'uvloop-batched')
"""The servers chat is measured against; each gets a ratio column per chat server."""

WEB = ('chat-web',)
"""chat servers measured on their web port, with the WebSocket scenarios."""

WS_PEERS = ('websockets', 'websockets-batched')
"""The WebSocket servers chat-web is measured against (bench/ws_yardstick.py)."""

BASELINES = {'chat-db': 'chat-epoll'}
"""chat servers measured against chat itself, not against the peers: chat-db (chat-epoll
with --db) against chat-epoll without a database, in the same runs. Each gets the one ratio
column, when its baseline runs too."""

DATABASE = ('chat-db',)
"""Servers given `--db FILE`: a new file in a temporary directory for each start, removed
with the directory (the WAL and the lock file beside it) when the server has stopped."""

CHAT = ['-m', 'chat', '--log-level', 'WARNING', '--max-clients', '19000',
        '--login-timeout', '0', '--line-rate', '0', '--max-per-address', '0']
"""The benchmarks flood by design, from one address: pacing and the per-address limit are off."""
SERVERS = {
    'chat-epoll': CHAT + ['--loop', 'epoll'],
    'chat-db': CHAT + ['--loop', 'epoll'],          # and --db FILE, a new file each start
    'chat-select': CHAT + ['--loop', 'select'],    # the design's loop: 1000 clients at most
    'chat': CHAT,                                   # a server without --loop
    'asyncio': [os.path.join(ROOT, 'bench', 'yardstick.py')],
    'asyncio-batched': [os.path.join(ROOT, 'bench', 'yardstick.py'), '--batch'],
    'uvloop-batched': [os.path.join(ROOT, 'bench', 'yardstick.py'), '--batch', '--uvloop'],
    'chat-web': CHAT + ['--loop', 'epoll'],         # and --web-port W: the scenarios' port
    'websockets': [os.path.join(ROOT, 'bench', 'ws_yardstick.py')],
    'websockets-batched': [os.path.join(ROOT, 'bench', 'ws_yardstick.py'), '--batch'],
}
"""Each server's command line after the interpreter, less `--port P`.

chat with a web side gets `--no-web` too (`--web-port W` for chat-web), so
that its web port is never the one after P, which may be taken. chat-db gets
`--db FILE` too (DATABASE).
"""

FULL = {
    'pingpong': {'idle': 5000, 'rounds': 2000},
    'storm': {'clients': 5000},
    'fanout': {'clients': 1000, 'senders': 10, 'lines': 200},
    'paced': {'members': 5, 'lines': 500},
}
QUICK = {
    'pingpong': {'idle': 500, 'rounds': 300, 'longest': 3.0},
    'storm': {'clients': 500},
    'fanout': {'clients': 200, 'senders': 5, 'lines': 100},
    'paced': {'members': 5, 'lines': 200},
}
for _sizes in (FULL, QUICK):                   # the WebSocket scenarios mirror the telnet ones
    _sizes['ws-pingpong'] = _sizes['pingpong']
    _sizes['ws-fanout'] = _sizes['fanout']
    _sizes['ws-events-fanout'] = _sizes['fanout']

ROWS = [
    # scenario, figure key, label, which is better, how runs combine
    ('fanout', 'deliveries_per_s', 'deliveries/s', 'higher', 'median'),
    ('fanout', 'seconds', 'burst s', 'lower', 'median'),
    ('fanout', 'server_cpu_share', 'server CPU / wall', '', 'median'),
    ('fanout', 'loadgen_cpu_share', 'loadgen CPU / wall', '', 'median'),
    ('fanout', 'lost', 'lost lines', 'lower', 'total'),
    ('fanout', 'duplicated', 'duplicated lines', 'lower', 'total'),
    ('fanout', 'reordered', 'reordered lines', 'lower', 'total'),
    ('paced', 'p50_ms', 'latency p50 ms', 'lower', 'median'),
    ('paced', 'p99_ms', 'latency p99 ms', 'lower', 'median'),
    ('paced', 'lost', 'lost lines', 'lower', 'total'),
    ('pingpong', 'p50_ms', 'round trip p50 ms', 'lower', 'median'),
    ('pingpong', 'p99_ms', 'round trip p99 ms', 'lower', 'median'),
    ('pingpong', 'rounds', 'rounds done', 'higher', 'median'),
    ('pingpong', 'bytes_per_idle_session', 'RSS bytes / idle session', 'lower', 'median'),
    ('pingpong', 'server_rss_idle_kb', 'RSS kB with the idle crowd', 'lower', 'median'),
    ('storm', 'seconds', 'seconds', 'lower', 'median'),
    ('storm', 'server_cpu_share', 'server CPU / wall', '', 'median'),
    ('storm', 'loadgen_cpu_share', 'loadgen CPU / wall', '', 'median'),
    ('server', 'peak_rss_kb', 'peak RSS kB (VmHWM)', 'lower', 'median'),
    ('server', 'seconds', 'seconds, start to stop', '', 'median'),
    ('server', 'stop_s', 'seconds from SIGTERM to exit', 'lower', 'median'),
]

WS_ROWS = [
    ('ws-fanout', 'deliveries_per_s', 'deliveries/s', 'higher', 'median'),
    ('ws-fanout', 'deliveries_per_server_cpu_s', 'deliveries / server CPU s', 'higher',
     'median'),
    ('ws-fanout', 'seconds', 'burst s', 'lower', 'median'),
    ('ws-fanout', 'server_cpu_share', 'server CPU / wall', '', 'median'),
    ('ws-fanout', 'loadgen_cpu_share', 'loadgen CPU / wall', '', 'median'),
    ('ws-fanout', 'lost', 'lost lines', 'lower', 'total'),
    ('ws-fanout', 'duplicated', 'duplicated lines', 'lower', 'total'),
    ('ws-fanout', 'reordered', 'reordered lines', 'lower', 'total'),
    ('ws-events-fanout', 'deliveries_per_s', 'deliveries/s', 'higher', 'median'),
    ('ws-events-fanout', 'deliveries_per_server_cpu_s', 'deliveries / server CPU s',
     'higher', 'median'),
    ('ws-events-fanout', 'seconds', 'burst s', 'lower', 'median'),
    ('ws-events-fanout', 'server_cpu_share', 'server CPU / wall', '', 'median'),
    ('ws-events-fanout', 'loadgen_cpu_share', 'loadgen CPU / wall', '', 'median'),
    ('ws-events-fanout', 'lost', 'lost lines', 'lower', 'total'),
    ('ws-events-fanout', 'duplicated', 'duplicated lines', 'lower', 'total'),
    ('ws-events-fanout', 'reordered', 'reordered lines', 'lower', 'total'),
    ('ws-events-fanout', 'malformed', 'malformed objects', 'lower', 'total'),
    ('ws-pingpong', 'p50_ms', 'round trip p50 ms', 'lower', 'median'),
    ('ws-pingpong', 'p99_ms', 'round trip p99 ms', 'lower', 'median'),
    ('ws-pingpong', 'rounds', 'rounds done', 'higher', 'median'),
    ('ws-pingpong', 'server_cpu_s', 'server CPU s', 'lower', 'median'),
    ('ws-pingpong', 'bytes_per_idle_session', 'RSS bytes / idle session', 'lower', 'median'),
    ('ws-pingpong', 'server_rss_idle_kb', 'RSS kB with the idle crowd', 'lower', 'median'),
] + [row for row in ROWS if row[0] == 'server']
"""The WebSocket servers' table: the WebSocket scenarios, and the whole run."""

SCENARIO_NAMES = {
    'fanout': 'fan-out burst',
    'paced': 'paced latency',
    'pingpong': 'idle ping-pong',
    'storm': 'login storm',
    'ws-fanout': 'WebSocket fan-out',
    'ws-events-fanout': 'WebSocket fan-out, chat.events',
    'ws-pingpong': 'WebSocket ping-pong',
    'server': 'whole run',
}


def is_websocket(name):
    """Whether a server is measured with the WebSocket scenarios."""
    return name in WEB or name in WS_PEERS


def scenarios_of(name, only=None):
    """The scenarios run against a server, by name, in their order: of `only`, if given,
    those that are of its kind."""
    scenarios = loadgen.WS_SCENARIOS if is_websocket(name) else loadgen.SCENARIOS
    if only is None:
        return scenarios
    return {scenario: run for scenario, run in scenarios.items() if scenario in only}


# ---- starting and stopping a server

def free_port():
    """A port of 127.0.0.1 that was free a moment ago: bind port 0, read it, close."""
    with socket.socket() as probe:
        probe.bind((loadgen.HOST, 0))
        return probe.getsockname()[1]


@functools.lru_cache
def chat_help(python):
    """What `python -m chat --help` says, from the working tree: the options it takes."""
    return subprocess.run([python, '-m', 'chat', '--help'], cwd=ROOT,
                          capture_output=True, text=True, timeout=30).stdout


def has_loop_option(python):
    """Whether the chat server in the working tree takes --loop."""
    return '--loop' in chat_help(python)


def has_web_side(python):
    """Whether the chat server in the working tree has a web side (--web-port)."""
    return '--web-port' in chat_help(python)


class Server:
    """One server subprocess on a free port; stop() ends it, whatever state it is in.

    `port` is the port the scenarios use: for chat-web, its web port.
    """

    def __init__(self, name, python=sys.executable, timeout=15.0):
        self.name = name
        self.port = free_port()
        command = [python] + SERVERS[name] + ['--port', str(self.port)]
        if SERVERS[name][:2] == ['-m', 'chat'] and has_web_side(python):
            if name in WEB:
                web_port = free_port()
                while web_port == self.port:
                    web_port = free_port()
                command += ['--web-port', str(web_port)]
                self.port = web_port
            else:
                command.append('--no-web')     # not the port after --port: it may be taken
        self.directory = None
        if name in DATABASE:
            self.directory = tempfile.TemporaryDirectory(prefix='chat-bench-db-')
            self.db = os.path.join(self.directory.name, 'chat.db')
            command += ['--db', self.db]
        self.log = tempfile.TemporaryFile(mode='w+')
        self.proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def _wait_ready(self, timeout):
        """Wait until the server accepts a connection.

        A WebSocket server is sent an upgrade, and its answer read: websockets
        logs a connection closed without one as an error (and, before 14, a 404).
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('%s exited with %s at start:\n%s'
                                   % (self.name, self.proc.returncode, self.output()))
            try:
                with socket.create_connection((loadgen.HOST, self.port), timeout=1.0) as probe:
                    if is_websocket(self.name):
                        probe.sendall(b'GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n'
                                      b'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
                                      b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
                                      % (loadgen.WS_PATH.encode(), loadgen.HOST.encode(),
                                         self.port))
                        probe.recv(4096)              # the 101: the server is up
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError('%s did not accept connections within %g s'
                                       % (self.name, timeout)) from None
                time.sleep(0.05)

    def peak_rss_kb(self):
        """The server's peak resident memory so far (VmHWM), in kB."""
        with open('/proc/%d/status' % self.pid) as status:
            return next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))

    def stop(self):
        """SIGTERM, then SIGKILL if it is still running 10 s later. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.directory is not None:         # the database, its WAL and its lock file
            self.directory.cleanup()
            self.directory = None
        return self.proc.returncode

    def output(self):
        """What the server wrote to standard output and error."""
        self.log.seek(0)
        return self.log.read()


# ---- running and summing up

def run_server(name, sizes, python, progress, only=None):
    """Start a server, run every scenario against it (or those of `only`), stop it;
    return the figures."""
    figures = {}
    started = time.monotonic()
    server = Server(name, python)
    start_s = time.monotonic() - started
    scenarios = scenarios_of(name, only)
    try:
        for scenario in scenarios:                     # in their order: the idle crowd first
            begin = time.monotonic()
            try:
                figures[scenario] = scenarios[scenario](
                    server.port, pid=server.pid, **sizes[scenario])
            except (OSError, TimeoutError) as error:
                figures[scenario] = {'error': '%s: %s' % (type(error).__name__, error)}
            progress('%s %.1fs' % (scenario, time.monotonic() - begin))
        figures['server'] = {'peak_rss_kb': server.peak_rss_kb()}
    finally:
        stopping = time.monotonic()
        code = server.stop()
        output = server.output()
    figures['server']['seconds'] = round(time.monotonic() - started, 1)
    figures['server']['start_s'] = round(start_s, 2)        # until it accepted a connection
    figures['server']['stop_s'] = round(time.monotonic() - stopping, 2)   # SIGTERM to exit
    figures['server']['exit_code'] = code
    figures['server']['log'] = output.splitlines()[-20:]    # with WARNING, normally nothing
    return figures


def ratio_columns(servers):
    """The (chat server, peer) pairs that get a ratio column, e.g. chat-epoll/asyncio:
    a telnet server and a telnet peer, or a WebSocket server and a WebSocket peer; and a
    server of BASELINES with its baseline (chat-db/chat-epoll), if both run."""
    chats = [name for name in servers if name not in PEERS + WS_PEERS + tuple(BASELINES)]
    peers = [name for name in servers if name in PEERS + WS_PEERS]
    return [(chat, peer) for chat in chats for peer in peers
            if is_websocket(chat) == is_websocket(peer)] + [
        (name, BASELINES[name]) for name in servers
        if name in BASELINES and BASELINES[name] in servers]


def summarise(runs, servers, figure_rows=ROWS):
    """Return the table's rows: (scenario, label, better, {column: text}) per figure."""
    rows = []
    for scenario, key, label, better, combine in figure_rows:
        cells = {}
        for name in servers:
            values = [run[name].get(scenario, {}).get(key) for run in runs]
            values = [value for value in values if value is not None]
            if not values:
                cells[name] = 'n/a'
            elif combine == 'total':
                cells[name] = _number(sum(values))
            else:
                cells[name] = _number(statistics.median(values))
        for chat, peer in ratio_columns(servers):
            ratios = []
            if combine == 'median' and better:
                for run in runs:
                    mine = run[chat].get(scenario, {}).get(key)
                    theirs = run[peer].get(scenario, {}).get(key)
                    if mine is not None and theirs:
                        ratios.append(mine / theirs)
            cells[chat + '/' + peer] = '%.2f' % statistics.median(ratios) if ratios else ''
        rows.append((scenario, label, better, cells))
    return rows


def _number(value):
    """A figure as the table shows it: integers plain, others to 3 significant digits."""
    if isinstance(value, int) or (isinstance(value, float) and value >= 1000):
        return '%d' % round(value)
    return '%.3g' % value


def tables(runs, servers, only=None):
    """The telnet servers' table, then the WebSocket servers', as markdown: those there are
    (and only the rows of the scenarios of `only`, if given, and of the whole run)."""
    telnet = [name for name in servers if not is_websocket(name)]
    web = [name for name in servers if is_websocket(name)]
    return '\n\n'.join(
        table(summarise(runs, group, [row for row in figure_rows
                                      if only is None or row[0] in only + ['server']]), group)
        for group, figure_rows in ((telnet, ROWS), (web, WS_ROWS)) if group)


def table(rows, servers):
    """The rows as one markdown table."""
    columns = list(servers) + ['%s/%s' % pair for pair in ratio_columns(servers)]
    lines = ['| scenario | figure | better | ' + ' | '.join(columns) + ' |',
             '|---|---|---|' + '---:|' * len(columns)]
    for scenario, label, better, cells in rows:
        values = ' | '.join(cells[column] for column in columns)
        lines.append('| %s | %s | %s | %s |' % (SCENARIO_NAMES[scenario], label, better, values))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark chat against the asyncio yardstick.')
    parser.add_argument('--runs', type=int, default=3, help='runs of every server (default: 3)')
    parser.add_argument('--quick', action='store_true',
                        help='small scenarios, for a smoke test well under a minute')
    parser.add_argument('--servers', default='chat-epoll,chat-db,asyncio,asyncio-batched,'
                                             'uvloop-batched,chat-web,websockets-batched',
                        help='comma-separated, from: %s (chat-select takes at most 1000 '
                             'clients: use it with --quick; chat-web and the websockets '
                             'servers run the WebSocket scenarios)' % ', '.join(SERVERS))
    parser.add_argument('--scenarios',
                        help='comma-separated, only these, from: %s (each server runs those '
                             'of its kind)' % ', '.join(list(loadgen.SCENARIOS)
                                                        + list(loadgen.WS_SCENARIOS)))
    parser.add_argument('--python', default=sys.executable,
                        help='interpreter for the servers (default: this one)')
    parser.add_argument('--json', metavar='PATH', help='also write the table and every figure')
    args = parser.parse_args(argv)
    only = None
    if args.scenarios:
        only = args.scenarios.split(',')
        for scenario in only:
            if scenario not in loadgen.SCENARIOS and scenario not in loadgen.WS_SCENARIOS:
                parser.error('unknown scenario %r' % scenario)
    servers = []
    loop_option = has_loop_option(args.python)
    uvloop = subprocess.run([args.python, '-c', 'import uvloop'],
                            capture_output=True).returncode == 0
    websockets = subprocess.run([args.python, '-c', 'import websockets.asyncio.server'],
                                capture_output=True).returncode == 0
    for name in args.servers.split(','):
        if name not in SERVERS:
            parser.error('unknown server %r: choose from %s' % (name, ', '.join(SERVERS)))
        if name.startswith('uvloop') and not uvloop:
            print('note: no uvloop for %s (pip install uvloop): %s left out'
                  % (args.python, name), file=sys.stderr)
            continue
        if name in WS_PEERS and not websockets:
            print('note: no websockets 13+ for %s (pip install websockets): %s left out'
                  % (args.python, name), file=sys.stderr)
            continue
        if name in WEB and not (has_web_side(args.python) and loop_option):
            print('note: python -m chat has no web side (--web-port): %s left out' % name,
                  file=sys.stderr)
            continue
        if name in DATABASE and '--db' not in chat_help(args.python):
            print('note: python -m chat has no --db: %s left out' % name, file=sys.stderr)
            continue
        if name.startswith('chat-') and not loop_option:
            print('note: python -m chat has no --loop yet: running it as "chat"', file=sys.stderr)
            name = 'chat'
        if name not in servers:
            servers.append(name)
    sizes = QUICK if args.quick else FULL
    loadgen.raise_open_file_limit()
    print('note: chat runs with --line-rate 0 --max-per-address 0: the scenarios flood, '
          'from one address', file=sys.stderr)

    started = time.monotonic()
    runs = []
    for number in range(1, args.runs + 1):
        run = {}
        for name in servers:
            def progress(text, name=name, number=number):
                print('run %d/%d %s: %s' % (number, args.runs, name, text),
                      file=sys.stderr, flush=True)
            run[name] = run_server(name, sizes, args.python, progress, only)
            progress('done in %.1fs' % run[name]['server']['seconds'])
        runs.append(run)
    seconds = time.monotonic() - started

    text = tables(runs, servers, only)
    print(text)
    print('\n%d run(s)%s in %.0f s; ratio columns: chat / peer, the median of the per-run '
          'ratios.' % (args.runs, ' (quick)' if args.quick else '', seconds))
    for run_number, run in enumerate(runs, 1):
        for name in servers:
            for scenario, figures in run[name].items():
                if 'error' in figures:
                    print('run %d %s %s: %s' % (run_number, name, scenario, figures['error']))
            if run[name]['server']['log']:
                print('run %d %s logged:\n  %s'
                      % (run_number, name, '\n  '.join(run[name]['server']['log'])))
    if args.json:
        with open(args.json, 'w') as out:
            json.dump({'servers': servers, 'runs': runs, 'sizes': sizes, 'quick': args.quick,
                       'seconds': round(seconds, 1), 'table': text}, out, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
