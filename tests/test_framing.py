"""Framing: what every framing shares. A byte stream gives the same lines and replies
however it is cut; clean leaves no control character in a line.

The split-invariance examples each run a real server and two real sessions over
loopback, and drive the loop by hand, so that each chunk sent is exactly one read.
"""

import asyncore
import re
import socket
import time
import unicodedata

import pytest
from conftest import TIMEOUT, StrictServer
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.framing import clean
from chat.limits import Limits
from chat.telnet import AYT_REPLY, Telnet

TOKENS = [
    b'\r', b'\n', b'\0', b'\r\n', b'\xff', b'\xff\xfd\x01', b'\xff\xfb\x03', b'\xff\xfa\x18',
    b'\xff\xf0', b'\xff\xf7', b'\xff\xf8', b'\xff\xf6', b'\xff\xf4', b'\xff\xff', b'\x08',
    b'\x7f', b'\x1b[1m', b'\t', ' é'.encode(), b'\xc3', b'\xe2\x80\xae', b'/help', b'/online',
    b'/back', b'/python', b'/write', b'/broadcast ', b'/', b'hello', b' ', b'x' * 10]
"""Pieces of a stream: line ends, telnet commands, editing, bad UTF-8, commands, text.
None of them can spell /logout, which would end the session partway."""

IN_THE_ROOM = b'You are in the room python. Type to chat; /help lists the commands.\r\n'

ANSWER = re.compile(re.escape(AYT_REPLY) + b'|\xff[\xfb-\xfe].', re.S)


def step(server):
    """Run the loop until every session has read what arrived and sent what it queued,
    ticking the schedule between rounds as chat's loop does (lines past a round's wait
    for the next)."""
    for _ in range(1000):
        server.schedule.tick(server.schedule.clock())
        asyncore.loop(0, use_poll=True, map=server.map, count=1)
        if not any(session.writable() for session in server.sessions):
            asyncore.loop(0, use_poll=True, map=server.map, count=1)   # anything read late
            if not any(session.writable() for session in server.sessions):
                return
    raise AssertionError('the loop never settled')


def receive(server, sock, until):
    """Run the loop until what sock has received ends with until (b'': until its end).

    Loopback hands data over as it is sent, but a loaded machine may defer
    that: the loop runs until what should come has come. Returns it all.
    """
    sock.setblocking(False)
    data = b''
    deadline = time.monotonic() + TIMEOUT
    while not (until and data.endswith(until)):
        assert time.monotonic() < deadline, 'never received %r, only %r' % (until, data)
        step(server)
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            continue
        if not chunk:
            assert not until, 'the end, before %r' % until
            break
        data += chunk
    return data


def replay(chunks):
    """Send chunks from a client in the room python, one read each; return what came back.

    Returns (the client's text replies, the multiset of its telnet answers,
    and what a listener in the same room received).
    """
    sockets = {}
    # No line rate: every line counts against it, empty ones too, and what this test cuts
    # up is one read's worth of lines, not a flood to pace (tests/test_pacing.py).
    server = StrictServer(0, '127.0.0.1', map=sockets, limits=Limits(max_line=32, line_rate=0))
    port = server.socket.getsockname()[1]
    listener = socket.create_connection(('127.0.0.1', port))
    fuzz = socket.create_connection(('127.0.0.1', port))
    try:
        listener.sendall(b'/login listener\r\n/python\r\n')
        receive(server, listener, IN_THE_ROOM)
        fuzz.sendall(b'/login fuzz\r\n/python\r\n')
        replies = receive(server, fuzz, IN_THE_ROOM)
        receive(server, listener, b'fuzz entered the room.\r\n')
        for chunk in chunks:
            fuzz.sendall(chunk)                        # on loopback: there by now, as a rule
            step(server)
        fuzz.shutdown(socket.SHUT_WR)
        replies += receive(server, fuzz, b'')          # the server closes it: its end
        heard = receive(server, listener, b'fuzz left the room.\r\n')
    finally:
        asyncore.close_all(sockets)
        server.close()
        listener.close()
        fuzz.close()
    answers = sorted(ANSWER.findall(replies))
    return ANSWER.sub(b'', replies), answers, heard


@settings(max_examples=200)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=40), st.data())
def test_any_stream_cut_anywhere_gives_the_same_lines_and_replies(tokens, data):
    stream = b''.join(tokens)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream)), max_size=len(stream))))
    chunks = [stream[i:j] for i, j in zip([0] + cuts, cuts + [len(stream)]) if i < j]
    assert replay(chunks) == replay([stream])


def test_replay_sees_what_a_stream_does():
    """The harness itself: a known stream gives the known lines and replies."""
    replies, answers, heard = replay([b'hel', b'lo\r', b'\n/onl', b'ine\r\n\xff\xfd\x01'])
    assert heard == b'fuzz: hello\r\nfuzz left the room.\r\n'
    assert b'Online in python (2): fuzz, listener\r\n' in replies
    assert answers == [b'\xff\xfc\x01']


# ---- clean: what is left of a line once it is framed

@pytest.mark.parametrize('raw, expected', [
    ('hello', 'hello'),
    ('  padded \t', 'padded'),
    ('tab\there', 'tab here'),
    ('abd\bc', 'abc'),
    ('abd\x7fc', 'abc'),
    ('\b\bstart', 'start'),
    ('你好\b', '你'),
    ('red \x1b[31mtext\x1b[0m', 'red [31mtext[0m'),
    ('bell\x07 and nul\x00', 'bell and nul'),
    ('c1 \x85\x9b here', 'c1  here'),
    ('evil \u202etxt.exe\u202c', 'evil txt.exe'),
    ('isolate \u2066x\u2069', 'isolate x'),
    ('\ufffd stays', '\ufffd stays'),
])
def test_clean(raw, expected):
    assert clean(raw) == expected


def _has_control(text):
    return any(unicodedata.category(char) == 'Cc'
               or 0x202a <= ord(char) <= 0x202e or 0x2066 <= ord(char) <= 0x2069
               for char in text)


@given(st.binary())
def test_any_bytes_give_lines_with_no_control_character(data):
    reader = Telnet(64)
    out = reader.feed(data) + reader.finish()
    for line in out.split(b'\n')[:-1]:
        text = clean(line.decode('utf-8', 'replace'))
        assert not _has_control(text)
        assert text == text.strip()
    assert len(reader._line) <= 64


@given(st.text())
def test_clean_of_any_text_has_no_control_character(text):
    assert not _has_control(clean(text))
