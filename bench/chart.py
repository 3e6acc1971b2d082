"""Charts of the benchmarks, as PNG files: from run.py's JSON, or from a scaling sweep.

    python bench/chart.py --from results.json --out DIR
    python bench/chart.py --sweep --out DIR [--runs N] [--servers chat-epoll,asyncio,...]

1. `--from` draws run.py's figures (written with `run.py --json`): one bar
   per server for each headline figure, at the median of the runs, with a
   line from the best run to the worst.
2. `--sweep` measures how each server scales, and draws it: fan-out
   deliveries per second against the members of the room (100, 300, 1000),
   and the ping-pong round trip (p50) against the idle clients beside it
   (0, 1000, 3000, 5000). One server process per server does all its points.
   A run is kept to about a minute: 50 lines per sender, 500 round trips or
   3 seconds a point. With `--runs N` the servers take turns N times, and
   each point is the median of its N figures: one run on a shared machine
   can be twice another. Every figure goes to DIR/sweep.json too.

matplotlib is optional for the project: without it this prints one line and
exits 1.
"""

import argparse
import json
import os
import statistics
import sys

import loadgen
import run

MEMBERS = (100, 300, 1000)
IDLE = (0, 1000, 3000, 5000)

HEADLINES = [
    # scenario, figure key, title
    ('fanout', 'deliveries_per_s', 'fan-out: deliveries/s (higher is better)'),
    ('paced', 'p50_ms', 'paced latency: p50 ms (lower is better)'),
    ('pingpong', 'p50_ms', 'idle ping-pong: round trip p50 ms (lower is better)'),
    ('storm', 'seconds', 'login storm: seconds (lower is better)'),
    ('pingpong', 'bytes_per_idle_session', 'RSS bytes per idle session (lower is better)'),
]


def chart_results(results, out, pyplot):
    """Draw run.py's headline figures, one panel each, to OUT/results.png."""
    servers = results['servers']
    columns = 3
    rows = -(-len(HEADLINES) // columns)
    figure, axes = pyplot.subplots(rows, columns, figsize=(4.5 * columns, 3.8 * rows),
                                   squeeze=False)
    axes = axes.flatten()
    for ax in axes[len(HEADLINES):]:
        ax.set_visible(False)             # the grid's spare panels
    for ax, (scenario, key, title) in zip(axes, HEADLINES):
        medians, lows, highs = [], [], []
        for name in servers:
            values = [r[name].get(scenario, {}).get(key) for r in results['runs']]
            values = [value for value in values if value is not None] or [0]
            middle = statistics.median(values)
            medians.append(middle)
            lows.append(middle - min(values))
            highs.append(max(values) - middle)
        ax.bar(servers, medians, yerr=[lows, highs], capsize=4, color='#4a7ab5')
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis='x', labelsize=8, rotation=20)
    quick = ', quick' if results.get('quick') else ''
    figure.suptitle('%d run(s)%s' % (len(results['runs']), quick))
    figure.tight_layout()
    path = os.path.join(out, 'results.png')
    figure.savefig(path, dpi=100)
    return [path]


def sweep(servers, python, runs=1):
    """Run the scaling sweep runs times, the servers taking turns, in reverse order every
    other run (the machine's slow spells last minutes: no server always goes first).

    Returns {server: {'fanout': {members: [figures, ...]}, 'pingpong': {idle: [figures, ...]}}},
    one figures dict per run.
    """
    points = {name: {'fanout': {}, 'pingpong': {}} for name in servers}
    for number in range(1, runs + 1):
        for name in (servers if number % 2 else servers[::-1]):
            mine = points[name]
            server = run.Server(name, python)
            try:
                for members in MEMBERS:
                    figures = loadgen.fanout(
                        server.port, clients=members, senders=10, lines=50, pid=server.pid)
                    mine['fanout'].setdefault(members, []).append(figures)
                    print('run %d/%d %s fanout %d: %s deliveries/s' % (
                        number, runs, name, members, figures['deliveries_per_s']),
                        file=sys.stderr)
                for idle in IDLE:
                    figures = loadgen.idle_pingpong(
                        server.port, idle=idle, rounds=500, longest=3.0, pid=server.pid)
                    mine['pingpong'].setdefault(idle, []).append(figures)
                    print('run %d/%d %s pingpong %d idle: p50 %s ms' % (
                        number, runs, name, idle, figures['p50_ms']), file=sys.stderr)
            finally:
                server.stop()
    return points


def chart_sweep(points, out, pyplot):
    """Draw the sweep: OUT/fanout_scaling.png and OUT/pingpong_scaling.png."""
    paths = []
    for scenario, key, xlabel, ylabel, filename in [
            ('fanout', 'deliveries_per_s', 'members of the room', 'deliveries/s',
             'fanout_scaling.png'),
            ('pingpong', 'p50_ms', 'idle logged-in clients', 'round trip p50 (ms)',
             'pingpong_scaling.png')]:
        figure, ax = pyplot.subplots(figsize=(6, 4))
        for name, mine in points.items():
            xs = sorted(mine[scenario], key=int)
            ax.plot([int(x) for x in xs],
                    [statistics.median(f[key] for f in mine[scenario][x]) for x in xs],
                    marker='o', label=name)
        runs = max(len(figures) for mine in points.values() for figures in mine[scenario].values())
        ax.set_title('median of %d run(s)' % runs, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if scenario == 'fanout':
            ax.set_yscale('log')          # the servers differ by more than ten times
        ax.grid(True, alpha=0.3)
        ax.legend()
        figure.tight_layout()
        path = os.path.join(out, filename)
        figure.savefig(path, dpi=100)
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description='PNG charts of the chat benchmarks.')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--from', dest='source', metavar='JSON',
                        help='the file run.py --json wrote')
    source.add_argument('--sweep', action='store_true',
                        help='run the scaling sweep (about a minute) and chart it')
    parser.add_argument('--out', required=True, metavar='DIR', help='folder for the PNG files')
    parser.add_argument('--servers', default='chat-epoll,asyncio,asyncio-batched,uvloop-batched',
                        help='for --sweep, comma-separated (default: %(default)s)')
    parser.add_argument('--runs', type=int, default=1,
                        help='for --sweep, runs of every server; each point is their median')
    parser.add_argument('--python', default=sys.executable,
                        help='interpreter for the servers (default: this one)')
    args = parser.parse_args(argv)
    try:
        import matplotlib
    except ImportError:
        print('chart.py needs matplotlib (pip install matplotlib); run.py works without it.',
              file=sys.stderr)
        return 1
    matplotlib.use('Agg')                 # files only: no display needed
    from matplotlib import pyplot

    os.makedirs(args.out, exist_ok=True)
    if args.source:
        with open(args.source) as source:
            paths = chart_results(json.load(source), args.out, pyplot)
    else:
        servers = args.servers.split(',')
        unknown = [name for name in servers if name not in run.SERVERS]
        if unknown:
            parser.error('unknown server(s): %s' % ', '.join(unknown))
        loadgen.raise_open_file_limit()
        if args.runs < 1:
            parser.error('--runs must be at least 1')
        points = sweep(servers, args.python, args.runs)
        with open(os.path.join(args.out, 'sweep.json'), 'w') as out:
            json.dump(points, out, indent=1)
        paths = chart_sweep(points, args.out, pyplot)
    print('\n'.join(paths))
    return 0


if __name__ == '__main__':
    sys.exit(main())
