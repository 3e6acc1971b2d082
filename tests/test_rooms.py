"""The rooms as a client sees them over a real socket, by class: Room, whose commands
work everywhere (/logout, /msg, /nick, /who); the Hall, before and at login; a ChatRoom
(chat, /me, /history).

Each command is a do_* method of its room class, tested as a client meets it, with
exact lines where the protocol quotes them.
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


# ---- Room: the commands of every room, the hall included

def test_logout_says_goodbye_closes_and_frees_the_nickname(login, connect):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    bob.send('/logout')
    assert bob.read_to_close() == ['Goodbye!']
    [notice] = alice.sync()
    assert 'bob' in notice and 'left' in notice
    assert 'Welcome, bob' in connect().ask('/login bob')[0]


@pytest.mark.parametrize('line, shown', [('/foo', '/foo'), ('/', '/'), ('/foo bar', '/foo')])
def test_unknown_command_names_it(login, line, shown):
    [reply] = login('alice', 'python').ask(line)
    assert reply.startswith('Unknown command: %s ' % shown)


def test_commands_are_case_sensitive(login):
    [reply] = login('alice', 'python').ask('/ONLINE')
    assert 'Unknown command' in reply and '/ONLINE' in reply


# ---- Room: /msg

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


# ---- Room: /nick (the rules a nickname follows: test_nicknames.py)

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


# ---- Room: /who

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


# ---- Hall: before login

def test_welcome_shows_how_to_log_in(connect):
    client = connect(welcome=False)
    assert any('/login' in line for line in client.expect('/login'))


@pytest.mark.parametrize('line', ['hello', '/python', '/write', '/pm', '/online'])
def test_before_login_everything_asks_to_log_in(connect, line):
    client = connect()
    [reply] = client.ask(line)
    assert 'log in' in reply


def test_before_login_unknown_command_says_so_and_asks_to_log_in(connect):
    [reply] = connect().ask('/dance now')
    assert 'Unknown command' in reply and '/dance' in reply and 'log in' in reply


def test_help_works_before_login(connect):
    lines = connect().ask('/help')
    assert any(line.startswith('/login <nickname>') for line in lines)


def test_logout_works_before_login(connect):
    client = connect()
    client.send('/logout')
    assert client.read_to_close() == ['Goodbye!']


# ---- Hall: login

def test_login_replies_with_the_nickname_then_the_halls_help(connect):
    client = connect()
    lines = client.ask('/login alice')
    assert 'alice' in lines[0]
    commands = [line.split()[0] for line in lines if line.startswith('/')]
    assert commands == ['/help', '/login', '/logout', '/msg', '/nick', '/op', '/pm', '/python',
                        '/resume', '/rooms', '/who', '/write']


def test_login_without_nickname_shows_usage(connect):
    [reply] = connect().ask('/login')
    assert reply == 'Usage: /login <nickname>'


def test_login_twice_keeps_the_first_nickname(login, connect):
    alice = login('alice', 'python')
    alice.send('/back')
    alice.sync()
    [reply] = alice.ask('/login bob')
    assert 'already logged in' in reply and 'alice' in reply
    bob = connect()
    assert 'bob' in bob.ask('/login bob')[0]             # "bob" was never taken


# ---- Hall: the message of the day, shown at login

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


def refused_motd(path):
    """Start the server with --motd path, which must stop it: return its one line."""
    done = subprocess.run([sys.executable, '-m', 'chat', '--port', '0', '--motd', str(path)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    return line


def test_an_unreadable_motd_is_one_line_naming_it(tmp_path):
    missing = tmp_path / 'no-such-motd.txt'
    line = refused_motd(missing)
    assert str(missing) in line and 'message of the day' in line


def test_a_motd_over_16_kib_is_refused_at_start(tmp_path):
    big = tmp_path / 'big.txt'
    big.write_text('line\n' * 4000, encoding='utf-8')
    line = refused_motd(big)
    assert str(big) in line and '16384' in line


# ---- Hall: logged in

def test_plain_text_in_the_hall_reaches_nobody(login):
    alice, bob = login('alice'), login('bob')
    [reply] = alice.ask('hello?')
    assert '/python' in reply and '/write' in reply and '/pm' in reply
    assert bob.sync() == []


@pytest.mark.parametrize('room', ['python', 'write', 'pm'])
def test_entering_a_room_names_it_and_tells_the_others(login, room):
    alice = login('alice', room)
    bob = login('bob')
    [reply] = bob.ask('/' + room)
    assert room in reply
    [notice] = alice.sync()
    assert 'bob' in notice and 'entered' in notice


def test_rooms_lists_each_room_with_how_many_are_in_it(login):
    login('alice', 'python'), login('bob', 'python'), login('carol', 'pm')
    assert login('dave').ask('/rooms') == ['Rooms: /python (2), /write (0), /pm (1)']


def test_rooms_is_in_the_halls_help_and_needs_a_login(login, connect):
    assert any(line.startswith('/rooms ') for line in login('alice').ask('/help'))
    assert connect().ask('/rooms') == ['Please log in first: /login <nickname>']


def test_room_commands_are_unknown_in_the_hall(login):
    [reply] = login('alice').ask('/online')
    assert 'Unknown command' in reply and '/online' in reply


# ---- ChatRoom: chat

def test_text_reaches_the_others_in_the_room_exactly_and_no_one_else(login):
    alice, bob, carol = (login(name, 'python') for name in ('alice', 'bob', 'carol'))
    dave, erin = login('dave', 'write'), login('erin')
    bob.sync(), carol.sync(), alice.sync()                 # the entered notices
    assert alice.ask('hello, world') == []                 # no echo
    assert bob.sync() == ['alice: hello, world']
    assert carol.sync() == ['alice: hello, world']
    assert dave.sync() == [] and erin.sync() == []


def test_broadcast_is_the_same_as_plain_text(login):
    alice, bob = login('alice', 'pm'), login('bob', 'pm')
    alice.sync()
    assert alice.ask('/broadcast  spaced  out ') == []
    assert bob.sync() == ['alice: spaced  out']


def test_broadcast_without_text_sends_nothing_and_shows_usage(login):
    alice, bob = login('alice', 'pm'), login('bob', 'pm')
    alice.sync()
    [reply] = alice.ask('/broadcast')
    assert reply.startswith('Usage: /broadcast')
    assert bob.sync() == []


def test_online_lists_everyone_in_the_room_caller_included(login):
    alice, _bob, _carol = login('alice', 'python'), login('bob', 'python'), login('carol', 'write')
    alice.sync()
    [reply] = alice.ask('/online')
    assert 'alice' in reply and 'bob' in reply and 'carol' not in reply


def test_back_returns_to_the_hall_and_tells_the_room(login):
    alice, bob = login('alice', 'python'), login('bob', 'python')
    alice.sync()
    [reply] = bob.ask('/back')
    assert 'hall' in reply
    [notice] = alice.sync()
    assert 'bob' in notice and 'left' in notice
    assert bob.ask('/online')[0].startswith('Unknown command')   # in the hall again
    alice.ask('anyone?')
    assert bob.sync() == []


def test_moving_between_rooms_leaves_the_old_one(login):
    alice = login('alice', 'python')
    bob = login('bob', 'python')
    alice.sync()
    bob.ask('/back')
    bob.ask('/write')
    alice.ask('still there?')
    assert bob.sync() == []
    assert 'bob' not in alice.ask('/online')[0]


def test_hall_commands_are_unknown_in_a_room(login):
    alice = login('alice', 'python')
    for command in ('/login x', '/python', '/write', '/pm'):
        [reply] = alice.ask(command)
        assert 'Unknown command' in reply and command.split()[0] in reply


def test_extra_words_are_ignored(login):
    alice = login('alice', 'python')
    assert alice.ask('/online please')[0].startswith('Online in python')
    assert any(line.startswith('/online') for line in alice.ask('/help me'))
    assert 'hall' in alice.ask('/back now')[0]


def test_help_in_a_room_lists_its_commands(login):
    lines = login('alice', 'python').ask('/help')
    commands = [line.split()[0] for line in lines if line.startswith('/')]
    assert commands == ['/back', '/broadcast', '/help', '/history', '/logout', '/me', '/msg',
                        '/nick', '/online', '/op', '/resume', '/who']


# ---- ChatRoom: /me

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


# ---- ChatRoom: /history

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
