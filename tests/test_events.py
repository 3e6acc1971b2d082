"""The page's events (chat.events): one event, two renderings.

A WebSocket client that offers the subprotocol chat.events reads every line
as a JSON object that says what it means; a telnet client, and a WebSocket
client that does not offer it, read the same lines as text, unchanged. Each
test here talks to a real server over loopback, as EventClient (the page's
way) beside a telnet-like Client.
"""

import itertools
import json

import pytest
from conftest import Client, EventClient, WebClient, log_in
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import chat.websocket
from chat.events import as_json
from chat.framing import clean
from chat.rooms import MAX_NICKNAME, valid_nickname


@pytest.fixture
def server(make_server):
    return make_server(web=True, op_password='sesame')


@pytest.fixture
def events(server):
    """Return a function that opens an EventClient (logged in as name, into room, if
    given), closed after the test."""
    opened = []

    def open_client(name=None, room=None):
        client = EventClient(server.web_port)
        opened.append(client)
        if name:
            log_in(client, name, room)
        return client

    yield open_client
    for client in opened:
        client.close()


def upgrade(port, protocols):
    """Send an upgrade that offers protocols; return the response head."""
    client = WebClient(port, upgrade=False)
    extra = 'Sec-WebSocket-Protocol: %s\r\n' % protocols if protocols else ''
    client.sock.sendall(('GET /chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n'
                         'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
                         'Sec-WebSocket-Version: 13\r\n%s\r\n' % (port, extra)).encode())
    try:
        return client.head()
    finally:
        client.close()


def test_chat_events_is_agreed_only_when_offered(server):
    assert 'Sec-WebSocket-Protocol: chat.events' in upgrade(server.web_port, 'chat.events')
    assert 'Sec-WebSocket-Protocol: chat.events' in upgrade(server.web_port,
                                                            'chat.v2, chat.events')
    for other in (None, 'chat.v2', 'Chat.Events'):   # names are case-sensitive
        assert 'Sec-WebSocket-Protocol' not in upgrade(server.web_port, other)


def test_every_message_is_one_object_with_the_telnet_line_as_its_text(server, events,
                                                                       client, web_client):
    """The same conversation, read three ways: telnet, plain WebSocket, and events."""
    page = events('page', 'python')
    telnet = log_in(client(server.port), 'telnet', 'python')
    plain = log_in(web_client(server.web_port), 'plain', 'python')
    for each in (telnet, plain, page):
        each.sync()
    bob = log_in(client(server.port), 'bob', 'python')
    bob.send('hello')
    bob.send('/me waves')
    bob.ask('/quiet')
    bob.ask('/back')
    wanted = ['bob entered the room.', 'bob: hello', '* bob waves', 'bob left the room.']
    assert telnet.expect('bob left')[-4:] == wanted
    assert plain.expect('bob left')[-4:] == wanted
    got = []
    while not got or got[-1].get('text') != 'bob left the room.':
        opcode, payload = page.frame()
        assert opcode == 0x1
        got.append(json.loads(payload.decode('utf-8')))   # one whole object a message
    assert all('type' in each for each in got)
    assert [each['text'] for each in got if 'text' in each] == wanted


def test_what_users_say_carries_who_what_where_and_a_seq(server, events, client):
    page = events('page', 'python')
    bob = log_in(client(server.port), 'bob', 'python')
    page.next_of('notice', event='enter', nick='bob')
    bob.send('hello <b>x</b>')
    said = page.next_of('say')
    assert said['text'] == 'bob: hello <b>x</b>'
    assert (said['from'], said['body'], said['room']) == ('bob', 'hello <b>x</b>', 'python')
    assert isinstance(said['seq'], int) and isinstance(said['time'], (int, float))
    bob.send('/me waves')
    action = page.next_of('me')
    assert (action['text'], action['from'], action['body']) == ('* bob waves', 'bob', 'waves')
    assert action['seq'] == said['seq'] + 1


def test_a_private_message_has_one_seq_for_both_copies(server, events):
    alice, bob = events('alice'), events('bob')
    alice.send('/msg bob see you')
    sent = alice.next_of('private')
    received = bob.next_of('private')
    assert sent['text'] == 'To bob, privately: see you'
    assert received['text'] == '[private] alice: see you'
    for copy in (sent, received):
        assert (copy['from'], copy['to'], copy['body']) == ('alice', 'bob', 'see you')
    assert sent['seq'] == received['seq']


@pytest.mark.parametrize('typed', ['The server is shutting down. Goodbye!',
                                   'Usage: /login <nickname>',
                                   'one\u2028two',
                                   '{"type": "shutdown", "text": "x"}'])
def test_nothing_a_user_types_makes_another_kind_of_object(server, events, client, typed):
    page = events('page', 'python')
    mallory = log_in(client(server.port), 'Usage', 'python')
    page.next_of('notice', event='enter')
    mallory.send(typed)
    said = page.next_of('say')
    assert said['from'] == 'Usage' and said['body'] == typed
    assert said['text'] == 'Usage: ' + typed


TYPED = st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='\r\n'),
                max_size=60)
"""Any text a user may type on a line: any script, controls, marks, ignorable characters."""

NICKNAMES = st.text(st.characters(blacklist_categories=('Cs',)), min_size=1,
                    max_size=MAX_NICKNAME).filter(valid_nickname)
"""Any nickname the server takes."""


def erases_back(text):
    """Whether a BS or DEL in text erases more than text has before it: what it erases
    then is the end of the command the text follows (clean edits the whole line)."""
    kept = 0
    for char in text:
        kept = kept - 1 if char in '\b\x7f' else kept + 1
        if kept < 0:
            return True
    return False


def test_what_anyone_types_as_anyone_arrives_only_as_from_and_body(server):
    """Any text, said, acted (/me) or sent privately (/msg) by any nickname: the page's
    object carries the nickname only in `from`, the text only in `body`, and as its `text`
    exactly the line a telnet user reads; every object is valid JSON, one a message."""
    numbers = itertools.count()

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(nick=NICKNAMES, typed=TYPED, how=st.sampled_from(['say', 'me', 'private']))
    def check(nick, typed, how):
        body = clean(typed)
        assume(body and not body.startswith('/'))        # a command, or nothing to say
        assume(how == 'say' or not erases_back(typed))  # '/me \b0' is '/me0'
        assume(not nick.lower().startswith(('page', 'telnet')))
        number = next(numbers)
        line = {'say': '', 'me': '/me ', 'private': '/msg page%d ' % number}[how] + typed
        page = log_in(EventClient(server.web_port), 'page%d' % number, 'python')
        telnet = log_in(Client(server.port), 'telnet%d' % number, 'python')
        user = log_in(Client(server.port), nick, 'python')
        try:
            page.next_of('notice', event='enter', nick=nick)
            user.send(line)
            user.send('the end')
            got = page.next_of(how)
            assert got['from'] == nick and got['body'] == body, got
            others = {key: value for key, value in got.items()
                      if key not in ('from', 'body', 'text')}
            assert set(others) <= {'type', 'seq', 'time', 'room', 'to'}, got
            assert others['type'] == how and others.get('to') in (None, 'page%d' % number)
            lines = telnet.expect_all('%s: the end' % nick)
            if how == 'private':
                assert got['text'] == '[private] %s: %s' % (nick, body)
                assert lines[-2] == '%s entered the room.' % nick
            else:
                assert got['text'] == lines[-2]                 # what telnet reads, exactly
            assert page.next_of('say')['body'] == 'the end'
        finally:
            for client in (user, telnet, page):
                client.close()

    check()


def test_an_announcement_reaches_the_hall_and_every_room(server, events):
    teacher = events('teacher', 'write')
    teacher.ask('/op sesame')
    listener = events('listener')
    teacher.send('/announce tests at ten')
    event = listener.next_of('announce')
    assert event['text'] == '[announcement] teacher: tests at ten'
    assert (event['from'], event['body']) == ('teacher', 'tests at ten')
    assert 'room' not in event and isinstance(event['seq'], int)


def room_with(client, *nicks):
    """Read room objects until one lists exactly nicks; return it."""
    while True:
        event = client.next_of('room')
        if [member['nick'] for member in event['members']] == list(nicks):
            return event


def test_the_room_lists_its_members_with_operators_and_to_operators_the_muted(server,
                                                                              events, client):
    teacher = events('teacher', 'python')
    teacher.ask('/op sesame')
    student = events('student', 'python')
    assert room_with(teacher, 'student', 'teacher')['members'] == [
        {'nick': 'student', 'operator': False, 'muted': False},
        {'nick': 'teacher', 'operator': True, 'muted': False}]
    own = room_with(student, 'student', 'teacher')
    assert own['members'] == [{'nick': 'student', 'operator': False},
                              {'nick': 'teacher', 'operator': True}]
    assert (own['name'], own['quiet']) == ('python', False)
    teacher.send('/mute student')
    assert teacher.next_of('room')['members'][0] == {
        'nick': 'student', 'operator': False, 'muted': True}
    bob = log_in(client(server.port), 'bob', 'python')
    room_with(student, 'bob', 'student', 'teacher')
    bob.send('/nick bobby')
    assert student.next_of('notice', event='rename') == {
        'type': 'notice', 'text': 'bob is now known as bobby.', 'event': 'rename',
        'nick': 'bob', 'new': 'bobby'}
    room_with(student, 'bobby', 'student', 'teacher')
    bob.send('/back')
    assert student.next_of('notice', event='leave')['nick'] == 'bobby'
    room_with(student, 'student', 'teacher')


def test_the_status_says_who_where_operator_and_muted_as_it_changes(server, events):
    page = events()
    first = page.next_of('status')
    assert first == {'type': 'status', 'nick': None, 'room': 'hall', 'operator': False,
                     'muted': False, 'password': False}
    page.send('/login amy')
    status = page.next_of('status')
    code = status.pop('resume')
    assert status == {'type': 'status', 'nick': 'amy', 'room': 'hall', 'operator': False,
                      'muted': False}
    assert len(code) >= 22 and page.ask('/resume')[0].startswith('Your resume code: ' + code)
    page.send('/write')
    assert page.next_of('status')['room'] == 'write'
    page.send('/nick amelia')
    assert page.next_of('status')['nick'] == 'amelia'
    teacher = events('teacher')
    teacher.ask('/op sesame')
    teacher.send('/mute amelia')
    assert page.next_of('notice', event='mute') == {
        'type': 'notice', 'text': 'You have been muted by teacher.', 'event': 'mute',
        'nick': 'amelia', 'by': 'teacher'}
    assert page.next_of('status')['muted'] is True
    teacher.send('/unmute amelia')
    assert page.next_of('status')['muted'] is False
    page.send('/op sesame')
    assert page.next_of('status')['operator'] is True


def test_a_class_password_is_in_the_first_status(make_server):
    server = make_server(web=True, password='letmein')
    page = EventClient(server.web_port)
    try:
        assert page.next_of('status')['password'] is True
    finally:
        page.close()


def test_the_commands_come_on_entering_a_room_and_with_operator_status(server, events):
    page = events()
    hall = page.next_of('commands')
    assert hall['room'] == 'hall'
    assert {'name': 'login', 'usage': 'login <nickname>',
            'help': 'log in under a nickname.'} in hall['commands']
    page.send('/login amy')
    lines = []
    while True:                        # the login's reply: no /help block, the object instead
        event = page.event()
        if event['type'] == 'commands':
            break
        lines.append(event.get('text'))
    assert 'Commands here:' not in lines
    page.send('/python')
    names = [entry['name'] for entry in page.next_of('commands', room='python')['commands']]
    assert 'history' in names and 'kick' not in names
    page.send('/op sesame')
    names = [entry['name'] for entry in page.next_of('commands', room='python')['commands']]
    assert 'kick' in names and 'quiet' in names


def test_history_sends_the_objects_again_marked_as_a_replay(server, events, client):
    page = events('page', 'python')
    bob = log_in(client(server.port), 'bob', 'python')
    bob.send('first')
    said = page.next_of('say')
    page.send('/history')
    assert page.next_of('line')['text'] == 'The last 1 lines said in python:'
    again = page.next_of('say')
    assert again == dict(said, replay=True)


def test_quiet_mode_and_the_moderation_are_notices(server, events):
    teacher = events('teacher', 'python')
    teacher.ask('/op sesame')
    student = events('student', 'python')
    teacher.send('/quiet')
    assert student.next_of('notice', event='quiet')['on'] is True
    assert student.next_of('room')['quiet'] is True
    teacher.send('/kick student enough')
    kicked = student.next_of('notice', event='kick')
    assert (kicked['nick'], kicked['by']) == ('student', 'teacher')
    assert kicked['text'] == 'You were kicked by teacher: enough'
    with pytest.raises(EOFError):
        student.event()
    assert student.close_code == 1008
    assert teacher.next_of('notice', event='kick')['nick'] == 'student'


def test_a_muted_line_gets_a_muted_notice_each_time(server, events):
    teacher = events('teacher', 'python')
    teacher.ask('/op sesame')
    student = events('student', 'python')
    teacher.ask('/mute student')
    student.next_of('status', muted=True)
    for _ in range(3):
        student.send('can anyone hear me')
        assert student.next_of('notice')['event'] == 'muted'


def test_logout_is_a_notice_and_the_shutdown_an_object_before_1001(server, events):
    leaving = events('leaving')
    leaving.send('/logout')
    assert leaving.next_of('notice') == {'type': 'notice', 'text': 'Goodbye!',
                                         'event': 'logout', 'nick': 'leaving'}
    staying = events('staying')
    staying.sync()
    server.stop()
    assert staying.next_of('shutdown')['text'] == 'The server is shutting down. Goodbye!'
    with pytest.raises(EOFError):
        staying.event()
    assert staying.close_code == 1001


def test_a_line_is_rendered_once_for_all_its_event_readers(server, events, client,
                                                          monkeypatch):
    """A broadcast encodes its line once for the text readers, and makes its event's
    object once for all the chat.events readers, not once a member."""
    made = []

    def counted(line, replay=False):
        made.append(str(line))
        return as_json(line, replay)

    monkeypatch.setattr(chat.websocket, 'as_json', counted)
    pages = [events('page%d' % n, 'python') for n in range(4)]
    bob = log_in(client(server.port), 'bob', 'python')
    bob.send('hello, all four')
    for page in pages:
        assert page.next_of('say')['body'] == 'hello, all four'
    assert made.count('bob: hello, all four') == 1


def test_refusals_are_notices_with_a_reason_the_third_too(make_server):
    server = make_server(web=True, password='otter-4')
    page = EventClient(server.web_port)
    try:
        page.next_of('status')
        for attempt in range(1, 4):
            page.send('/login amy wrong%d' % attempt)
            refused = page.next_of('notice', event='refused')
            assert refused['reason'] == 'wrong'
        assert refused['text'] == 'Wrong password, 3 times: goodbye.'
        with pytest.raises(EOFError):
            page.event()
        assert page.close_code == 1008
    finally:
        page.close()
