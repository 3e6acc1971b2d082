"""ChatSession over a real socket: framing, telnet bytes, text cleaning, the end of a session."""

import socket

import pytest

from chat.telnet import AYT_REPLY

IAC, DO, WONT, WILL, DONT = 255, 253, 252, 251, 254


@pytest.mark.parametrize('end', [b'\r\n', b'\n', b'\r\0', b'\r'])
def test_each_line_end_works(connect, end):
    client = connect()
    client.send(b'/login alice' + end + b'/python' + end)
    client.expect('Welcome, alice')
    assert 'python' in client.expect('python')[-1]


def test_a_client_that_sends_only_lf_can_chat(login, connect):
    alice = login('alice', 'python')
    bob = connect()
    bob.send(b'/login bob\n/python\nhi from nc\n')
    bob.expect('You are in the room python')
    assert alice.expect('bob: hi from nc')[-1] == 'bob: hi from nc'


def test_telnet_sequences_split_across_reads_are_removed(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.send(b'ab' + bytes([IAC, DO, 1, IAC]))
    # The refusal proves the server has read this far, the trailing IAC included.
    assert bob.raw(3) == bytes([IAC, WONT, 1])
    bob.send(bytes([WILL, 3]) + b'cd\r\n')
    assert bob.raw(3) == bytes([IAC, DONT, 3])
    bob.sync()
    assert alice.sync() == ['bob: abcd']


def test_option_request_is_refused_before_any_line_end(connect):
    client = connect()
    client.send(bytes([IAC, DO, 24]) + b'unfinished')
    assert client.raw(3) == bytes([IAC, WONT, 24])


def test_ctrl_c_from_telnet_is_answered_and_does_no_harm(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.send(b'half ' + bytes([IAC, 244, IAC, DO, 6]))           # IAC IP, IAC DO TIMING-MARK
    assert bob.raw(3) == bytes([IAC, WONT, 6])
    bob.send('a line')
    assert bob.ask('/online')[0].startswith('Online in python')
    assert alice.sync() == ['bob: half a line']


def test_are_you_there_gets_a_visible_reply(connect):
    client = connect()
    client.send(bytes([IAC, 246]))
    assert client.raw(len(AYT_REPLY)) == AYT_REPLY


def test_urgent_data_neither_breaks_nor_stops_the_session(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.sock.send(bytes([IAC]), socket.MSG_OOB)                  # telnet's Synch
    bob.sock.send(bytes([242]) + b'still here\r\n')              # DM
    assert bob.ask('/online')[0].startswith('Online in python (2)')
    assert alice.sync() == ['bob: still here']


def test_utf8_text_is_relayed_and_bad_bytes_become_replacement_characters(login):
    alice, bob = login('小明', 'python'), login('bob', 'python')
    alice.sync()
    bob.send('你好，小明'.encode() + b' \xfe\xc3(\r\n')
    bob.sync()
    assert alice.sync() == ['bob: 你好，小明 \ufffd\ufffd(']


def test_control_characters_never_reach_another_terminal(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.send(b'\x1b[2J\x1b]0;owned\x07clear \xe2\x80\xaeevil\xc2\x85\r\n')
    bob.sync()
    [line] = alice.sync()
    assert line == 'bob: [2J]0;ownedclear evil'


def test_backspace_and_delete_edit_the_line(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.send(b'helo\x08lo wrld\x7f\x7f\x7forld\r\n')
    bob.sync()
    assert alice.sync() == ['bob: hello world']


def test_white_space_around_a_line_is_removed(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    assert bob.ask('   /online  ')[0].startswith('Online in python')
    bob.send('\t  hi there  \t')
    bob.sync()
    assert alice.sync() == ['bob: hi there']


def test_empty_and_blank_lines_get_no_reply(login):
    alice = login('alice', 'python')
    alice.send(b'\r\n\n   \r\n\t\r\n\x07\r\n')
    assert alice.sync() == []


def test_every_server_line_is_utf8_ending_in_cr_lf(connect):
    client = connect(welcome=False)
    client.send('/login 小明')
    client.send('/logout')
    data = b''
    while True:
        chunk = client.sock.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.endswith(b'\r\n')
    for line in data.split(b'\r\n')[:-1]:
        assert b'\r' not in line and b'\n' not in line
        line.decode('utf-8')                                     # raises if not UTF-8


# ---- the line limit

def test_too_long_line_is_dropped_with_one_reply_before_it_ends(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.send(b'x' * 4097)                                        # no line end yet
    assert 'too long' in bob.line()
    bob.send(b'y' * 100000 + b'\r\n')                           # the rest is discarded
    assert bob.ask('/online')[0].startswith('Online in python')  # the session goes on
    assert alice.sync() == []


def test_unfinished_subnegotiation_past_the_limit_does_not_deafen_the_session(login):
    alice = login('alice', 'python')
    alice.send(bytes([IAC, 250, 24]) + b'a' * 5000 + b'\r\n')  # IAC SB, never IAC SE
    assert 'too long' in alice.line()
    assert alice.ask('/online')[0].startswith('Online in python')


def test_line_of_exactly_the_limit_is_accepted(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.send(b'z' * 4096 + b'\r\n')
    bob.sync()
    assert alice.sync() == ['bob: ' + 'z' * 4096]


def test_max_line_option_sets_the_limit(make_server, client):
    running = make_server(max_line=100)
    sender = client(running.port)
    sender.expect('/login')
    sender.send(b'/login ' + b'a' * 94 + b'\r\n')
    assert 'too long' in sender.line()
    assert sender.ask('/login ann')[0].startswith('Welcome, ann')
    sender.close()
