"""chat/websocket.py, the WebSocket framing: pure, fed bytes, no sockets.

Every MUST of RFC 6455 that a server has, on the frame layer, is checked here
(docs/protocol.md's conformance table names each test), and hypothesis shows
that any split of a valid stream gives the same lines, and that any bytes
give lines or a close code, never an exception or unbounded memory.
"""

import struct

import pytest
from conftest import client_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.framing import ENDED, TOO_LONG
from chat.websocket import (BINARY, CLOSE, CONTINUATION, INVALID_DATA, PING, PONG,
                            PROTOCOL_ERROR, TEXT, UNSUPPORTED_DATA, WebSocket, accept_key,
                            close_frame, frame)


def feed(data, max_line=64):
    """Feed data to a new reader at once; return (lines, the reader). The empty lines by
    which frames that end no line cost what a line costs are left out: see costs()."""
    reader = WebSocket(max_line)
    out = reader.feed(data)
    return b''.join(line + b'\n' for line in out.split(b'\n')[:-1] if line), reader


def costs(data):
    """The empty lines data gives: what its frames that end no line cost."""
    return WebSocket().feed(data).split(b'\n')[:-1].count(b'')


@pytest.mark.parametrize('data, count', [
    (client_frame(b'one line'), 0), (client_frame(b'a\nb\nc'), 0),
    (client_frame(b''), 1), (client_frame(b'\r\n\n'), 1), (client_frame(b'x', PING), 1),
    (client_frame(b'', PONG), 1), (client_frame(b'x', PING) * 300, 300),
    (client_frame(b'h', fin=False) + client_frame(b'i', CONTINUATION), 1),
    (client_frame(b'h', fin=False) + client_frame(b'', CONTINUATION, fin=False)
     + client_frame(b'i', CONTINUATION), 2),
])
def test_every_frame_that_ends_no_line_costs_what_a_line_costs(data, count):
    assert costs(data) == count


def closing_code(data):
    """Feed data; return the close code the reader answers with (None if it does not)."""
    _, reader = feed(data)
    if not reader.ended:
        return None
    assert bytes(reader.answers).endswith(close_frame(reader.code))
    return reader.code


def close_payload(code, reason=b''):
    return struct.pack('!H', code) + reason


# ---- the handshake (4.2.2)

def test_the_accept_key_is_the_rfcs_example():
    assert accept_key('dGhlIHNhbXBsZSBub25jZQ==') == 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='


# ---- lines out of text messages

def test_a_text_message_is_lines_and_its_end_ends_the_last():
    assert feed(client_frame(b'one\r\ntwo\nthree\rfour'))[0] == b'one\ntwo\nthree\nfour\n'


def test_a_fragmented_message_is_reassembled():
    data = (client_frame(b'hel', fin=False) + client_frame(b'lo wo', CONTINUATION, fin=False)
            + client_frame(b'rld', CONTINUATION))
    assert feed(data)[0] == b'hello world\n'


def test_a_cr_lf_split_between_fragments_is_one_line_end():
    data = client_frame(b'a\r', fin=False) + client_frame(b'\nb', CONTINUATION)
    assert feed(data)[0] == b'a\nb\n'


def test_a_control_frame_may_come_between_fragments():
    data = (client_frame(b'hel', fin=False) + client_frame(b'!', PING)
            + client_frame(b'lo', CONTINUATION))
    lines, reader = feed(data)
    assert lines == b'hello\n' and bytes(reader.answers) == frame(b'!', PONG)


def test_utf8_split_between_fragments_is_valid():
    word = '你好'.encode()
    data = client_frame(word[:2], fin=False) + client_frame(word[2:], CONTINUATION)
    assert feed(data)[0] == word + b'\n'


def test_empty_lines_and_messages_give_nothing():
    assert feed(client_frame(b'') + client_frame(b'\r\n\n\r') + client_frame(b'x'))[0] == b'x\n'


def test_a_line_past_the_limit_is_cut_once_and_the_rest_dropped():
    lines, _ = feed(client_frame(b'x' * 65 + b'y' * 1000 + b'\nok'))
    assert lines == TOO_LONG + b'\nok\n'
    assert feed(client_frame(b'x' * 64))[0] == b'x' * 64 + b'\n'      # the limit itself


def test_a_huge_declared_frame_holds_no_more_than_the_line_limit():
    """A frame may declare 2**62 bytes; the reader keeps at most the line limit of it."""
    header = struct.pack('!BBQ', 0x81, 0xFF, 1 << 62) + b'\0\0\0\0'
    reader = WebSocket(64)
    out = reader.feed(header + b'z' * 10000)
    for _ in range(100):
        out += reader.feed(b'z' * 10000)
    assert out == TOO_LONG + b'\n' and len(reader._line) == 0 and not reader.ended


# ---- control frames (5.5)

def test_a_ping_gets_a_pong_with_its_payload():
    _, reader = feed(client_frame(b'are you there', PING))
    assert bytes(reader.answers) == frame(b'are you there', PONG)


def test_a_pong_is_ignored():
    lines, reader = feed(client_frame(b'unasked', PONG) + client_frame(b'hi'))
    assert lines == b'hi\n' and not reader.answers


@pytest.mark.parametrize('payload, code', [
    (b'', ENDED), (close_payload(1000), 1000), (close_payload(1001, b'bye'), 1001),
    (close_payload(3000), 3000), (close_payload(4999, 'é'.encode()), 4999)])
def test_a_close_is_answered_with_a_close_and_ends_the_input(payload, code):
    lines, reader = feed(client_frame(b'last') + client_frame(payload, CLOSE)
                         + client_frame(b'after the close'))
    assert lines == b'last\n' and reader.ended and reader.code == code
    assert bytes(reader.answers) == close_frame(code)


def test_the_server_sends_one_close_at_most():
    _, reader = feed(client_frame(b'', CLOSE))
    assert reader.goodbye(1000) == b''
    fresh = WebSocket()
    assert fresh.goodbye(1008) == close_frame(1008) and fresh.goodbye(1000) == b''


# ---- every malformed frame, and its close code

MALFORMED = {
    'unmasked': (client_frame(b'hi', masked=False), PROTOCOL_ERROR),
    'reserved bit 1': (client_frame(b'hi', rsv=4), PROTOCOL_ERROR),
    'reserved bit 2': (client_frame(b'hi', rsv=2), PROTOCOL_ERROR),
    'reserved bit 3': (client_frame(b'hi', rsv=1), PROTOCOL_ERROR),
    **{'opcode %#x' % op: (client_frame(b'', op), PROTOCOL_ERROR)
       for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)},
    'control frame over 125 bytes': (client_frame(b'p' * 126, PING), PROTOCOL_ERROR),
    'fragmented control frame': (client_frame(b'p', PING, fin=False), PROTOCOL_ERROR),
    'continuation with no message': (client_frame(b'x', CONTINUATION), PROTOCOL_ERROR),
    'text inside a message': (client_frame(b'a', fin=False) + client_frame(b'b'),
                              PROTOCOL_ERROR),
    '64-bit length with its first bit set': (
        struct.pack('!BBQ', 0x81, 0xFF, 1 << 63) + b'\0\0\0\0', PROTOCOL_ERROR),
    'binary message': (client_frame(b'\x00\x01', BINARY), UNSUPPORTED_DATA),
    'invalid UTF-8': (client_frame(b'\xff\xfe'), INVALID_DATA),
    'UTF-8 cut at the end of a message': (client_frame('你'.encode()[:2]), INVALID_DATA),
    'invalid UTF-8 across fragments': (
        client_frame(b'\xe4', fin=False) + client_frame(b'A', CONTINUATION), INVALID_DATA),
    'a surrogate in UTF-8': (client_frame(b'\xed\xa0\x80'), INVALID_DATA),
    'close with one byte': (client_frame(b'\x03', CLOSE), PROTOCOL_ERROR),
    **{'close code %d' % code: (client_frame(close_payload(code), CLOSE), PROTOCOL_ERROR)
       for code in (0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000)},
    'close reason not UTF-8': (client_frame(close_payload(1000, b'\xff'), CLOSE),
                               INVALID_DATA),
}


@pytest.mark.parametrize('name', sorted(MALFORMED))
def test_each_malformed_frame_closes_with_its_code(name):
    data, code = MALFORMED[name]
    assert closing_code(data) == code


@pytest.mark.parametrize('name', sorted(MALFORMED))
def test_nothing_after_a_malformed_frame_is_read(name):
    data, _ = MALFORMED[name]
    lines, reader = feed(client_frame(b'before') + data + client_frame(b'after'))
    assert lines == b'before\n' and reader.ended


def test_the_end_of_the_connection_ends_the_input_and_drops_an_unfinished_message():
    reader = WebSocket()
    assert reader.feed(client_frame(b'half', fin=False)) == b'\n'     # its cost, no line
    assert reader.finish() == b'' and reader.ended and not reader.answers


# ---- output

@pytest.mark.parametrize('size, header', [
    (0, b'\x81\x00'), (125, b'\x81\x7d'), (126, b'\x81\x7e\x00\x7e'),
    (65535, b'\x81\x7e\xff\xff'), (65536, b'\x81\x7f' + struct.pack('!Q', 65536))])
def test_a_server_frame_is_one_unmasked_text_frame_with_the_shortest_length(size, header):
    assert WebSocket().wrap(b'x' * size) == header + b'x' * size


# ---- properties

TEXTS = st.lists(st.sampled_from(['hi', ' ', '\r', '\n', '\r\n', '你好', 'é', 'x' * 70, '<b>']),
                 max_size=8).map(''.join)


@st.composite
def streams(draw):
    """A valid client stream: text messages, some fragmented, with pings between."""
    data = b''
    for text in draw(st.lists(TEXTS, min_size=1, max_size=6)):
        payload = text.encode()
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(payload) - 1)), max_size=3)))
        pieces = [payload[i:j] for i, j in zip([0] + cuts, cuts + [len(payload)])] or [b'']
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            key = draw(st.binary(min_size=4, max_size=4))
            data += client_frame(piece, TEXT if number == 0 else CONTINUATION, fin=last,
                                 key=key)
            if draw(st.booleans()):
                data += client_frame(draw(st.binary(max_size=8)), PING)
    return data


def split_feed(data, cuts, max_line=64):
    reader = WebSocket(max_line)
    bounds = [0] + sorted(cuts) + [len(data)]
    lines = b''.join(reader.feed(data[i:j]) for i, j in zip(bounds, bounds[1:]))
    return lines, bytes(reader.answers), reader.ended


@settings(max_examples=300)
@given(streams(), st.data())
def test_any_split_of_a_valid_stream_gives_the_same_lines_and_answers(data, draw):
    cuts = draw.draw(st.sets(st.integers(1, len(data) - 1), max_size=len(data)))
    whole = split_feed(data, [])
    assert split_feed(data, cuts) == whole
    assert not whole[2]


@settings(max_examples=500)
@given(st.binary(max_size=400), st.sets(st.integers(1, 399), max_size=40))
def test_any_bytes_give_lines_or_a_close_code_and_never_hold_much(data, cuts):
    reader = WebSocket(32)
    bounds = [0] + sorted(cut for cut in cuts if cut < len(data)) + [len(data)]
    for i, j in zip(bounds, bounds[1:]):
        out = reader.feed(data[i:j])
        assert all(len(line) <= 32 for line in out.split(b'\n'))
        assert len(reader._line) <= 32 and len(reader._header) <= 14
        assert len(reader._control) <= 125
    if reader.ended:
        assert reader.code in (ENDED, PROTOCOL_ERROR, UNSUPPORTED_DATA, INVALID_DATA) or (
            3000 <= reader.code <= 4999 or 1000 <= reader.code <= 1014)
