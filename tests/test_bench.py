"""bench/opcodes.py: its count of bytecode instructions is what it claims, and steady."""

import os
import subprocess
import sys

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
