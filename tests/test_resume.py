"""Resuming: /resume CODE [SEQ] brings a dropped session back as it was.

Real servers on loopback: a ServerThread (memory only) for what one server
does, and the program with --db for a restart. A dropped connection is a
real close or reset of the client's socket.
"""

import functools
import re
import time

import pytest
from conftest import TIMEOUT, EventClient, StrictServer, log_in, reset

from chat.store import Store

CODE = re.compile(r'Your resume code: (\S+)\.')


def code_of(client):
    """Ask for the session's resume code."""
    return next(match.group(1) for match in map(CODE.match, client.ask('/resume')) if match)


@pytest.fixture
def server(make_server):
    return make_server(op_password='sesame', web=True)


@pytest.fixture(params=[False, True], ids=['in-memory', 'with-a-database'])
def memory_or_db(request, make_server, tmp_path):
    """A server that keeps its state in memory, or in a database too, as --db has it: the
    lines a resumed session missed are then found in both, and each must come once."""
    store = Store(str(tmp_path / 'chat.db')) if request.param else None
    running = make_server(server_class=functools.partial(StrictServer, store=store))
    yield running
    running.stop()                     # the last round written before the file is let go
    if store is not None:
        store.close()


def test_a_dropped_session_comes_back_with_what_it_missed_in_order_once(memory_or_db, client):
    server = memory_or_db
    alice = log_in(client(server.port), 'alice', 'python')
    bob = log_in(client(server.port), 'bob', 'python')
    bob.send('before the drop')
    alice.expect('before the drop')
    code = code_of(alice)
    seq = 1                            # the one line said so far
    reset(alice.sock)                  # the Wi-Fi drops
    bob.expect('alice left the room.')
    bob.send('while you were away')
    bob.send('/me waits')
    carol = log_in(client(server.port), 'carol', 'write')
    carol.send('in another room')
    bob.sync()
    carol.sync()
    back = client(server.port)
    back.expect('/login')
    reply = back.ask('/resume %s %d' % (code, seq))
    assert reply[0] == 'Welcome back, alice!'
    assert reply[1:3] == ['bob: while you were away', '* bob waits']
    assert 'You are in the room python.' in reply[3]
    assert 'before the drop' not in ' '.join(reply) and 'in another room' not in ' '.join(reply)
    assert bob.expect('alice entered the room.')
    bob.send('welcome back')
    assert back.expect('welcome back')[-1] == 'bob: welcome back'
    assert code_of(back) != code                      # a new code for each resume


def test_a_code_is_good_once_and_not_after_logout_kick_or_its_time(make_server, client):
    server = make_server(op_password='sesame',
                         server_class=functools.partial(StrictServer, resume_seconds=1))
    alice = log_in(client(server.port), 'alice')
    code = code_of(alice)
    alice.close()
    first = client(server.port)
    first.expect('/login')
    assert first.ask('/resume ' + code)[0] == 'Welcome back, alice!'
    second = client(server.port)
    second.expect('/login')
    assert 'unknown or expired' in second.ask('/resume ' + code)[0]    # used
    leaving = log_in(client(server.port), 'leaving')
    gone = code_of(leaving)
    leaving.send('/logout')
    leaving.read_to_close()
    late = log_in(client(server.port), 'late')
    old = code_of(late)
    late.close()
    time.sleep(1.5)                    # past --resume-seconds
    for code in (gone, old):
        again = client(server.port)
        again.expect('/login')
        assert 'unknown or expired' in again.ask('/resume ' + code)[0]


def test_codes_past_their_time_are_forgotten_as_sessions_end(make_server, client):
    """Memory holds the codes of the last --resume-seconds, however many come and go."""
    server = make_server(server_class=functools.partial(StrictServer, resume_seconds=1))
    watcher = log_in(client(server.port), 'watcher', 'python')
    for n in range(20):
        log_in(client(server.port), 'drop%d' % n, 'python').close()
        watcher.expect('drop%d left the room.' % n)  # ended, and its code kept
    assert len(server.server.resumes) == 21
    time.sleep(1.5)                    # past --resume-seconds
    log_in(client(server.port), 'last', 'python').close()      # its end expires the others

    def nicks():                       # a copy made at once: the loop's thread changes it
        return sorted(each.nick for each in dict(server.server.resumes).values())
    deadline = time.monotonic() + TIMEOUT
    while nicks() != ['last', 'watcher'] and time.monotonic() < deadline:
        time.sleep(0.01)               # until the server has closed last's connection
    assert nicks() == ['last', 'watcher']


def test_wrong_codes_count_as_wrong_passwords(server, client):
    guesser = client(server.port)
    guesser.expect('/login')
    assert 'unknown or expired' in guesser.ask('/resume not-a-code')[0]
    assert 'unknown or expired' in guesser.ask('/resume still-not 5')[0]
    guesser.send('/resume third-time')
    assert 'unknown or expired, 3 times' in guesser.read_to_close()[-1]


def test_an_operator_comes_back_an_operator_in_its_room(server, client):
    teacher = log_in(client(server.port), 'teacher', 'write')
    teacher.ask('/op sesame')
    code = code_of(teacher)
    teacher.close()
    back = client(server.port)
    back.expect('/login')
    reply = back.ask('/resume ' + code)
    assert reply[0] == 'Welcome back, teacher!'
    assert 'You are in the room write.' in ' '.join(reply)
    assert '(operator)' in ' '.join(back.ask('/who'))
    assert back.ask('/kick nobody')[0] == 'nobody is not online.'


def test_a_nickname_taken_meanwhile_is_said_and_the_code_still_holds(server, client):
    alice = log_in(client(server.port), 'alice')
    code = code_of(alice)
    alice.close()
    time.sleep(0.2)
    other = log_in(client(server.port), 'ALICE')
    back = client(server.port)
    back.expect('/login')
    assert 'taken' in back.ask('/resume ' + code)[0]
    other.send('/logout')
    other.read_to_close()
    assert back.ask('/resume ' + code)[0] == 'Welcome back, alice!'


def test_a_connection_not_known_to_be_gone_is_taken_over(server, client):
    alice = log_in(client(server.port), 'alice', 'pm')
    code = code_of(alice)              # alice's socket stays open: a half-dead Wi-Fi link
    carol = log_in(client(server.port), 'carol')
    carol.ask('/msg alice are you there?')     # reaches the old link, which nobody reads
    back = client(server.port)
    back.expect('/login')
    reply = back.ask('/resume %s 0' % code)
    assert reply[:2] == ['Welcome back, alice!', '[private] carol: are you there?']
    assert alice.read_to_close()[-1] == '[private] carol: are you there?'   # then closed
    assert back.ask('/online')[0] == 'Online in pm (1): alice'


def test_the_page_gets_its_code_and_the_missed_lines_as_objects(server, client):
    page = EventClient(server.web_port)
    try:
        log_in(page, 'page', 'python')
        code = page.next_of('status', room='python')['resume']
        bob = log_in(client(server.port), 'bob', 'python')
        bob.send('first')
        seq = page.next_of('say')['seq']
        page.close()
        bob.send('second')
        bob.expect('page left')
        back = EventClient(server.web_port)
        back.next_of('status')
        back.send('/resume %s %d' % (code, seq))
        assert back.next_of('notice', event='login')['text'] == 'Welcome back, page!'
        missed = back.next_of('say')
        assert (missed['body'], missed['seq']) == ('second', seq + 1)
        status = back.next_of('status', room='python')
        assert status['nick'] == 'page' and status['resume'] != code
        back.close()
    finally:
        page.close()


def test_a_restart_with_a_database_costs_nobody_their_place(program, client, tmp_path):
    db = str(tmp_path / 'chat.db')
    server = program('--port', '0', '--no-web', '--db', db)
    port = server.port()
    alice = log_in(client(port), 'alice', 'python')
    bob = log_in(client(port), 'bob', 'python')
    code = code_of(alice)
    bob.send('said before the restart')
    alice.expect('said before the restart')
    server.kill()                      # a crash: the codes were open sessions'
    server = program('--port', '0', '--no-web', '--db', db)
    port = server.port()
    back = client(port)
    back.expect('/login')
    reply = back.ask('/resume %s 0' % code)
    assert reply[:2] == ['Welcome back, alice!', 'bob: said before the restart']
    assert 'You are in the room python.' in ' '.join(reply)
