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
