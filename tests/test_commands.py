"""CommandHandler: the getattr dispatch, help from docstrings, and what a bug in a command does."""

import logging

import pytest
from conftest import StrictServer, log_in

from chat.rooms import Hall
from chat.server import Server


class HallWithMore(Hall):
    """The hall with more commands, as a teacher would add them in class."""

    def do_echo(self, session, line):
        """echo <text>: send text back to you."""
        session.push(line)

    def do_quiet(self, session, line):
        session.push('shh')

    def do_broken(self, session, line):
        """broken: a command with a bug in it."""
        return len(None)                           # a TypeError, inside the command


class TeachingServer(StrictServer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hall = HallWithMore(self, 'Hall')


class UsersTeachingServer(Server):
    """As users run it: a session logs its error instead of re-raising it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hall = HallWithMore(self, 'Hall')


@pytest.fixture
def teaching(make_server, login_all):
    """A running TeachingServer, and a function that logs a client in to it."""
    running = make_server(server_class=TeachingServer)
    return running, lambda name: login_all(running, name)[0]


def test_a_new_do_method_is_a_command_and_in_help(teaching):
    _, login = teaching
    alice = login('alice')
    assert alice.ask('/echo hello  there ') == ['hello  there']
    [entry] = [line for line in alice.ask('/help') if line.startswith('/echo')]
    assert entry.startswith('/echo <text> ') and entry.endswith(' send text back to you.')


def test_a_command_without_docstring_is_listed_by_name(teaching):
    _, login = teaching
    assert '/quiet' in login('alice').ask('/help')


def test_help_lines_all_start_with_the_command(login):
    heading, *entries = login('alice', 'python').ask('/help')
    assert not heading.startswith('/')
    assert all(line.startswith('/') and len(line.split()) > 1 for line in entries)


def test_type_error_inside_a_command_is_a_bug_not_an_unknown_command(make_server, login_all):
    """The design's `except TypeError` turned this bug into 'Unknow command'."""
    running = make_server(server_class=TeachingServer)
    [alice] = login_all(running, 'alice')
    alice.send('/broken')
    with pytest.raises(EOFError):
        alice.line()                               # the strict session re-raised: no reply
    with pytest.raises(TypeError):
        running.stop()


def test_a_bug_closes_only_its_session_and_is_logged_once_with_traceback(caplog, make_server,
                                                                          client):
    caplog.set_level(logging.INFO, logger='chat')
    running = make_server(server_class=UsersTeachingServer)
    alice, bob, again = (client(running.port) for _ in range(3))
    for each, name in ((alice, 'alice'), (bob, 'bob')):
        log_in(each, name)
    alice.send('/broken')
    assert alice.read_to_close() == []         # no traceback reaches the client
    assert bob.ask('/echo fine') == ['fine']   # everyone else goes on
    again.expect('/login')
    assert again.ask('/login alice')[0].startswith('Welcome, alice')
    running.stop()
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info[0] is TypeError
