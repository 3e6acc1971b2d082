"""What a round's write to the database costs: `Store.write`, timed, per round.

With `--db FILE` the server writes the lines said in a round (and the other
changes: resume codes, bans, mutes) in one transaction at the schedule's next
tick, before that round's output is sent (chat/store.py). That write is on
the path of every line, so its duration is what a round waits for. This
script times it two ways:

1. `rounds` (standalone, seconds): a `Store` on a new file in a temporary
   directory, and rounds of N lines said (N = 1, 10, 32, 100, 1000 by
   default) appended to a `Said` deque as the rooms append them to the
   server's `recent`, each round written with `Store.write()`, as the `Writes`
   timer does.
2. `server`: chat itself (chat-epoll with `--db`, started by run.py's
   `Server`), with `Store.write` wrapped in the server's process to time
   every call (`--serve`, below), under the ping-pong, the login storm and
   the fan-out burst of bench/loadgen.py at their `make bench` sizes. Each
   scenario's rounds are given twice: all of them (the logins' rounds write
   resume codes, `other changes`), and those that wrote lines said.

For each: the rounds written, the lines (and other changes) per round, the
median, p99 and max of a round's write in microseconds, and the lines a
second the writer sustains (lines over the time spent writing). A commit in
WAL mode with `synchronous=NORMAL` appends to the WAL without an fsync; every
1000 pages of WAL (SQLite's automatic checkpoint) the commit that crosses the
mark copies the WAL into the database and fsyncs both: `checkpoints` counts
the rounds whose write changed the database file itself (its modification
time), and `ckpt median`/`ckpt max` time those rounds alone.

    python bench/dbwrite.py                       # both, about a minute
    python bench/dbwrite.py rounds --rounds 5000 --sizes 1,32,1000
    python bench/dbwrite.py server --dir /var/tmp # the database on another disk
    python bench/dbwrite.py --json out.json

Everything is the checkout's own chat package, imported from the working
tree; the database files are removed when each part is done.
"""

import argparse
import atexit
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZES = (1, 10, 32, 100, 1000)
"""Lines said per round in the standalone part: one line (a quiet room, the ping-pong),
a turn of one session (LINES_PER_ROUND), up to a round of a busy server."""

ROUNDS = 2000
"""Rounds written per size in the standalone part."""

BODY = 'B003 000123 ' + 'x' * 40
"""A line's body, as long as the fan-out's lines."""


def percentile(values, fraction):
    """The value below which `fraction` of values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def summary(records):
    """The figures of a list of (microseconds, lines, changes, checkpointed) rounds."""
    if not records:
        return {'rounds': 0}
    times = [record[0] for record in records]
    lines = [record[1] for record in records]
    checkpoints = [record[0] for record in records if record[3]]
    spent = sum(times) / 1e6
    return {
        'rounds': len(records),
        'lines': sum(lines),
        'lines_median': percentile(lines, 0.5),
        'lines_max': max(lines),
        'changes': sum(record[2] for record in records),
        'median_us': round(percentile(times, 0.5), 1),
        'p99_us': round(percentile(times, 0.99), 1),
        'max_us': round(max(times), 1),
        'checkpoints': len(checkpoints),
        'ckpt_median_us': round(percentile(checkpoints, 0.5), 1) if checkpoints else None,
        'ckpt_max_us': round(max(checkpoints), 1) if checkpoints else None,
        'write_s': round(spent, 4),
        'lines_per_s': round(sum(lines) / spent) if spent and sum(lines) else None,
    }


def mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


# ---- 1. standalone: a Store and rounds of N lines

def rounds(sizes=SIZES, count=ROUNDS, directory=None):
    """Write `count` rounds of each size of lines said to a new Store; the figures by size."""
    from chat import events
    from chat.server import RECENT
    from chat.store import Said, Store
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix='chat-dbwrite-', dir=directory) as folder:
            path = os.path.join(folder, 'chat.db')
            store = Store(path)
            recent = Said(max(RECENT, size), store)   # as a server with --db holds it
            records = []
            seq = 0
            clock = time.perf_counter_ns
            try:
                for _ in range(count):
                    for _ in range(size):
                        seq += 1
                        recent.append(events.said('say', 'nick: ' + BODY, {
                            'from': 'nick%d' % (seq % 10), 'room': 'python', 'body': BODY}, seq))
                    before = mtime(path)
                    start = clock()
                    store.write()
                    took = (clock() - start) / 1000
                    records.append((took, size, 0, mtime(path) != before))
            finally:
                store.close()
            results[size] = summary(records)
    return results


# ---- 2. in the server: Store.write wrapped, the scenarios of loadgen

def serve(out, argv):
    """Run chat's main with argv, every Store.write timed; at exit, the records to out."""
    from chat import store as store_module
    from chat.__main__ import main
    original = store_module.Store.write
    records = []                       # (monotonic ns at the start, us, lines, changes, ckpt)

    def timed_write(self, clock=time.perf_counter_ns):
        lines, changes = len(self.lines), len(self.changes)
        before = mtime(self.path)
        start = clock()
        original(self)
        took = (clock() - start) / 1000
        records.append((time.monotonic_ns(), took, lines, changes, mtime(self.path) != before))

    def dump():
        with open(out, 'w') as file:
            json.dump(records, file)

    store_module.Store.write = timed_write
    atexit.register(dump)
    return main(argv)


def server(directory=None):
    """Start chat with --db (its Store.write timed), run the ping-pong, the storm and the
    fan-out at make bench's sizes; the figures by scenario, each over its own interval."""
    import loadgen
    import run
    loadgen.raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix='chat-dbwrite-', dir=directory) as folder:
        out = os.path.join(folder, 'writes.json')
        run.SERVERS['chat-db-timed'] = ([os.path.abspath(__file__), '--serve', out, '--']
                                        + run.CHAT[2:] + ['--loop', 'epoll', '--no-web',
                                                          '--db', os.path.join(folder, 'chat.db')])
        spans = {}
        instance = run.Server('chat-db-timed')
        try:
            for scenario in ('pingpong', 'storm', 'fanout'):
                begin = time.monotonic_ns()
                figures = loadgen.SCENARIOS[scenario](instance.port, pid=instance.pid,
                                                      **run.FULL[scenario])
                spans[scenario] = (begin, time.monotonic_ns(), figures)
                print('%s: %s' % (scenario, {key: figures.get(key) for key in (
                    'p50_ms', 'p99_ms', 'seconds', 'deliveries_per_s', 'lost')
                    if key in figures}), file=sys.stderr, flush=True)
        finally:
            code = instance.stop()
        if code:
            raise RuntimeError('the server exited with %s:\n%s' % (code, instance.output()))
        with open(out) as file:
            records = json.load(file)
    results = {}
    for scenario, (begin, end, _) in spans.items():
        during = [record[1:] for record in records if begin <= record[0] < end]
        results[scenario] = summary(during)
        results[scenario + ', rounds with lines'] = summary([
            record for record in during if record[1]])
    return results


# ---- the tables

COLUMNS = [('rounds', 'rounds'), ('lines_median', 'lines/round'), ('lines_max', 'most lines'),
           ('changes', 'other changes'),
           ('median_us', 'median us'), ('p99_us', 'p99 us'), ('max_us', 'max us'),
           ('checkpoints', 'checkpoints'), ('ckpt_median_us', 'ckpt median us'),
           ('lines_per_s', 'lines/s written')]


def table(first, results):
    lines = ['| %s | %s |' % (first, ' | '.join(label for _, label in COLUMNS)),
             '|---|' + '---:|' * len(COLUMNS)]
    for name, figures in results.items():
        lines.append('| %s | %s |' % (name, ' | '.join(
            '' if figures.get(key) is None else str(figures[key]) for key, _ in COLUMNS)))
    return '\n'.join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--serve']:        # the server's process: python dbwrite.py --serve OUT -- ...
        return serve(argv[1], argv[3:])
    parser = argparse.ArgumentParser(description="What a round's write to the database costs.")
    parser.add_argument('part', nargs='?', choices=('rounds', 'server', 'both'), default='both')
    parser.add_argument('--sizes', default=','.join(map(str, SIZES)),
                        help='rounds: lines per round, comma-separated (default: %(default)s)')
    parser.add_argument('--rounds', type=int, default=ROUNDS,
                        help='rounds: rounds written per size (default: %(default)s)')
    parser.add_argument('--dir', help='where the database files go (default: the temporary '
                                      'directory, %s)' % tempfile.gettempdir())
    parser.add_argument('--json', metavar='PATH', help='also write the figures there')
    args = parser.parse_args(argv)
    import sqlite3
    print('SQLite %s, Python %s, the files in %s' % (
        sqlite3.sqlite_version, sys.version.split()[0], args.dir or tempfile.gettempdir()))
    results = {}
    if args.part in ('rounds', 'both'):
        results['rounds'] = rounds([int(size) for size in args.sizes.split(',')], args.rounds,
                                   args.dir)
        print('\nStore.write, standalone: %d rounds of each size\n' % args.rounds)
        print(table('lines said a round', results['rounds']))
    if args.part in ('server', 'both'):
        results['server'] = server(args.dir)
        print("\nStore.write in chat's process, during each scenario\n")
        print(table('scenario', results['server']))
    if args.json:
        with open(args.json, 'w') as out:
            json.dump(results, out, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
