"""The teacher's controls: a class password, operators, kick, mute, ban, announce, quiet.

A real server on loopback, its users real sockets: telnet's line protocol, and
a browser's WebSocket where it says so. 127.0.0.2 stands in for a second
student's machine where the ban needs one.
"""

import logging
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import TIMEOUT, Client, log_in, needs_other_loopbacks

from chat.__main__ import local_addresses
from chat.limits import PasswordTries

CLASS = 'otter-4'
TEACHER = 'heron & kestrel'          # a space in it: a password is the whole rest of the line


@pytest.fixture
def classroom(make_server, client, web_client, caplog):
    """A server with both passwords, and a function that opens logged-in clients to it."""
    caplog.set_level(logging.INFO, logger='chat')
    running = make_server(web=True, password=CLASS, op_password=TEACHER)

    def join(name, room=None, source=None, browser=False):
        if browser:
            each = web_client(running.web_port)
        else:
            each = client(running.port, source=source)
        each.expect('password')
        assert each.ask('/login %s %s' % (name, CLASS))[0].startswith('Welcome, ' + name)
        if room:
            each.ask('/' + room)
        return each

    join.running = running
    yield join
    running.stop()                          # all it logs, before the log is read
    logged = '\n'.join(record.getMessage() for record in caplog.records)
    assert CLASS not in logged and TEACHER not in logged and 'heron' not in logged
    assert not [record for record in caplog.records if record.exc_info]


def teacher(join, room=None):
    client = join('teacher', room)
    assert 'operator' in client.ask('/op ' + TEACHER)[0]
    return client


# ---- the class password

def test_the_welcome_asks_for_the_class_password(classroom):
    newcomer = Client(classroom.running.port)
    try:
        lines = [newcomer.line(), newcomer.line()]
        assert 'password' in lines[1] and '/login <nickname> <password>' in lines[1]
    finally:
        newcomer.close()


def test_a_missing_or_wrong_class_password_logs_nobody_in_and_the_third_closes(classroom):
    guest = Client(classroom.running.port)
    try:
        guest.expect('password')
        assert 'password' in guest.ask('/login guest')[0]
        assert 'password' in guest.ask('/login guest wrong-1')[0]
        assert 'log in' in guest.ask('/who')[0].lower()
        assert 'password' in guest.ask('/login guest wrong-2')[0]
        guest.send('/login guest wrong-3')
        lines = guest.read_to_close()
        assert len(lines) == 1 and 'password' in lines[0]
    finally:
        guest.close()


def test_the_right_class_password_logs_in_a_browser_too(classroom):
    student = classroom('student', browser=True)
    assert student.ask('/who')[0].startswith('Logged in (1)')


# ---- operators

def test_op_makes_an_operator_and_the_log_names_them(classroom, caplog):
    teacher(classroom)
    assert any(record.getMessage() == 'teacher is an operator' for record in caplog.records)


@pytest.mark.parametrize('line, reply', [('/op', 'Usage: /op <password>'),
                                         ('/op heron', 'Wrong password.'),
                                         ('/op ' + TEACHER + ' ', 'operator')])
def test_op_answers_an_empty_a_wrong_and_the_right_password(classroom, line, reply):
    student = classroom('student')
    assert reply in student.ask(line)[0]


def test_a_third_wrong_op_password_closes_the_connection(classroom):
    student = classroom('student')
    for guess in ('a', 'b'):
        assert student.ask('/op ' + guess) == ['Wrong password.']
    student.send('/op c')
    assert 'password' in student.read_to_close()[-1]


def test_without_an_op_password_there_are_no_operators(make_server, client):
    running = make_server()
    student = client(running.port)
    log_in(student, 'student')
    assert 'no operator password' in student.ask('/op anything')[0]


@pytest.mark.parametrize('command', ['/kick bob', '/mute bob', '/unmute bob', '/ban bob',
                                     '/bans', '/unban 10.0.0.1', '/announce hi'])
def test_operator_commands_are_for_operators_only(classroom, command):
    classroom('bob')
    student = classroom('student')
    assert 'operators only' in student.ask(command)[0]


def test_help_lists_operator_commands_to_operators_only(classroom):
    student = classroom('student', 'python')
    op = teacher(classroom, 'python')
    student_help = ' '.join(student.ask('/help'))
    op_help = ' '.join(op.ask('/help'))
    for command in ('/kick', '/mute', '/mutes', '/unmute', '/ban', '/bans', '/unban',
                    '/announce', '/quiet'):
        assert command not in student_help and command in op_help
    assert '/op <password>' in student_help


def test_who_marks_operators(classroom):
    teacher(classroom)
    student = classroom('student')
    assert student.ask('/who')[1:] == ['student in hall', 'teacher in hall (operator)']


# ---- kick

def test_kick_tells_the_student_why_closes_and_tells_the_room(classroom, caplog):
    op = teacher(classroom, 'python')
    bob = classroom('bob', 'python')
    listener = classroom('listener', 'python')
    assert op.ask('/kick bob shouting')[-1] == 'bob was kicked.'
    assert bob.read_to_close()[-1] == 'You were kicked by teacher: shouting'
    assert listener.expect('left the room')[-1] == 'bob left the room.'
    assert any(record.getMessage() == 'teacher kicked bob: shouting'
               for record in caplog.records)


def test_a_kicked_browser_gets_the_line_then_close_1008(classroom):
    op = teacher(classroom)
    student = classroom('student', browser=True)
    op.ask('/kick student')
    assert 'kicked' in student.read_to_close()[-1] and student.close_code == 1008


@pytest.mark.parametrize('command', ['kick', 'mute', 'ban'])
def test_an_operator_cannot_be_kicked_muted_or_banned_self_included(classroom, command):
    op = teacher(classroom)
    other = classroom('other')
    other.ask('/op ' + TEACHER)
    assert 'operator' in op.ask('/%s other' % command)[0]
    assert 'operator' in op.ask('/%s teacher' % command)[0]


@pytest.mark.parametrize('command', ['kick', 'mute', 'ban'])
def test_moderating_someone_not_online_says_so(classroom, command):
    op = teacher(classroom)
    assert op.ask('/%s nobody' % command) == ['nobody is not online.']


# ---- mute

def test_a_muted_student_is_heard_by_nobody_and_can_still_use_commands(classroom):
    op = teacher(classroom, 'python')
    bob = classroom('bob', 'python')
    listener = classroom('listener', 'python')
    assert op.ask('/mute bob')[-1] == 'bob is muted.'
    assert 'muted' in bob.expect('muted')[-1]
    for line in ('hello?', '/broadcast hello?', '/me waves', '/msg listener psst'):
        assert 'muted' in bob.ask(line)[0]
    assert bob.ask('/online')[0].startswith('Online in python (3)')
    assert 'bob:' not in ' '.join(listener.sync())       # heard nothing of it


def test_a_mute_holds_across_logins_and_a_muted_user_keeps_the_nickname(classroom):
    op = teacher(classroom, 'python')
    bob = classroom('bob', 'python')
    op.ask('/mute bob')
    assert 'muted' in bob.ask('/nick TEACHER_IS_LYING')[-1]     # no way to be heard
    assert 'muted' in bob.ask('/nick teacher')[-1]              # muted first, not taken
    assert 'TEACHER_IS_LYING' not in ' '.join(op.sync())
    bob.send('/logout')
    bob.read_to_close()
    again = classroom('BOB', 'python')
    assert 'muted' in again.ask('back again')[0]
    assert op.ask('/unmute bob')[-1] == 'bob is unmuted.'
    assert 'unmuted' in again.expect('unmuted')[-1]
    again.send('heard now')
    assert op.expect('BOB:')[-1] == 'BOB: heard now'


def test_mutes_lists_the_muted_by_the_name_they_have_now_to_operators_only(classroom):
    op = teacher(classroom)
    bob, carol = classroom('Bob'), classroom('carol')
    assert op.ask('/mutes') == ['Nobody is muted.']
    op.ask('/mute Bob')
    op.ask('/mute carol')
    bob.send('/logout')
    bob.read_to_close()
    bob = classroom('BOB')
    carol.send('/logout')
    carol.read_to_close()
    assert op.ask('/mutes')[-1] == 'Muted (2): BOB, carol'
    assert 'operators only' in bob.ask('/mutes')[0]


def test_a_rename_is_logged(classroom, caplog):
    bob = classroom('bob')
    bob.ask('/nick bobby')
    assert any(record.getMessage() == 'bob is now known as bobby' for record in caplog.records)


def test_unmute_of_someone_not_muted_says_so(classroom):
    op = teacher(classroom)
    assert op.ask('/unmute bob') == ['bob is not muted.']


# ---- ban

@needs_other_loopbacks
def test_a_ban_closes_every_connection_from_the_address_and_refuses_new_ones(classroom):
    op = teacher(classroom)
    bob = classroom('bob', source='127.0.0.2')
    bobs_other = classroom('bob2', source='127.0.0.2')
    assert op.ask('/ban bob 30') == ['127.0.0.2 is banned (bob) for 30 minutes.']
    for each in (bob, bobs_other):
        assert 'banned' in each.read_to_close()[-1]
    again = Client(classroom.running.port, source='127.0.0.2')
    try:
        assert 'banned' in again.read_to_close()[0]
    finally:
        again.close()
    assert op.ask('/bans') == ['Banned (1):', '127.0.0.2 for 30 more minutes']
    assert op.ask('/unban 127.0.0.2') == ['127.0.0.2 may come back.']
    assert classroom('bob', source='127.0.0.2').ask('/who')[0].startswith('Logged in')


@needs_other_loopbacks
def test_a_banned_address_gets_403_on_the_web_port(make_server, client):
    running = make_server(web=True, op_password=TEACHER)
    op, bob = client(running.port), client(running.port, source='127.0.0.2')
    for each, name in ((op, 'teacher'), (bob, 'bob')):
        log_in(each, name)
    op.ask('/op ' + TEACHER)
    op.ask('/ban bob')
    with socket.create_connection(('127.0.0.1', running.web_port),
                                  source_address=('127.0.0.2', 0), timeout=5) as page:
        page.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        answer = page.recv(4096)
    assert answer.startswith(b'HTTP/1.1 403') and b'banned' in answer


def test_an_address_with_an_operator_cannot_be_banned(classroom):
    op = teacher(classroom)
    classroom('bob')                        # from 127.0.0.1, as the teacher is
    assert 'operator' in op.ask('/ban bob')[0]


@pytest.mark.parametrize('minutes', ['x', '0', '-5', '1.5', '99999999999999999999'])
def test_ban_minutes_must_be_a_sensible_whole_number(classroom, minutes):
    op = teacher(classroom)
    classroom('bob')
    assert 'whole number' in op.ask('/ban bob ' + minutes)[0]


def test_bans_and_unban_of_an_address_not_banned(classroom):
    op = teacher(classroom)
    assert op.ask('/bans') == ['Nobody is banned.']
    assert op.ask('/unban 10.9.8.7') == ['10.9.8.7 is not banned.']
    assert op.ask('/unban') == ['Usage: /unban <address>']


# ---- announce and quiet

def test_announce_reaches_everyone_logged_in_wherever_they_are(classroom):
    op = teacher(classroom, 'write')
    in_hall, in_python = classroom('hall_user'), classroom('py_user', 'python')
    op.send('/announce tests start in 5 minutes')
    for each in (in_hall, in_python, op):
        assert each.expect('announcement')[-1] == (
            '[announcement] teacher: tests start in 5 minutes')


def test_quiet_sends_the_students_lines_to_the_operators_only(classroom):
    op = teacher(classroom, 'python')
    asker, other = classroom('asker', 'python'), classroom('other', 'python')
    op.send('/quiet')
    for each in (op, asker, other):
        assert 'quiet' in each.expect('Quiet mode')[-1].lower()
    asker.send('what is a closure?')
    asker.send('/me raises a hand')
    assert op.expect('hand')[-2:] == ['asker: what is a closure?', '* asker raises a hand']
    assert 'asker' not in ' '.join(other.sync())
    op.send('a closure keeps its variables')
    assert other.expect('teacher:')[-1] == 'teacher: a closure keeps its variables'
    assert other.ask('/history')[1:] == ['teacher: a closure keeps its variables']
    op.send('/quiet')
    assert 'off' in asker.expect('Quiet mode')[-1]


def test_quiet_is_a_chat_room_command(classroom):
    op = teacher(classroom)
    assert op.ask('/quiet')[0].startswith('Unknown command: /quiet')


# ---- brute force

def test_an_address_gets_a_burst_of_password_tries_then_so_many_a_second():
    attempts = PasswordTries(rate=1.0, burst=5)
    assert [attempts.take('10.0.0.1', 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert attempts.take('10.0.0.2', 0.0)          # another address has its own
    assert not attempts.take('10.0.0.1', 0.5) and attempts.take('10.0.0.1', 1.5)
    attempts.tick(100.0)
    assert len(attempts) == 0                      # forgotten once idle


def test_tries_over_all_addresses_are_capped_at_30_a_second_and_logged_once(caplog):
    """Guessing from many addresses: each has its own burst, but together they get 30."""
    caplog.set_level('WARNING', logger='chat')
    attempts = PasswordTries()
    tries = [attempts.take('10.0.%d.1' % n, 0.0) for n in range(200)]
    assert tries.count(True) == 30
    assert [attempts.take('10.1.%d.1' % n, 0.5) for n in range(20)].count(True) == 15
    assert [attempts.take('10.2.%d.1' % n, 2.0) for n in range(31)].count(True) == 30
    assert caplog.text.count('over all addresses') == 1      # once a minute, at most


def test_a_wrong_password_holds_the_next_line_back_a_second(classroom):
    """Timed, because the hold is what is checked: the next reply comes a second later."""
    student = classroom('student')
    student.send('/op wrong')
    assert student.line() == 'Wrong password.'
    started = time.monotonic()
    student.ask('/who')
    assert time.monotonic() - started >= 0.9


def test_an_address_past_its_tries_is_told_to_wait_and_nothing_is_compared(classroom,
                                                                           client):
    """Every connection of one address draws on its tries: a login, an /op, a resume code."""
    classroom.running.server.classroom.tries = PasswordTries(rate=0.001, burst=1)
    student = classroom('student')     # the class password: the address's one try
    stranger = client(classroom.running.port)
    stranger.expect('password')
    busy = ['Too many password tries from your address: try again in a moment.']
    assert student.ask('/op ' + TEACHER) == busy
    assert stranger.ask('/resume some-code') == busy
    assert stranger.ask('/login anyone ' + CLASS) == busy


# ---- the start, for a class

@pytest.mark.parametrize('problem, setup', [
    ('directory', lambda path: path.mkdir()),
    ('empty', lambda path: path.write_bytes(b'')),
    ('blank', lambda path: path.write_bytes(b'   \n  \n')),
    ('not UTF-8', lambda path: path.write_bytes(b'\xff\xfepass\n')),
    ('missing', lambda path: None),
])
@pytest.mark.parametrize('option', ['--password-file', '--op-password-file'])
def test_a_bad_password_file_stops_the_start_in_one_line(tmp_path, option, problem, setup):
    path = tmp_path / 'password'
    setup(path)
    done = subprocess.run([sys.executable, '-m', 'chat', '--port', '0', option, str(path)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert str(path) in lines[0] and option in lines[0] and 'Traceback' not in lines[0]


def test_listening_everywhere_logs_the_addresses_students_can_use(program):
    if not local_addresses():
        pytest.skip('this machine has no address but loopback: there is none to list')
    server = program('--host', '0.0.0.0', '--port', '0')
    port = server.port()
    web = server.expect(r'web client at http://0\.0\.0\.0:(\d+)/').group(1)
    for address in local_addresses():
        server.expect(r'students can use: telnet %s %d, or http://%s:%s/'
                      % (address, port, address, web))


def test_a_student_entering_a_quiet_room_is_told(classroom):
    op = teacher(classroom, 'python')
    op.ask('/quiet')
    late = classroom('late')
    assert 'Quiet mode is on' in late.ask('/python')[-1]


def test_quiet_mode_ends_when_the_last_operator_leaves_the_room(classroom):
    op = teacher(classroom, 'python')
    student = classroom('student', 'python')
    op.ask('/quiet')
    op.ask('/back')
    assert student.expect('Quiet mode is off')[-1] == 'Quiet mode is off in python.'


def test_a_login_is_logged_with_its_address(classroom, caplog):
    classroom('student')
    assert any(record.getMessage().endswith('logged in as student')
               and record.getMessage().startswith('127.0.0.1:') for record in caplog.records)


def test_a_password_file_saved_with_a_byte_order_mark_is_read_without_it(program, client,
                                                                       tmp_path):
    """Notepad saves UTF-8 with a byte-order mark: the password is what follows it."""
    secret = tmp_path / 'class'
    secret.write_bytes(b'\xef\xbb\xbfotter-4\r\n')
    server = program('--port', '0', '--no-web', '--password-file', str(secret))
    student = client(server.port())
    student.expect('/login')
    assert student.ask('/login amy otter-4')[0].startswith('Welcome, amy')


@pytest.mark.skipif(not hasattr(signal, 'SIGHUP'), reason='Windows has no SIGHUP')
def test_sighup_reads_the_password_files_again_and_a_broken_one_keeps_the_old(program,
                                                                              client, tmp_path):
    secret = tmp_path / 'class'
    secret.write_text('leaked\n')
    server = program('--port', '0', '--no-web', '--password-file', str(secret))
    port = server.port()
    secret.write_text('fresh\n')
    server.process.send_signal(signal.SIGHUP)
    server.expect('SIGHUP: read the password files')
    for password, works in (('leaked', False), ('fresh', True)):
        student = client(port)
        student.expect('/login')
        assert student.ask('/login amy %s' % password)[0].startswith('Welcome') == works
        student.close()
    secret.write_text('')              # a broken file: the class keeps its password
    server.process.send_signal(signal.SIGHUP)
    assert 'nothing changed' in server.expect('SIGHUP: cannot use .*').group(0)
    student = client(port)
    student.expect('/login')
    assert student.ask('/login bea fresh')[0].startswith('Welcome, bea')
