"""The commands chat users expect: /msg, /me, /nick, /who, /history, and the message of the day.

Each is a do_* method, on Room (everywhere) or ChatRoom (chat rooms only), tested over
loopback as a client sees it, with exact lines where the protocol quotes them.
"""

import subprocess
import sys

import pytest
from conftest import TIMEOUT

from chat import rooms


def quiet(*clients):
    """Every client has read all it was sent: each gets nothing more before a probe."""
    for client in clients:
        assert client.sync() == []


# ---- /msg

def test_msg_reaches_only_its_receiver_wherever_they_are(login):
    alice, bob = login('alice', 'python'), login('bob', 'write')
    carol, dave = login('carol', 'python'), login('dave')          # dave in the hall
    for each in (alice, bob, carol, dave):
        each.sync()
    assert alice.ask('/msg bob meet me in write') == ['To bob, privately: meet me in write']
    assert bob.sync() == ['[private] alice: meet me in write']
    quiet(carol, dave)                              # neither alice's room nor the hall
    assert dave.ask('/msg alice hi from the hall') == ['To alice, privately: hi from the hall']
    assert alice.sync() == ['[private] dave: hi from the hall']
    quiet(bob, carol)


def test_msg_finds_the_receiver_in_any_case(login):
    alice, bob = login('alice', 'python'), login('Bob')
    alice.sync()
    assert alice.ask('/msg BOB hello') == ['To Bob, privately: hello']
    assert bob.sync() == ['[private] alice: hello']


def test_msg_to_someone_not_online_says_so(login):
    alice = login('alice')
    assert alice.ask('/msg nobody hello') == ['nobody is not online.']


@pytest.mark.parametrize('line', ['/msg', '/msg bob', '/msg bob    '])
def test_msg_without_text_gets_its_usage(login, line):
    login('bob')
    alice = login('alice')
    assert alice.ask(line) == ['Usage: /msg <nickname> <text>']


def test_msg_to_yourself_is_delivered_like_any_other(login):
    alice = login('alice', 'python')
    assert alice.ask('/msg alice note to self') == [
        '[private] alice: note to self', 'To alice, privately: note to self']


def test_msg_keeps_the_text_as_typed_but_cleaned(login):
    alice, bob = login('alice'), login('bob')
    alice.send(b'/msg bob  two  spaces\x1b[2J \xe2\x80\xaeend\r\n')
    alice.sync()
    assert bob.sync() == ['[private] alice: two  spaces[2J end']


# ---- /me

def test_me_reaches_the_others_in_the_room_exactly_and_is_not_echoed(login):
    alice, bob, carol = login('alice', 'python'), login('bob', 'python'), login('carol', 'pm')
    alice.sync()
    bob.sync()
    assert alice.ask('/me waves') == []
    assert bob.sync() == ['* alice waves']
    quiet(carol)


def test_me_without_an_action_gets_its_usage(login):
    assert login('alice', 'python').ask('/me') == ['Usage: /me <action>']


def test_me_is_for_chat_rooms_only(login):
    [reply] = login('alice').ask('/me waves')
    assert reply.startswith('Unknown command: /me')


# ---- /nick

def test_nick_renames_tells_the_room_and_frees_the_old_name_at_once(login, connect):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    assert alice.ask('/nick alicia') == ['You are now alicia.']
    assert bob.sync() == ['alice is now known as alicia.']
    newcomer = connect()
    assert newcomer.ask('/login alice')[0] == 'Welcome, alice! You are in the hall.'
    alice.send('hello again')
    alice.sync()
    assert bob.sync() == ['alicia: hello again']
    assert 'alicia' in bob.ask('/online')[0]


def test_nick_in_the_hall_tells_the_logged_in_there_only(login, connect):
    alice, bob, carol = login('alice'), login('bob'), login('carol', 'python')
    stranger = connect()                                        # not logged in
    alice.sync()
    bob.sync()
    assert bob.ask('/nick robert') == ['You are now robert.']
    assert alice.sync() == ['bob is now known as robert.']
    quiet(carol, stranger)


def test_nick_needs_a_login_first(connect):
    assert connect().ask('/nick bob') == ['Please log in first: /login <nickname>']


# ---- /who

def test_who_lists_everyone_logged_in_and_their_room(login, connect):
    login('zoe', 'pm')
    login('Bob', 'python')
    alice = login('alice')
    connect()                                                    # not logged in: not listed
    assert alice.ask('/who') == ['Logged in (3):', 'alice in hall', 'Bob in python',
                                 'zoe in pm']


def test_who_stops_at_its_limit(login, monkeypatch):
    monkeypatch.setattr(rooms, 'WHO_LIMIT', 2)
    login('c')
    login('b')
    alice = login('a')
    assert alice.ask('/who') == ['Logged in (3):', 'a in hall', 'b in hall', '... and 1 more.']


# ---- /history

def test_history_in_a_room_where_nothing_was_said(login):
    assert login('alice', 'write').ask('/history') == ['Nothing has been said in write yet.']


def test_history_keeps_the_last_20_lines_oldest_first_each_as_delivered(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    for n in range(23):
        bob.send('line %d' % n)
    bob.send('/me is done')
    bob.sync()
    delivered = alice.sync()
    assert len(delivered) == 24
    assert alice.ask('/history') == ['The last 20 lines said in python:'] + delivered[-20:]


def test_history_is_kept_per_room_and_holds_nothing_private(login):
    alice, bob = login('alice', 'python'), login('bob', 'write')
    alice.send('in python')
    alice.ask('/msg bob psst')
    assert bob.sync() == ['[private] alice: psst']
    assert bob.ask('/history') == ['Nothing has been said in write yet.']
    assert alice.ask('/history') == ['The last 1 lines said in python:', 'alice: in python']


def test_history_is_for_chat_rooms_only(login):
    assert login('alice').ask('/history')[0].startswith('Unknown command: /history')


def test_each_room_keeps_a_fixed_number_of_lines(chat_server, login):
    alice = login('alice', 'python')
    alice.send(''.join('%d\r\n' % n for n in range(19)))   # within the burst of 20
    alice.sync()
    assert chat_server.server.python.history.maxlen == rooms.HISTORY == 20


# ---- nicknames compared by NFKC and case folding


# ---- the message of the day

def test_motd_is_shown_after_every_login_cleaned(program, client, tmp_path):
    motd = tmp_path / 'motd.txt'
    motd.write_bytes(b'Welcome to class!\n\n\x1b[31mRules:\x1b[0m be kind \xff\xfe\n'
                     b'\xe2\x80\xae  indented  \n')
    server = program('--port', '0', '--motd', str(motd))
    port = server.port()
    for name in ('ann', 'ben'):
        each = client(port)
        each.expect('/login')
        lines = each.ask('/login ' + name)
        assert lines[:4] == ['Welcome, %s! You are in the hall.' % name, 'Welcome to class!',
                             '[31mRules:[0m be kind \ufffd\ufffd', 'indented']
        assert lines[4] == 'Commands here:'


def test_an_unreadable_motd_is_one_line_naming_it(tmp_path):
    missing = tmp_path / 'no-such-motd.txt'
    done = subprocess.run([sys.executable, '-m', 'chat', '--port', '0', '--motd', str(missing)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert str(missing) in line and 'message of the day' in line


def test_a_motd_over_16_kib_is_refused_at_start(tmp_path):
    big = tmp_path / 'big.txt'
    big.write_text('line\n' * 4000, encoding='utf-8')
    done = subprocess.run([sys.executable, '-m', 'chat', '--port', '0', '--motd', str(big)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert str(big) in line and '16384' in line
