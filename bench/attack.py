"""Under attack: another client's round trip while connections flood the server.

`python bench/attack.py [--runs N] [--seconds S] [--after S] [--quick]
[--scenarios ws-frames,iac-nop-16] [--connections N] [--json PATH]` does, for
each run, for each scenario:

1. start `python -m chat` with its default limits (the line rate on, 64
   connections per address) on free ports of 127.0.0.1, telnet and web;
2. log in the measuring clients (`--probes`, 4 by default) from another
   address, 127.0.0.100, each sending `/msg SELF ping N` 4 times a second
   (under the line rate) and timing the reply, `To SELF, privately: ping N`;
3. measure their round trips for a baseline (`--baseline`, 2 s);
4. start the flood in a process of its own (this file, `--flood KIND`), so
   that the generator is not the measuring clients' bottleneck: 64
   connections from 127.0.0.1 (or the same 64 spread over the 16 addresses
   127.0.0.2 to 127.0.0.17, for the scenarios ending in `-16`), each
   writing its kind of flood as fast as the server takes it, reading and
   dropping whatever the server answers, and reconnecting if it is closed;
5. once every flood connection is open, measure for `--seconds` (5 s): the
   round trips, and the server's CPU from /proc/PID/stat;
6. stop the flood (its connections closed), and measure for `--after` (5 s).

The kinds of flood (docs/protocol.md, *Under attack*: each counts against
the line rate as a line):

- `ws-frames`: WebSocket text messages of 1-byte fragments (32 fragments, a
  message of 32 spaces), then 32 empty messages, over and over;
- `ws-pings`: WebSocket pings with a 1-byte payload (the server answers each
  with a pong, read and dropped);
- `iac-nop`: telnet `IAC NOP` (255 241);
- `empty-lines`: CR LF.

Round trips are grouped by when the ping was sent: before the flood
(baseline), during it, and after it. *Back to normal* is the first whole
second after the flood (from the moment its connections are closed) whose
round trip p50 is at most twice the baseline's p50, or the baseline's plus
1 ms where that is more (a sub-millisecond baseline doubles with the
scheduler's noise alone): `recovered_s` is the end of that second, 1 when the
first second after the flood is already normal, empty when none of them is.
The goal (the issue's): p50 under 5 ms and p99 under 50 ms during the flood,
and back to normal within 1 s.

Where 127/8 is not all loopback (macOS: only 127.0.0.1 answers), the
measuring clients use 127.0.0.1 too, the single-address floods 63 connections,
and the 16-address scenarios are left out, with a note.
"""

import argparse
import json
import os
import random
import selectors
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time

import loadgen
import run

HOST = loadgen.HOST
PROBE_SOURCE = '127.0.0.100'
"""The measuring clients' address: not one a flood comes from, so no per-address limit
of the flood's is theirs."""

SPREAD = ['127.0.0.%d' % number for number in range(2, 18)]
"""The 16 addresses of the spread floods."""

KINDS = ('ws-frames', 'ws-pings', 'iac-nop', 'empty-lines')
SCENARIOS = list(KINDS) + [kind + '-16' for kind in KINDS]

PERIOD = 0.25
"""Seconds between one measuring client's pings: 4 lines a second, under the default
line rate (5 a second), so the measuring clients are never paced themselves."""

LONGEST_REPLY = 10.0
"""Seconds a ping's reply is waited for after the last phase; later ones count as lost."""

CHAT = ['-m', 'chat', '--host', HOST, '--log-level', 'WARNING']
"""The server as it is deployed: its default limits, line rate and per-address limit on."""


# ---- the flood: a process of its own

def _mask(opcode, payload, fin=True):
    """One client frame: masked, as RFC 6455 requires of a client (a fixed key will do)."""
    return (bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + b'\x11\x22\x33\x44'
            + bytes(byte ^ b'\x11\x22\x33\x44'[i % 4] for i, byte in enumerate(payload)))


def flood_bytes(kind, size=65536):
    """About size bytes of a kind of flood, whole frames or commands, to be sent over and
    over: the stream stays well formed however it is cut into sends."""
    if kind == 'ws-frames':
        unit = (_mask(0x1, b' ', fin=False) + _mask(0x0, b' ', fin=False) * 30
                + _mask(0x0, b' ') + _mask(0x1, b'') * 32)
    elif kind == 'ws-pings':
        unit = _mask(0x9, b'p')
    elif kind == 'iac-nop':
        unit = b'\xff\xf1'
    elif kind == 'empty-lines':
        unit = b'\r\n'
    else:
        raise ValueError('no flood of kind %r' % kind)
    return unit * max(1, size // len(unit))


class Flooder:
    """One flood connection: connect (and upgrade, over WebSocket), then send the flood
    over and over, as fast as the server takes it, dropping whatever comes back."""

    def __init__(self, kind, source, port):
        self.websocket = kind.startswith('ws-')
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((source, 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect_ex((HOST, port))
        self.port = port
        self.source = source
        self.state = 'connecting'
        self.head = b''
        self.offset = 0


def flood(kind, port, sources, connections, longest):
    """Flood port from sources (the connections spread over them) until SIGTERM, or
    `longest` seconds. Prints `ready` once every connection is flooding, and at the end
    a JSON line of what was done."""
    loadgen.raise_open_file_limit()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    blob = memoryview(flood_bytes(kind))
    upgrade = (b'GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade'
               b'\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13'
               b'\r\n\r\n' % (loadgen.WS_PATH.encode(), HOST.encode(), port))
    selector = selectors.DefaultSelector()
    figures = {'kind': kind, 'connections': connections, 'addresses': len(sources),
               'opened': 0, 'closed_by_server': 0, 'refused': 0, 'bytes_sent': 0,
               'bytes_received': 0}
    retry = []                               # (when, source): reconnect after a close

    def open_one(source):
        flooder = Flooder(kind, source, port)
        selector.register(flooder.sock, selectors.EVENT_WRITE, flooder)
        figures['opened'] += 1

    def lost(flooder, refused=False):
        selector.unregister(flooder.sock)
        flooder.sock.close()
        figures['refused' if refused else 'closed_by_server'] += 1
        retry.append((time.monotonic() + 0.1, flooder.source))

    for number in range(connections):
        open_one(sources[number % len(sources)])
    flooding = 0
    ready = False
    started = time.monotonic()
    cpu = time.process_time()
    while not stop and time.monotonic() - started < longest:
        now = time.monotonic()
        while retry and retry[0][0] <= now:
            open_one(retry.pop(0)[1])
        for key, events in selector.select(0.05):
            flooder = key.data
            if flooder.state == 'connecting':
                if flooder.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    lost(flooder, refused=True)
                    continue
                if flooder.websocket:
                    flooder.sock.send(upgrade)
                    flooder.state = 'upgrading'
                    selector.modify(flooder.sock, selectors.EVENT_READ, flooder)
                else:
                    flooder.state = 'flooding'
                    flooding += 1
                    selector.modify(flooder.sock, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                    flooder)
                continue
            if events & selectors.EVENT_READ:
                try:
                    data = flooder.sock.recv(65536)
                except ConnectionError:
                    data = b''
                if not data:
                    flooding -= flooder.state == 'flooding'
                    lost(flooder)
                    continue
                figures['bytes_received'] += len(data)
                if flooder.state == 'upgrading':
                    flooder.head += data
                    if b'\r\n\r\n' in flooder.head:
                        if not flooder.head.startswith(b'HTTP/1.1 101'):
                            lost(flooder, refused=True)
                            continue
                        flooder.state = 'flooding'
                        flooding += 1
                        selector.modify(flooder.sock,
                                        selectors.EVENT_READ | selectors.EVENT_WRITE, flooder)
                    continue
            if events & selectors.EVENT_WRITE and flooder.state == 'flooding':
                try:
                    sent = flooder.sock.send(blob[flooder.offset:])
                except BlockingIOError:
                    continue
                except ConnectionError:
                    flooding -= 1
                    lost(flooder)
                    continue
                figures['bytes_sent'] += sent
                flooder.offset = (flooder.offset + sent) % len(blob)
        if not ready and flooding >= connections:
            ready = True
            print('ready', flush=True)
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    figures['seconds'] = round(time.monotonic() - started, 2)
    figures['cpu_s'] = round(time.process_time() - cpu, 2)
    print(json.dumps(figures), flush=True)


# ---- the server, and the measuring clients

class Server(run.Server):
    """chat with its default limits, on a free telnet port and a free web port."""

    def __init__(self, python=sys.executable, timeout=15.0, profile=None):
        self.name = 'chat'
        self.directory = None          # no database (run.Server's stop looks)
        self.port = run.free_port()
        self.web_port = run.free_port()
        while self.web_port == self.port:
            self.web_port = run.free_port()
        command = [python] + (['-m', 'cProfile', '-o', profile] if profile else []) + CHAT + [
            '--port', str(self.port), '--web-port', str(self.web_port)]
        self.log = tempfile.TemporaryFile(mode='w+')
        self.proc = subprocess.Popen(command, cwd=run.ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(timeout)
            port, self.port = self.port, self.web_port
            self._wait_ready(timeout)
            self.port = port
        except BaseException:
            self.stop()
            raise

    def cpu_s(self):
        return loadgen.server_figures(self.pid)['cpu_s']


class Probe:
    """A measuring client: logged in over telnet, it sends `/msg SELF ping N` every
    PERIOD seconds (or when the last reply comes, if that is later) and times the reply."""

    def __init__(self, port, source, nick, first):
        self.nick = nick
        self.sock = socket.create_connection((HOST, port), timeout=10,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(b'/login %s\n' % nick.encode())
        buffer = b''
        while loadgen.LOGGED_IN not in buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError('the server closed %s while it logged in' % nick)
            buffer += data
        self.sock.setblocking(False)
        self.buffer = b''
        self.number = 0
        self.waiting = None          # (number, sent at) of the ping in flight
        self.due = first

    def send(self, now):
        self.number += 1
        self.sock.sendall(b'/msg %s ping %d\n' % (self.nick.encode(), self.number))
        self.waiting = (self.number, now)
        self.due = now + PERIOD

    def receive(self, now):
        """Read; return (sent at, round trip s) if the reply to the ping in flight is here."""
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError('the server closed %s' % self.nick)
        self.buffer = (self.buffer + data)[-4096:]
        if self.waiting is None:
            return None
        number, sent = self.waiting
        marker = b', privately: ping %d\r\n' % number
        if marker not in self.buffer:
            return None
        self.buffer = self.buffer.partition(marker)[2]
        self.waiting = None
        return sent, now - sent


def probe_until(probes, selector, samples, until, flood=None):
    """Run the measuring clients until the clock reaches until, or (with flood, the
    flood's process) until it has said a line; return that line, or None."""
    while True:
        now = time.perf_counter()
        if now >= until:
            return None
        for probe in probes:
            if probe.waiting is None and probe.due <= now:
                probe.send(now)
        wake = min([probe.due for probe in probes if probe.waiting is None] + [until])
        for key, _ in selector.select(max(0.0, wake - time.perf_counter())):
            now = time.perf_counter()
            if key.data == 'flood':
                line = flood.stdout.readline()
                return line.decode().strip() or 'EOF'
            sample = key.data.receive(now)
            if sample:
                samples.append(sample)


def figures_of(samples, start, end):
    """p50, p99 and max (ms) of the round trips of the pings sent in [start, end)."""
    trips = [trip * 1000 for sent, trip in samples if start <= sent < end]
    if not trips:
        return {'p50_ms': None, 'p99_ms': None, 'max_ms': None, 'pings': 0, 'over_50_ms': 0}
    return {'p50_ms': round(statistics.median(trips), 3),
            'p99_ms': round(loadgen.percentile(trips, 0.99), 3),
            'max_ms': round(max(trips), 3), 'pings': len(trips),
            'over_50_ms': sum(trip > 50 for trip in trips)}


def recovered_s(samples, end, after, baseline_p50):
    """The end, in seconds after end, of the first whole second after it whose p50 is
    normal (see the module's docstring), or None."""
    normal = max(2 * baseline_p50, baseline_p50 + 1.0)
    for second in range(int(after)):
        window = figures_of(samples, end + second, end + second + 1)
        if window['p50_ms'] is not None and window['p50_ms'] <= normal:
            return second + 1
    return None


def scenario(name, args, probe_source, single_source, python, profile=None):
    """One scenario on a fresh server; return its figures."""
    kind = name[:-3] if name.endswith('-16') else name
    sources = SPREAD if name.endswith('-16') else [single_source]
    connections = args.connections
    if single_source == probe_source and not name.endswith('-16'):
        connections = min(connections, 63)       # one address for all: leave the probes one
    server = Server(python, profile=profile)
    probes, flood = [], None
    selector = selectors.DefaultSelector()
    samples = []
    try:
        tag = ''.join(random.choice(string.ascii_lowercase) for _ in range(3))
        start = time.perf_counter()
        for number in range(args.probes):
            probes.append(Probe(server.port, probe_source, 'p%s%d' % (tag, number),
                                start + number * PERIOD / args.probes))
            selector.register(probes[-1].sock, selectors.EVENT_READ, probes[-1])
        baseline_start = time.perf_counter()
        probe_until(probes, selector, samples, baseline_start + args.baseline)
        baseline_end = time.perf_counter()
        cpu_start = server.cpu_s()            # the flood starts now: each connection floods
        port = server.web_port if kind.startswith('ws-') else server.port
        flood = subprocess.Popen(
            [python, os.path.abspath(__file__), '--flood', kind, '--port', str(port),
             '--sources', ','.join(sources), '--connections', str(connections),
             '--longest', str(args.seconds + 60)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        selector.register(flood.stdout, selectors.EVENT_READ, 'flood')
        said = probe_until(probes, selector, samples, time.perf_counter() + 30, flood)
        if said != 'ready':
            raise RuntimeError('the flood did not start: %r' % said)
        ready = time.perf_counter()           # every connection of the flood is open
        probe_until(probes, selector, samples, ready + args.seconds)
        flood.send_signal(signal.SIGTERM)
        said = probe_until(probes, selector, samples, time.perf_counter() + 30, flood)
        flood.wait(10)
        attack_end = time.perf_counter()      # the flood's connections are closed
        cpu_end = server.cpu_s()
        selector.unregister(flood.stdout)
        flooded = json.loads(said)
        probe_until(probes, selector, samples, attack_end + args.after)
        after_end = time.perf_counter()
        cpu_after = server.cpu_s()
        for probe in probes:                 # the last pings' replies
            probe.due = float('inf')
        deadline = time.perf_counter() + LONGEST_REPLY
        while any(probe.waiting for probe in probes) and time.perf_counter() < deadline:
            probe_until(probes, selector, samples, min(deadline, time.perf_counter() + 0.1))
        lost = sum(probe.waiting is not None for probe in probes)
    finally:
        for probe in probes:
            probe.sock.close()
        if flood is not None and flood.poll() is None:
            flood.kill()
            flood.wait()
        selector.close()
        code = server.stop()
        log = server.output().splitlines()
    baseline = figures_of(samples, baseline_start, baseline_end)
    attack_start = baseline_end
    during = figures_of(samples, attack_start, attack_end)
    after = figures_of(samples, attack_end, after_end)
    recovered = recovered_s(samples, attack_end, args.after, baseline['p50_ms'] or 0.0)
    figures = {
        'connections': connections, 'addresses': len(sources),
        'baseline': baseline, 'during': during, 'after': after,
        'attack_s': round(attack_end - attack_start, 2),
        'ramp_s': round(ready - attack_start, 2),
        'server_cpu_s': round(cpu_end - cpu_start, 2),
        'server_cpu_share': round((cpu_end - cpu_start) / (attack_end - attack_start), 2),
        'server_cpu_after_s': round(cpu_after - cpu_end, 2),
        'recovered_s': recovered,
        'seconds_p50_ms': [figures_of(samples, attack_start + second, attack_start + second + 1)
                           ['p50_ms'] for second in range(int(args.seconds + args.after))],
        'lost_pings': lost,
        'flood': flooded,
        'flood_mb_per_s': round(flooded['bytes_sent'] / 1e6 / flooded['seconds'], 2),
        'server_exit_code': code,
        'server_log': log[-20:],
    }
    figures['goal_met'] = bool(
        during['p50_ms'] is not None and during['p50_ms'] < 5 and during['p99_ms'] < 50
        and recovered is not None and recovered <= 1)
    return figures


# ---- the table

COLUMNS = [
    ('baseline p50 ms', lambda f: f['baseline']['p50_ms']),
    ('during p50 ms', lambda f: f['during']['p50_ms']),
    ('during p99 ms', lambda f: f['during']['p99_ms']),
    ('during max ms', lambda f: f['during']['max_ms']),
    ('during pings', lambda f: f['during']['pings']),
    ('during pings > 50 ms', lambda f: f['during']['over_50_ms']),
    ('after p50 ms', lambda f: f['after']['p50_ms']),
    ('after p99 ms', lambda f: f['after']['p99_ms']),
    ('after max ms', lambda f: f['after']['max_ms']),
    ('normal after s', lambda f: f['recovered_s']),
    ('server CPU s', lambda f: f['server_cpu_s']),
    ('server CPU / wall', lambda f: f['server_cpu_share']),
    ('flood MB/s sent', lambda f: f['flood_mb_per_s']),
    ('flood conns closed', lambda f: f['flood']['closed_by_server'] + f['flood']['refused']),
]


def table(runs, names):
    """One row per scenario: the median of each figure over the runs, and whether the
    goal was met in every run ('yes'), in some ('k/n') or none ('no')."""
    lines = ['| scenario | conns / addresses | ' + ' | '.join(label for label, _ in COLUMNS)
             + ' | goal met |',
             '|---|---|' + '---:|' * len(COLUMNS) + '---|']
    for name in names:
        results = [one[name] for one in runs if name in one]
        if not results:
            continue
        done = [figures for figures in results if 'error' not in figures]
        if not done:
            lines.append('| %s | %s |' % (name, results[0]['error']))
            continue
        cells = []
        for _, figure in COLUMNS:
            values = [figure(figures) for figures in done]
            if any(value is None for value in values):
                cells.append('none' if all(value is None for value in values) else
                             '%d of %d none' % (values.count(None), len(values)))
            else:
                cells.append(run._number(statistics.median(values)))
        met = sum(figures['goal_met'] for figures in done)
        goal = 'yes' if met == len(results) else 'no' if not met else '%d/%d' % (
            met, len(results))
        lines.append('| %s | %d / %d | %s | %s |' % (
            name, done[0]['connections'], done[0]['addresses'], ' | '.join(cells), goal))
    return '\n'.join(lines)


def spread_works():
    """Whether this machine answers on 127.0.0.2 and the rest of 127/8 (Linux does)."""
    try:
        with socket.socket() as probe:
            probe.bind((PROBE_SOURCE, 0))
        return True
    except OSError:
        return False


def load_average():
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=3, help='runs of every scenario (default 3)')
    parser.add_argument('--seconds', type=float, default=5.0,
                        help='seconds of flood (default 5)')
    parser.add_argument('--after', type=float, default=5.0,
                        help='seconds measured after the flood (default 5)')
    parser.add_argument('--baseline', type=float, default=2.0,
                        help='seconds measured before the flood (default 2)')
    parser.add_argument('--probes', type=int, default=4,
                        help='measuring clients, each pinging 4 times a second (default 4)')
    parser.add_argument('--connections', type=int, default=64,
                        help='flood connections (default 64: the per-address limit)')
    parser.add_argument('--scenarios', help='comma-separated, from: %s' % ', '.join(SCENARIOS))
    parser.add_argument('--quick', action='store_true',
                        help='1 run, 1 s of flood, 1 s after, 0.5 s of baseline: a smoke test')
    parser.add_argument('--profile', metavar='DIR',
                        help='run the server under cProfile, a profile per scenario and run '
                             'into DIR')
    parser.add_argument('--python', default=sys.executable,
                        help='interpreter for the server and the flood (default: this one)')
    parser.add_argument('--json', metavar='PATH', help='also write the table and every figure')
    parser.add_argument('--flood', choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument('--port', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--sources', help=argparse.SUPPRESS)
    parser.add_argument('--longest', type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.flood:                         # the flood's own process
        flood(args.flood, args.port, args.sources.split(','), args.connections, args.longest)
        return 0
    if args.quick:
        args.runs, args.seconds, args.after, args.baseline = 1, 1.0, 1.0, 0.5
    names = args.scenarios.split(',') if args.scenarios else list(SCENARIOS)
    for name in names:
        if name not in SCENARIOS:
            parser.error('unknown scenario %r: choose from %s' % (name, ', '.join(SCENARIOS)))
    loadgen.raise_open_file_limit()
    if spread_works():
        probe_source, single_source = PROBE_SOURCE, HOST
    else:
        probe_source = single_source = HOST
        spread = [name for name in names if name.endswith('-16')]
        names = [name for name in names if not name.endswith('-16')]
        print('note: only 127.0.0.1 answers here: the measuring clients share it with the '
              'flood (63 connections), and %s are left out' % (', '.join(spread) or 'none'),
              file=sys.stderr)
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    load_before = load_average()
    started = time.monotonic()
    runs = []
    for number in range(1, args.runs + 1):
        results = {}
        for name in names:
            profile = (os.path.join(args.profile, '%s-run%d.prof' % (name, number))
                       if args.profile else None)
            try:
                results[name] = scenario(name, args, probe_source, single_source,
                                         args.python, profile)
            except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
                results[name] = {'error': '%s: %s' % (type(error).__name__, error)}
            figures = results[name]
            print('run %d/%d %s: %s' % (number, args.runs, name, 'error: ' + figures['error']
                                        if 'error' in figures else
                                        'during p50 %s ms p99 %s ms, normal after %s s, '
                                        'server CPU %s s' % (
                                            figures['during']['p50_ms'],
                                            figures['during']['p99_ms'],
                                            figures['recovered_s'], figures['server_cpu_s'])),
                  file=sys.stderr, flush=True)
        runs.append(results)
    seconds = time.monotonic() - started
    load_after = load_average()

    text = table(runs, names)
    print(text)
    print('\n%d run(s)%s in %.0f s: %g s of flood, %g s after, %d measuring clients at %g '
          'pings/s each; each cell the median over the runs.' % (
              args.runs, ' (quick)' if args.quick else '', seconds, args.seconds, args.after,
              args.probes, 1 / PERIOD))
    print("Goal: p50 < 5 ms and p99 < 50 ms during the flood; back to normal (a second's "
          "p50 within 2x the baseline's, or +1 ms) within 1 s after it.")
    if load_before:
        print('Load average: %.2f before, %.2f after (1 min).' % (load_before[0],
                                                                   load_after[0]))
    for number, results in enumerate(runs, 1):
        for name, figures in results.items():
            if figures.get('lost_pings'):
                print('run %d %s: %d pings never answered' % (number, name,
                                                              figures['lost_pings']))
            if figures.get('server_log'):
                print('run %d %s: the server logged:\n  %s'
                      % (number, name, '\n  '.join(figures['server_log'])))
    if args.json:
        with open(args.json, 'w') as out:
            json.dump({'scenarios': names, 'runs': runs, 'seconds': round(seconds, 1),
                       'settings': {key: getattr(args, key) for key in (
                           'seconds', 'after', 'baseline', 'probes', 'connections', 'quick')},
                       'load_average': [load_before, load_after], 'table': text},
                      out, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
