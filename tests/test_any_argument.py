"""No argument crashes a command: every do_* of every room, given any text, as a user, an
operator and a muted user, is answered, and the server goes on.

Real sessions on a real server (StrictServer: an exception in the loop fails the test),
with hypothesis choosing the command and its argument: text of any script, digits of
other scripts ('²', '①'), huge numbers, control and ignorable characters.
"""

import pytest
from conftest import Client, log_in
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.rooms import ChatRoom, Hall

COMMANDS = sorted({name[3:] for room in (Hall, ChatRoom) for name in dir(room)
                   if name.startswith('do_')} - {'logout'})
"""Every command of every room (/logout ends the session whatever its argument)."""

TRICKY = ['²', '①', '٣', '𝟗', '9' * 40, '-1', '0', '1.5', '1e9', 'nobody 5', 'bob ²',
          'bob ①', 'teacher\u034f', '\u202e', '\u200b', 'x' * 300, ' ', '/', '[private]']

ARGUMENTS = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='\r\n'),
            max_size=30),
    st.builds('{} {}'.format, st.sampled_from(['bob', 'teacher', 'nobody']),
              st.text(st.characters(blacklist_categories=('Cs',),
                                    blacklist_characters='\r\n'), max_size=12)))


class Role:
    """A logged-in session in a room, as a user, an operator or a muted user; logged in
    again whenever a command ended it (three wrong passwords, /nick then /logout...)."""

    def __init__(self, port, role, room):
        self.port, self.role, self.room = port, role, room
        self.client = None
        self.count = 0

    def session(self):
        if self.client is None:
            self.count += 1
            name = '%s%d' % (self.role, self.count)
            self.client = log_in(Client(self.port), name,
                                 None if self.room == 'hall' else self.room)
            if self.role == 'operator':
                self.client.ask('/op sesame')
            elif self.role == 'muted':
                teacher = log_in(Client(self.port), 'muter%d' % self.count)
                teacher.ask('/op sesame')
                teacher.ask('/mute ' + name)
                teacher.close()
        return self.client

    def run(self, line):
        """Send line; return the replies before a probe's, or None if the session ended."""
        client = self.session()
        try:
            return client.ask(line)
        except (EOFError, ConnectionError):
            client.close()
            self.client = None
            return None


@pytest.mark.parametrize('room', ['hall', 'python'])
@pytest.mark.parametrize('role', ['user', 'operator', 'muted'])
def test_every_command_with_any_argument_is_answered_and_the_server_goes_on(make_server,
                                                                           role, room):
    running = make_server(op_password='sesame', line_rate=0, max_per_address=0)
    bob = log_in(Client(running.port), 'bob', 'python')         # someone to name
    teacher = log_in(Client(running.port), 'teacher', 'python')
    teacher.ask('/op sesame')
    who = Role(running.port, role, room)

    @settings(max_examples=30, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(command=st.sampled_from(COMMANDS), argument=ARGUMENTS)
    def check(command, argument):
        replies = who.run('/%s %s' % (command, argument))
        if replies is None:
            return                     # ended by the command itself (a wrong password, 3)
        quiet = command in ('broadcast', 'me') and who.room != 'hall' and who.role != 'muted'
        assert replies or quiet, '/%s %r got no reply' % (command, argument)
        if who.session().ask('/who')[0].startswith('Unknown command'):
            pytest.fail('the session is not usable after /%s %r' % (command, argument))
        said = ' '.join(replies)
        if who.room != 'hall' and 'You are in the hall' in said:
            who.run('/' + who.room)    # /back and the like: back to the room for the next
        elif who.room == 'hall' and 'You are in the room' in said:
            who.run('/back')

    try:
        check()
    finally:
        for client in (bob, teacher, who.client):
            if client is not None:
                client.close()
    running.stop()                     # an exception in the loop fails the test here


def test_every_command_with_each_tricky_argument_as_an_operator(make_server):
    """The arguments that broke commands before (`/ban bob ²`: '²'.isdigit() is true and
    int('²') raises), each given to every command, deterministically."""
    running = make_server(op_password='sesame', line_rate=0, max_per_address=0)
    bob = log_in(Client(running.port), 'bob', 'python')
    teacher = Role(running.port, 'operator', 'python')
    try:
        for command in COMMANDS:
            for argument in TRICKY:
                replies = teacher.run('/%s %s' % (command, argument))
                assert replies is not None, '/%s %r ended the session' % (command, argument)
                if 'You are in the hall' in ' '.join(replies):
                    teacher.run('/python')
    finally:
        bob.close()
        if teacher.client is not None:
            teacher.client.close()
    running.stop()
