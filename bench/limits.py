"""What the limits cost: a chat within them, with the limits on and with them off.

`python bench/limits.py [--runs N]` runs loadgen's `steady` scenario (150
clients from 5 addresses in the three rooms, each saying 2 lines a second:
under the default line rate and per-address limit) against the chat server
twice per run: with its default limits, and with `--line-rate 0
--max-per-address 0`, alternating. It prints the medians of each and the
median of the per-run ratios (on / off): what the bookkeeping of the limits
costs a workload that never meets them.
"""

import argparse
import statistics
import sys

import loadgen
import run

run.SERVERS['chat-limits'] = ['-m', 'chat', '--log-level', 'WARNING', '--login-timeout', '0']
"""chat with its default limits: a line rate of 5 a second, 64 connections per address."""

FIGURES = [('server_cpu_s', 'server CPU s'), ('p50_ms', 'latency p50 ms'),
           ('p99_ms', 'latency p99 ms'), ('lost', 'lines lost')]


def main(argv=None):
    parser = argparse.ArgumentParser(description='What the limits cost a chat within them.')
    parser.add_argument('--runs', type=int, default=5)
    args = parser.parse_args(argv)
    loadgen.raise_open_file_limit()
    results = {'chat-limits': [], 'chat-epoll': []}
    for number in range(1, args.runs + 1):
        for name in results:
            server = run.Server(name)
            try:
                results[name].append(loadgen.steady(server.port, pid=server.pid))
            finally:
                server.stop()
            print('run %d/%d %s: %s' % (number, args.runs, name, results[name][-1]),
                  file=sys.stderr, flush=True)
    print('| figure | limits on | limits off | on / off |')
    print('|---|---:|---:|---:|')
    for key, label in FIGURES:
        on = [figures[key] for figures in results['chat-limits']]
        off = [figures[key] for figures in results['chat-epoll']]
        ratios = [a / b for a, b in zip(on, off) if b]
        print('| %s | %s | %s | %s |' % (
            label, statistics.median(on), statistics.median(off),
            '%.2f' % statistics.median(ratios) if ratios else ''))
    print('\n%d runs of loadgen.steady; each cell the median, the ratio the median of '
          'the per-run ratios.' % args.runs)
    return 0


if __name__ == '__main__':
    sys.exit(main())
