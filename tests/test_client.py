"""chat-client: its real Tk window, driven against a real server and a socket client.

On Linux the window opens on a virtual display: Xvfb, started here (or the
DISPLAY already set). .ci/run installs Xvfb and sets CHAT_REQUIRE_DISPLAY=1,
which makes a missing display a failure instead of a skip. On macOS and
Windows the window opens on the desktop, as a user's would.
"""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from conftest import TIMEOUT, WINDOWS, Client, installed_script

from chat import client as chat_client

PASSWORD = 'open sesame 7'
"""The class password of the tests that have one: a space in it, as a password may have."""

OP_PASSWORD = 'teach3r-only'
"""The operators' password."""

REQUIRED = os.environ.get('CHAT_REQUIRE_DISPLAY') == '1'
NATIVE = WINDOWS or sys.platform == 'darwin'     # a desktop of their own, no X server

if chat_client.tk is None:
    if REQUIRED:
        raise RuntimeError('CHAT_REQUIRE_DISPLAY=1 but this Python has no tkinter')
    pytestmark = pytest.mark.skip(reason='this Python has no tkinter: ' + chat_client.NO_TKINTER)
elif not (NATIVE or os.environ.get('DISPLAY') or shutil.which('Xvfb')):
    if REQUIRED:
        raise RuntimeError('CHAT_REQUIRE_DISPLAY=1 but there is no DISPLAY and no Xvfb')
    pytestmark = pytest.mark.skip(reason='no DISPLAY and no Xvfb: apt-get install xvfb')


def start_xvfb():
    """Start Xvfb on a free display number; return (process, ':N')."""
    read, write = os.pipe()
    process = subprocess.Popen(
        ['Xvfb', '-displayfd', str(write), '-screen', '0', '1024x768x24', '-nolisten', 'tcp'],
        pass_fds=[write], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()       # Xvfb writes it once it is ready
    assert number, 'Xvfb did not start'
    return process, ':' + number


@pytest.fixture(scope='module')
def display():
    """The X display the window opens on, or None for the platform's own desktop."""
    if NATIVE or os.environ.get('DISPLAY'):
        yield None
        return
    process, name = start_xvfb()
    yield name
    process.terminate()
    process.wait(TIMEOUT)


@pytest.fixture
def window(display, chat_server):
    """A chat-client window, its form filled in for the test server."""
    root = chat_client.tk.Tk(screenName=display)
    app = chat_client.ChatClient(root, '127.0.0.1', chat_server.port)
    root.update()
    yield app
    app.quit()


@pytest.fixture
def window_onto(display, make_server):
    """Return a function that starts a server with the passwords given (password,
    op_password) and opens a window onto it; return (window, server)."""
    opened = []

    def window_onto(**passwords):
        server = make_server(**passwords)
        app = chat_client.ChatClient(chat_client.tk.Tk(screenName=display), '127.0.0.1',
                                     server.port)
        opened.append((app, server))
        app.root.update()
        return app, server

    yield window_onto
    for app, _server in opened:
        app.quit()                          # then make_server stops the server


def until(app, condition, what):
    """Run the window's event loop until condition() holds; fail after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, 'the window never showed %s; it shows:\n%s' % (
            what, text_of(app))
        app.root.update()
        time.sleep(0.01)


def text_of(app):
    return app.conversation.get('1.0', 'end')


def shows(app, text):
    until(app, lambda: text in text_of(app), repr(text))


def log_in(app, nickname):
    app.nick.set(nickname)
    app.connect_button.invoke()
    shows(app, 'Welcome, %s!' % nickname)
    until(app, lambda: '/python' in app.buttons, "the hall's buttons")


def type_line(app, text, entry=None):
    """Type text into the input line (or entry), then press Enter, as a user does."""
    entry = entry or app.entry
    entry.focus_force()
    # A key event goes to the window with the focus: on a desktop, wait until that is ours.
    until(app, lambda: app.root.focus_get() is entry, 'the focus in the field typed in')
    entry.insert('end', text)
    entry.event_generate('<Return>')
    app.root.update()


def asked_for_the_password(app, nickname):
    """Fill in the form and connect to a class with a password, up to the login bar."""
    app.nick.set(nickname)
    app.connect_button.invoke()
    shows(app, 'This class has a password')
    until(app, lambda: app.login_bar.winfo_ismapped(), 'the login bar')
    until(app, lambda: app.root.focus_get() is app.password_entry,
          'the cursor in the password field')


def test_logs_in_enters_a_room_and_chats_both_ways_in_chinese_too(window, login):
    log_in(window, 'tom')
    assert window.chat.winfo_ismapped() and not window.form.winfo_ismapped()
    assert not window.login_bar.winfo_ismapped(), 'a login bar in a class with no password'
    window.buttons['/python'].invoke()
    shows(window, 'You are in the room python')
    until(window, lambda: '/online' in window.buttons and '/python' not in window.buttons,
          "the room's buttons")
    assert window.root.title() == 'chat: tom in python'
    ann = login('ann', 'python')
    shows(window, 'ann entered the room.')
    ann.send('你好，tom！')
    shows(window, 'ann: 你好，tom！')
    type_line(window, 'hello ann ☺ 小明在吗')
    assert ann.expect('tom:')[-1] == 'tom: hello ann ☺ 小明在吗'
    assert window.entry.get() == ''
    window.buttons['/online'].invoke()
    shows(window, 'Online in python (2): ann, tom')


def test_a_taken_nickname_can_be_changed_and_the_window_learns_the_new_one(window, login):
    login('tom')
    window.nick.set('tom')
    window.connect_button.invoke()
    shows(window, 'The nickname tom is taken')
    assert window.buttons == {}
    type_line(window, '/login TomToo')
    shows(window, 'Welcome, TomToo!')
    until(window, lambda: '/python' in window.buttons, "the hall's buttons")
    assert window.root.title() == 'chat: TomToo in hall'
    type_line(window, '/nick Tomás')
    shows(window, 'You are now Tomás.')
    assert window.root.title() == 'chat: Tomás in hall'
    window.buttons['/logout'].invoke()
    until(window, lambda: window.reconnect_button.winfo_ismapped(), 'the Reconnect button')
    window.reconnect_button.invoke()
    until(window, lambda: 'Welcome, Tomás!' in text_of(window), 'a login as the new name')


def test_the_class_password_is_asked_for_never_shown_and_kept_for_reconnect(window_onto):
    window, _ = window_onto(password=PASSWORD)
    asked_for_the_password(window, 'tom')
    assert window.buttons == {}
    assert window.password_entry.cget('show') == '*'
    type_line(window, PASSWORD, window.password_entry)
    shows(window, 'Welcome, tom!')
    until(window, lambda: '/python' in window.buttons, "the hall's buttons")
    until(window, lambda: not window.login_bar.winfo_ismapped(), 'the login bar gone')
    assert window.root.title() == 'chat: tom in hall'
    assert '> /login tom ******\n' in text_of(window)
    assert window.password_entry.get() == ''
    window.buttons['/logout'].invoke()
    until(window, lambda: window.reconnect_button.winfo_ismapped(), 'the Reconnect button')
    window.reconnect_button.invoke()
    until(window, lambda: text_of(window).count('Welcome, tom!') == 2, 'a second login')
    assert not window.login_bar.winfo_ismapped()
    assert 'sesame' not in text_of(window) and 'sesame' not in window.status.get()


def test_a_wrong_class_password_is_shown_and_the_next_try_logs_in(window_onto):
    window, server = window_onto(password=PASSWORD)
    asked_for_the_password(window, 'tom')
    type_line(window, 'open barley', window.password_entry)
    shows(window, 'Wrong password.')
    assert window.login_bar.winfo_ismapped() and window.room is None
    until(window, lambda: window.root.focus_get() is window.password_entry,
          'the cursor back in the password field')
    type_line(window, '/login tom ' + PASSWORD)          # typed in full, the other way
    shows(window, 'Welcome, tom!')
    until(window, lambda: not window.login_bar.winfo_ismapped(), 'the login bar gone')
    conversation = text_of(window)
    assert conversation.count('> /login tom ******\n') == 2, conversation
    assert 'barley' not in conversation and 'sesame' not in conversation
    ann = Client(server.port)
    try:
        ann.expect('password')
        ann.send('/login ann ' + PASSWORD)
        ann.expect('Welcome, ann!')
        assert 'tom in hall' in ann.ask('/who')[-1]
    finally:
        ann.close()


def test_three_wrong_class_passwords_close_and_reconnect_asks_again(window_onto):
    window, _ = window_onto(password=PASSWORD)
    asked_for_the_password(window, 'tom')
    for number, guess in enumerate(('guess one', 'guess two', 'guess three'), 1):
        until(window, lambda: window.login_bar.winfo_ismapped(), 'the login bar')
        type_line(window, guess, window.password_entry)
        until(window, lambda n=number: text_of(window).count('Wrong password') == n,
              'wrong password %d' % number)
    shows(window, 'Wrong password, 3 times: goodbye.')
    until(window, lambda: window.status.get().startswith('Connection lost'), 'the loss')
    assert not window.login_bar.winfo_ismapped()
    assert 'guess' not in text_of(window)
    window.reconnect_button.invoke()
    until(window, lambda: window.login_bar.winfo_ismapped(), 'the login bar again')
    type_line(window, PASSWORD, window.password_entry)
    shows(window, 'Welcome, tom!')


def test_an_operator_gets_buttons_for_the_operators_commands(window_onto):
    window, server = window_onto(op_password=OP_PASSWORD)
    log_in(window, 'tom')
    assert not {'/kick', '/mute', '/ban', '/announce'} & set(window.buttons)
    ann = Client(server.port)
    try:
        ann.expect('/login')
        ann.send('/login ann')
        ann.expect('Welcome, ann!')
        window.entry.insert('end', '/op')
        assert window.entry.cget('show') == ''     # no password yet
        window.entry.insert('end', ' ' + OP_PASSWORD[:3])
        assert window.entry.cget('show') == '*'    # a class may see the screen: stars
        type_line(window, OP_PASSWORD[3:])
        shows(window, 'You are an operator now')
        assert window.entry.get() == '' and window.entry.cget('show') == ''
        until(window, lambda: {'/kick', '/mute', '/ban', '/announce'} <= set(window.buttons),
              "the operator's buttons")
        assert '> /op ******\n' in text_of(window) and 'teach3r' not in text_of(window)
        assert text_of(window).count('Commands here:') == 1     # the new list: buttons only
        window.buttons['/python'].invoke()
        until(window, lambda: '/quiet' in window.buttons, "the room's operator buttons")
        window.buttons['/kick'].invoke()
        assert window.entry.get() == '/kick '
        type_line(window, 'ann')
        shows(window, 'ann was kicked.')
        assert 'You were kicked by tom' in ann.read_to_close()[-1]
    finally:
        ann.close()


def test_buttons_come_whole_when_the_list_of_commands_arrives_in_pieces(display):
    """A stand-in server, because the real one writes its list in one piece, and only a
    stand-in can make it arrive in two reads."""
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        root = chat_client.tk.Tk(screenName=display)
        app = chat_client.ChatClient(root, '127.0.0.1', listener.getsockname()[1])
        try:
            app.nick.set('tom')
            app.connect_button.invoke()
            server, _ = listener.accept()
            with server:
                server.sendall(b'Welcome, tom! You are in the hall.\r\nCommands here:\r\n'
                               b'/help     list the commands of this room.\r\n')
                until(app, lambda: '/help' in app.buttons, 'the first button')
                server.sendall(b'/logout   leave the chat server.\r\n'
                               b'/python   enter the chat room python.\r\n')
                until(app, lambda: set(app.buttons) == {'/help', '/logout', '/python'},
                      'every button')
        finally:
            app.quit()


def test_a_command_that_takes_an_argument_is_put_in_the_input_line(window):
    log_in(window, 'tom')
    window.buttons['/python'].invoke()
    until(window, lambda: '/broadcast' in window.buttons, 'the /broadcast button')
    window.buttons['/broadcast'].invoke()
    assert window.entry.get() == '/broadcast '


def test_a_lost_connection_shows_in_the_status_line_and_reconnect_logs_in_again(window):
    log_in(window, 'tom')
    window.buttons['/python'].invoke()
    until(window, lambda: window.root.title() == 'chat: tom in python', 'the room')
    until(window, lambda: '/logout' in window.buttons, "the room's buttons")
    window.buttons['/logout'].invoke()
    until(window, lambda: window.status.get().startswith('Connection lost'), 'the loss')
    assert 'Goodbye!' in text_of(window)
    assert window.reconnect_button.winfo_ismapped()
    window.reconnect_button.invoke()
    until(window, lambda: text_of(window).count('Welcome, tom!') == 2, 'a second login')
    assert window.root.title() == 'chat: tom in hall'
    assert not window.reconnect_button.winfo_ismapped()
    assert window.status.get().startswith('Connected to 127.0.0.1')


def test_the_server_going_away_shows_in_the_status_line(window, chat_server):
    log_in(window, 'tom')
    chat_server.stop()
    until(window, lambda: window.status.get().startswith('Connection lost'), 'the loss')
    assert 'shutting down' in text_of(window)


def drop(server, nickname):
    """Cut nickname's connection at the server's end, as a dropped Wi-Fi or a server that
    lost track of it would: the window sees its connection end with no word why."""
    [session] = [each for each in list(server.server.users.values())
                 if each.client_name == nickname]
    session.socket.shutdown(socket.SHUT_RDWR)


def in_python_with_a_code(app, nickname):
    """Log the window in as nickname, into python, until it holds its resume code."""
    log_in(app, nickname)
    app.buttons['/python'].invoke()
    until(app, lambda: app.root.title() == 'chat: %s in python' % nickname, 'the room')
    until(app, lambda: '/online' in app.buttons, "the room's buttons")
    until(app, lambda: app.resume_code is not None, 'the resume code')


def stays_out(app, server_client, nickname):
    """The window offers Reconnect and tries nothing by itself: nothing is scheduled,
    and past the first wait a drop would have, the server has no nickname."""
    until(app, lambda: app.reconnect_button.winfo_ismapped(), 'the Reconnect button')
    assert app._retry is None and app.resume_code is None
    deadline = time.monotonic() + chat_client.RETRY_FIRST * (1 + chat_client.RETRY_JITTER) + 0.5
    while time.monotonic() < deadline:          # the window's loop runs meanwhile
        app.root.update()
        time.sleep(0.01)
    assert app.sock is None
    assert not any(line.startswith(nickname + ' in ') for line in server_client.ask('/who'))


def test_a_dropped_connection_comes_back_by_itself_in_the_same_room(window, chat_server,
                                                                    login):
    in_python_with_a_code(window, 'alice')
    code = window.resume_code
    assert 'resume code' not in text_of(window) and code not in text_of(window)
    bob = login('bob', 'python')
    drop(chat_server, 'alice')
    until(window, lambda: window.status.get().startswith('Connection lost'), 'the loss')
    assert 'Connecting again in' in window.status.get()
    assert bob.expect('alice left the room.')
    shows(window, 'Welcome back, alice!')
    assert bob.expect('alice entered the room.')
    shows(window, '(connected again as alice)')
    until(window, lambda: window.root.title() == 'chat: alice in python', 'the room again')
    assert window.status.get().startswith('Connected again to 127.0.0.1')
    assert not window.reconnect_button.winfo_ismapped()
    bob.send('welcome back, alice')
    shows(window, 'bob: welcome back, alice')
    type_line(window, 'thanks bob, I am back')
    assert bob.expect('alice:')[-1] == 'alice: thanks bob, I am back'
    until(window, lambda: window.resume_code not in (None, code), 'a new resume code')
    conversation = text_of(window)
    assert conversation.count('Welcome, alice!') == 1, conversation
    assert 'resume code' not in conversation and window.resume_code not in conversation
    assert code not in conversation and code not in window.status.get()
    drop(chat_server, 'alice')                 # and again, with the new code
    until(window, lambda: text_of(window).count('(connected again as alice)') == 2,
          'a second return')
    assert bob.expect('alice entered the room.')


def test_a_kicked_window_does_not_come_back(window_onto):
    window, server = window_onto(op_password=OP_PASSWORD)
    in_python_with_a_code(window, 'alice')
    teacher = Client(server.port)
    try:
        teacher.expect('/login')
        teacher.send('/login teacher')
        teacher.expect('Welcome, teacher!')
        assert 'operator' in teacher.ask('/op ' + OP_PASSWORD)[-1]
        teacher.send('/kick alice talking too much')
        teacher.expect('alice was kicked.')
        shows(window, 'You were kicked by teacher: talking too much')
        until(window, lambda: window.status.get().startswith('Connection lost'), 'the loss')
        stays_out(window, teacher, 'alice')
        assert 'Welcome back' not in text_of(window)
    finally:
        teacher.close()


def test_after_a_logout_the_window_stays_out_and_reconnect_logs_in(window, login):
    in_python_with_a_code(window, 'alice')
    window.buttons['/logout'].invoke()
    shows(window, 'Goodbye!')
    stays_out(window, login('bob'), 'alice')
    window.reconnect_button.invoke()
    until(window, lambda: text_of(window).count('Welcome, alice!') == 2, 'a new login')
    assert 'unknown or expired' not in text_of(window)      # no void code was tried


def test_a_code_the_server_does_not_know_falls_back_to_logging_in(window, chat_server):
    in_python_with_a_code(window, 'alice')
    window.resume_code = 'forgotten-by-a-restart'   # as a server without --db forgets it
    drop(chat_server, 'alice')
    shows(window, 'That resume code is unknown or expired.')
    until(window, lambda: text_of(window).count('Welcome, alice!') == 2, 'a new login')
    assert window.root.title() == 'chat: alice in hall'
    assert 'Welcome back' not in text_of(window) and 'forgotten' not in text_of(window)
    until(window, lambda: window.resume_code not in (None, 'forgotten-by-a-restart'),
          'a new resume code')


def test_a_nickname_taken_meanwhile_is_told_and_another_can_be_chosen(window, chat_server,
                                                                      login):
    in_python_with_a_code(window, 'alice')
    bob = login('bob', 'python')
    drop(chat_server, 'alice')
    bob.expect('alice left the room.')
    other = login('alice')                     # before the window is back
    shows(window, 'The nickname alice is taken now')
    assert window.resume_code is None and window._retry is None
    type_line(window, '/login alice2')
    shows(window, 'Welcome, alice2!')
    other.close()


def test_after_a_shutdown_it_waits_for_reconnect_and_keeps_the_code(window, chat_server):
    in_python_with_a_code(window, 'alice')
    chat_server.stop()
    shows(window, 'shutting down')
    until(window, lambda: window.reconnect_button.winfo_ismapped(), 'the Reconnect button')
    assert window._retry is None and window.resume_code is not None


def test_when_the_server_stays_away_the_tries_stop_once_the_code_has_expired(display):
    """A stand-in server, whose codes hold for 1 second: it goes away without a word,
    and the window tries to connect again until the code has expired, then leaves it to
    Reconnect."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen()
    app = chat_client.ChatClient(chat_client.tk.Tk(screenName=display), '127.0.0.1',
                                 listener.getsockname()[1])
    try:
        app.nick.set('tom')
        app.connect_button.invoke()
        server, _ = listener.accept()
        with server:
            server.settimeout(TIMEOUT)
            server.sendall(b'Welcome to the chat server!\r\nLog in with: /login <nickname>\r\n')
            until(app, lambda: app._welcomed, 'the welcome')
            server.sendall(b'Welcome, tom! You are in the hall.\r\n')
            until(app, lambda: app._code_asked, 'the question for the code')
            said = b''
            while not said.endswith(b'/resume\r\n'):
                said += server.recv(4096)
            assert said == b'/login tom\r\n/resume\r\n'
            server.sendall(b'Your resume code: c0de_-X. After a lost connection, /resume '
                           b'c0de_-X logs you in again as you are now, for 1 seconds.\r\n')
            until(app, lambda: app.resume_code == 'c0de_-X', 'the code kept')
            listener.close()                     # the server is gone, without a word
        until(app, lambda: 'Connecting again in' in app.status.get(), 'a try to come')
        until(app, lambda: 'Press Reconnect' in app.status.get(), 'the tries given up')
        assert app._retry is None and app.sock is None
        assert app.status.get().startswith('Cannot connect to 127.0.0.1')
        assert app.reconnect_button.winfo_ismapped()
        assert 'c0de' not in text_of(app)
    finally:
        listener.close()
        app.quit()


def test_a_refused_connection_is_told_on_the_form(window):
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        free = probe.getsockname()[1]            # nothing listens there once closed
    window.port.set(str(free))
    window.nick.set('tom')
    window.connect_button.invoke()
    assert window.form_message.get().startswith('Cannot connect to 127.0.0.1 port %d' % free)
    assert window.form.winfo_ismapped()


def test_a_bad_port_is_told_on_the_form(window):
    window.port.set('many')
    window.nick.set('tom')
    window.connect_button.invoke()
    assert 'port' in window.form_message.get()


def test_without_tkinter_it_says_how_to_get_it_in_one_line():
    """Simulated: this Python has tkinter, so the child is made to lose it."""
    done = subprocess.run(
        [sys.executable, '-c', ('import sys; sys.modules["tkinter"] = None; '
         'from chat.client import main; sys.exit(main([]))')],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert 'tkinter' in line and 'python3-tk' in line and 'nc ' in line


def test_console_script_is_installed():
    script = installed_script('chat-client')
    assert script, 'no chat-client installed with %s' % sys.executable
    done = subprocess.run([script, '--help'], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and 'HOST' in done.stdout.upper()
