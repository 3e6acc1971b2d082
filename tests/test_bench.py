"""bench/opcodes.py: its count of bytecode instructions is what it claims, and steady;
bench/attack.py: it floods, measures and reports."""

import json
import os
import subprocess
import sys

import pytest

from chat.loop import LOOPS

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'bench')


def count():
    output = subprocess.run([sys.executable, os.path.join(BENCH, 'opcodes.py'), '--lines', '20'],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [line.split('|')[1:4] for line in output.splitlines()[2:]]
    return {name.strip(): (int(opcodes), int(calls)) for name, opcodes, calls in rows}


def test_the_count_of_instructions_per_line_agrees_in_every_run():
    first = count()
    chat = 'chat-' + LOOPS[0]
    assert sorted(first) == ['asyncio', chat, chat + ', limits on']
    # A line passes through at least the session's input, the room and the send.
    assert first[chat][1] >= 10 and first[chat][0] > 100
    # Within 1%: a round the kernel adds by handing loopback data over late is counted.
    second = count()
    assert sorted(second) == sorted(first)
    assert all(abs(second[row][0] - first[row][0]) <= 0.01 * first[row][0]
               and abs(second[row][1] - first[row][1]) <= 0.01 * first[row][1] + 1
               for row in first), second


def test_the_attack_benchmark_runs_a_flood_and_reports_round_trips(tmp_path):
    """bench/attack.py, one short scenario for real: it floods, measures and reports.
    Its figures are the benchmark's to judge; here only that they are there and sane."""
    if not os.path.exists('/proc/self/stat'):
        pytest.skip("the attack benchmark reads the server's CPU from /proc")
    out = tmp_path / 'attack.json'
    result = subprocess.run(
        [sys.executable, os.path.join(BENCH, 'attack.py'), '--quick', '--scenarios', 'iac-nop',
         '--probes', '2', '--json', str(out)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '| iac-nop | 64 / 1 |' in result.stdout or '| iac-nop | 63 / 1 |' in result.stdout
    figures = json.loads(out.read_text())['runs'][0]['iac-nop']
    assert 'error' not in figures, figures
    for phase in ('baseline', 'during', 'after'):
        assert figures[phase]['pings'] > 0
        assert 0 < figures[phase]['p50_ms'] <= figures[phase]['p99_ms'] <= figures[phase]['max_ms']
    assert figures['lost_pings'] == 0
    assert figures['flood']['opened'] >= figures['connections'] and figures['flood']['bytes_sent']
    assert figures['server_cpu_s'] >= 0 and figures['attack_s'] >= 1.0
    assert figures['recovered_s'] in (None, 1)       # one second measured after the flood
    assert isinstance(figures['goal_met'], bool)
# ---- chat-db: chat with --db in bench/run.py, and bench/dbwrite.py's write cost

def _bench_modules():
    """bench/run.py and bench/loadgen.py, imported from bench/ (skip where they cannot run:
    the load generator reads /proc, and chat-db runs on the epoll loop)."""
    import importlib
    import select

    import pytest
    if not os.path.exists('/proc/self/stat') or not hasattr(select, 'epoll'):
        pytest.skip("bench/run.py runs chat-db on epoll and reads the server's /proc")
    if BENCH not in sys.path:
        sys.path.append(BENCH)
    return importlib.import_module('run'), importlib.import_module('loadgen')


def test_chat_db_starts_on_a_new_database_keeps_the_lines_and_removes_it():
    import contextlib
    import sqlite3
    run, loadgen = _bench_modules()
    assert run.ratio_columns(['chat-epoll', 'chat-db', 'asyncio']) == [
        ('chat-epoll', 'asyncio'), ('chat-db', 'chat-epoll')]
    assert ('chat-db', 'chat-epoll') not in run.ratio_columns(['chat-db', 'asyncio'])
    server = run.Server('chat-db')
    try:
        assert '--db' in server.proc.args and os.path.exists(server.db)
        fanout = loadgen.fanout(server.port, clients=12, senders=3, lines=20, pid=server.pid)
        assert fanout['deliveries'] == 3 * 20 * 11
        assert (fanout['lost'], fanout['duplicated'], fanout['reordered']) == (0, 0, 0)
        pingpong = loadgen.idle_pingpong(server.port, idle=10, rounds=20, pid=server.pid)
        assert pingpong['rounds'] == 20
        with contextlib.closing(sqlite3.connect('file:%s?mode=ro' % server.db,
                                                uri=True)) as reader:
            kept = reader.execute("SELECT count(*) FROM said WHERE body LIKE 'B0%'").fetchone()
        assert kept[0] == 3 * 20                  # every fan-out line, once
    finally:
        code = server.stop()
        output = server.output()
        server.log.close()
    assert code == 0
    assert not os.path.exists(os.path.dirname(server.db)), 'the database was left behind'
    assert output == ''                           # at WARNING: nothing to say


def test_the_write_cost_of_rounds_is_timed_for_each_size():
    _bench_modules()
    output = subprocess.run([sys.executable, os.path.join(BENCH, 'dbwrite.py'), 'rounds',
                             '--rounds', '20', '--sizes', '1,32'],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    rows = {line.split('|')[1].strip(): line.split('|')[2:-1]
            for line in output.splitlines() if line.startswith('| ') and '---' not in line}
    assert sorted(rows) == ['1', '32', 'lines said a round']
    assert [int(rows[size][0]) for size in ('1', '32')] == [20, 20]      # rounds
    assert [int(rows[size][1]) for size in ('1', '32')] == [1, 32]       # lines a round
