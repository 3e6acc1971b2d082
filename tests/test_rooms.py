"""The hall and the chat rooms, as a client sees them over a real socket."""

import pytest

# ---- the hall, before login

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


# ---- login

def test_login_replies_with_the_nickname_then_the_halls_help(connect):
    client = connect()
    lines = client.ask('/login alice')
    assert 'alice' in lines[0]
    commands = [line.split()[0] for line in lines if line.startswith('/')]
    assert commands == ['/help', '/login', '/logout', '/msg', '/nick', '/op', '/pm', '/python',
                        '/rooms', '/who', '/write']


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


# ---- the hall, logged in

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


# ---- a chat room

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
                        '/nick', '/online', '/op', '/who']


# ---- everywhere

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
