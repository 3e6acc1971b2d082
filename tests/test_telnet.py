"""chat/telnet.py on its own: line ends, telnet sequences, the limit; clean is in test_framing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.framing import TOO_LONG, clean
from chat.telnet import AYT_REPLY, Telnet

IAC, DO, DONT, WILL, WONT, SB, SE = 255, 253, 254, 251, 252, 250, 240


def feed(*chunks, max_line=4096):
    """Feed the chunks one by one; return (the lines out, the answers owed). The empty
    lines by which commands cost what a line costs are left out: see costs()."""
    reader = Telnet(max_line)
    out = b''.join(reader.feed(chunk) for chunk in chunks)
    return [line for line in out.split(b'\n')[:-1] if line], bytes(reader.answers)


def costs(*chunks):
    """The empty lines the chunks give: what they cost against the line rate, beyond their
    lines (every command but IAC IAC, and every empty line typed)."""
    reader = Telnet()
    return b''.join(reader.feed(chunk) for chunk in chunks).split(b'\n')[:-1].count(b'')


@pytest.mark.parametrize('data, count', [
    (b'hello\r\n', 0), (b'\r\n\r\n', 2), (bytes([IAC, 241]), 1), (bytes([IAC, IAC]), 0),
    (bytes([IAC, DO, 1, IAC, WILL, 31]), 2), (bytes([IAC, SB, 24, 1, IAC, SE]), 2),
    (bytes([IAC, 241]) * 500, 500), (b'a' + bytes([IAC, 241]) + b'b\n', 1),
])
def test_every_command_costs_what_a_line_costs(data, count):
    assert costs(data) == count
    assert costs(*[data[i:i + 1] for i in range(len(data))]) == count    # however it comes


@pytest.mark.parametrize('end', [b'\r\n', b'\n', b'\r\0', b'\r'])
def test_every_line_end_ends_a_line(end):
    assert feed(b'one' + end + b'two' + end) == ([b'one', b'two'], b'')


@pytest.mark.parametrize('end', [b'\r\n', b'\r\0'])
def test_cr_pair_split_across_reads_is_one_line_end(end):
    assert feed(b'one' + end[:1], end[1:] + b'two\n') == ([b'one', b'two'], b'')


def test_bare_cr_then_text_keeps_the_text():
    assert feed(b'one\r', b'two\n') == ([b'one', b'two'], b'')


def test_unfinished_line_is_kept_until_its_end():
    assert feed(b'par', b'tial') == ([], b'')
    reader = Telnet()
    assert reader.feed(b'par') == b''
    assert reader.feed(b'tial\n') == b'partial\n'


def test_finish_returns_the_unfinished_line():
    reader = Telnet()
    reader.feed(b'last words')
    assert reader.finish() == b'last words\n'
    assert reader.finish() == b''


def test_option_requests_are_refused_at_once():
    lines, answers = feed(bytes([IAC, DO, 1, IAC, WILL, 3]))
    assert lines == []
    assert answers == bytes([IAC, WONT, 1, IAC, DONT, 3])


def test_refusals_and_their_acknowledgements_get_no_answer():
    assert feed(bytes([IAC, WONT, 1, IAC, DONT, 3]) + b'ok\n') == ([b'ok'], b'')


def test_telnet_sequence_split_at_every_byte_is_removed():
    data = b'a' + bytes([IAC, DO, 6]) + b'b' + bytes([IAC, SB, 24, 1, IAC, SE]) + b'c\r\n'
    whole = feed(data)
    assert whole == ([b'abc'], bytes([IAC, WONT, 6]))
    assert feed(*[data[i:i + 1] for i in range(len(data))]) == whole


def test_iac_iac_is_one_data_byte():
    assert feed(b'a' + bytes([IAC, IAC]) + b'b\n') == ([b'a\xffb'], b'')


def test_interrupt_and_unknown_commands_are_dropped():
    # IAC IP (Ctrl-C), IAC NOP, IAC DM, IAC followed by a byte that is no command.
    assert feed(b'a\xff\xf4b\xff\xf1c\xff\xf2d\xff\x41e\n') == ([b'abcde'], b'')


def test_erase_character_becomes_a_backspace_for_clean():
    lines, _ = feed(b'abc' + bytes([IAC, 247]) + b'\n')
    assert lines == [b'abc\b']
    assert clean(lines[0].decode()) == 'ab'


def test_erase_line_drops_the_line_so_far():
    assert feed(b'abc' + bytes([IAC, 248]) + b'xyz\n') == ([b'xyz'], b'')


def test_are_you_there_gets_a_visible_answer():
    assert feed(bytes([IAC, 246])) == ([], AYT_REPLY)


def test_line_ends_inside_a_subnegotiation_are_not_line_ends():
    assert feed(bytes([IAC, SB, 24]) + b'x\r\ny' + bytes([IAC, SE]) + b'z\n') == ([b'z'], b'')


def test_line_at_the_limit_passes():
    assert feed(b'x' * 10 + b'\n', max_line=10) == ([b'x' * 10], b'')


def test_line_past_the_limit_is_cut_at_once_and_the_rest_dropped():
    reader = Telnet(10)
    assert reader.feed(b'x' * 11) == TOO_LONG + b'\n'   # before any line end
    assert reader.feed(b'y' * 100) == b''
    assert reader.feed(b'z\nnext\n') == b'next\n'


def test_telnet_sequences_count_toward_the_limit():
    data = bytes([IAC, DO, 1]) * 3 + b'x\n'              # 9 bytes of sequence, 1 of data
    assert feed(data, max_line=10)[0] == [b'x']
    assert feed(data.replace(b'x', b'xy'), max_line=10)[0] == [TOO_LONG]


def test_erased_bytes_still_count_toward_the_limit():
    assert feed(b'abcdef' + bytes([IAC, 248]) + b'ghi\n', max_line=10)[0] == [TOO_LONG]


def test_endless_subnegotiation_is_cut_and_holds_no_memory():
    reader = Telnet(100)
    out = reader.feed(bytes([IAC, SB, 24]) + b'x' * 10000)
    assert out == b'\n' + TOO_LONG + b'\n'       # the command's cost, then the line cut
    assert len(reader._line) == 0


def test_subnegotiation_past_the_limit_is_abandoned_at_the_next_line_end():
    reader = Telnet(100)
    out = reader.feed(bytes([IAC, SB, 24]) + b'a' * 200 + b'\r\n/help\r\n')
    assert out == b'\n' + TOO_LONG + b'\n' + b'/help\n'


def test_subnegotiation_cannot_start_inside_a_discarded_line():
    assert feed(b'x' * 20 + bytes([IAC, SB]) + b'\r\nok\n', max_line=10)[0] == [TOO_LONG, b'ok']


def test_discarded_line_holds_no_memory_whatever_its_commands():
    reader = Telnet(100)
    reader.feed(b'x' * 101)
    reader.feed(bytes([IAC, IAC, IAC, 247]) * 10000)             # IAC IAC, IAC EC
    assert len(reader._line) == 0


def test_command_inside_a_subnegotiation_ends_it_and_is_read_as_a_command():
    data = bytes([IAC, SB, 24, IAC, WILL, ord('X')]) + b'abc\r\n'
    assert feed(data) == ([b'abc'], bytes([IAC, DONT, ord('X')]))


def test_cut_line_ended_by_cr_lf_split_across_reads():
    assert feed(b'x' * 20 + b'\r', b'\nok\n', max_line=10)[0] == [TOO_LONG, b'ok']


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=8),
       st.integers(1, 50))
def test_feeding_in_any_chunks_gives_the_same_lines(data, cuts, max_line):
    cuts = sorted({cut for cut in cuts if cut < len(data)})
    chunks = [data[i:j] for i, j in zip([0] + cuts, cuts + [len(data)])]
    whole = Telnet(max_line)
    pieces = Telnet(max_line)
    assert (whole.feed(data) + whole.finish()
            == b''.join(pieces.feed(chunk) for chunk in chunks) + pieces.finish())
    assert whole.answers == pieces.answers


@given(st.lists(st.sampled_from([b'a', b' ', b'\r', b'\n', b'\r\n', b'\0', b'\x08', b'\xc3\xa9']),
                max_size=60),
       st.lists(st.sampled_from([b'x', b'\r', b'\n', b'\r\n']), max_size=4),
       st.integers(1, 60), st.sampled_from([b'', b'\n', b'\r', b'tail']))
def test_plain_lines_give_the_same_lines_whole_or_byte_by_byte(pieces, before, max_line, last):
    """Whole lines of plain text may take feed's fast path; one byte at a time never does
    (but for a lone LF), so the two must agree, whatever came before or is left after."""
    first, data = b''.join(before), b''.join(pieces) + last
    whole, bytewise = Telnet(max_line), Telnet(max_line)
    got = whole.feed(first) + whole.feed(data) + whole.finish()
    expected = b''.join(bytewise.feed(bytes((byte,))) for byte in first + data)
    assert got == expected + bytewise.finish()
