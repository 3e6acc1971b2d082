"""The chat page in a real browser: headless Chromium, driven by Selenium, chatting on a real
server on loopback with line clients that speak exactly what telnet sends.

The page reads the server's typed events (the `chat.events` subprotocol), never the wording
of a line; these tests check it from the outside, as a person would: what it shows, what it
offers, where the keyboard is, and that it comes back by itself when the connection drops:
resumed as it was, with what it missed, or logged in afresh where the server cannot resume it.
The page's phase (connecting, login, joining, chatting, waiting, ended) is on its body, as
data-phase, so a test can wait for it.

The tests need the selenium package and Debian's chromium and chromium-driver (.ci/run
installs them). Where one is missing, or chromedriver cannot start that chromium (a driver
for another version), they are skipped, unless CHAT_REQUIRE_BROWSER=1 (as CI sets) makes
that a failure. Nothing is downloaded and nothing leaves the machine: Selenium is given
chromedriver's path, so its Selenium Manager never runs, and Chromium resolves no host
name (--host-resolver-rules), so its background services reach nowhere. One browser
serves the whole module (a Chinese one is started for the test that needs it); each test
opens the page afresh on a server of its own.
"""

import contextlib
import functools
import os
import shutil
import socket
import sys
import tempfile

import pytest
from conftest import TIMEOUT, Client, ServerThread, StrictServer, StrictWebServer

from chat.limits import PasswordTries
from chat.store import Store
from chat.web import WebSession

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoAlertPresentException,
                                            StaleElementReferenceException,
                                            TimeoutException, WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:                    # a skip, or with CHAT_REQUIRE_BROWSER=1 a failure
    webdriver = None

try:                                   # axe-core's script, as a package ships it (3.10+)
    from axe_core_python.base import AXE_SCRIPT
except ImportError:
    AXE_SCRIPT = None

CHROMIUM = shutil.which('chromium')
CHROMEDRIVER = shutil.which('chromedriver')
REQUIRED = os.environ.get('CHAT_REQUIRE_BROWSER') == '1'

if webdriver is None:
    MISSING = 'no selenium package: pip install selenium'
elif CHROMIUM is None or CHROMEDRIVER is None:
    MISSING = 'no chromium or chromedriver: apt-get install chromium chromium-driver'
else:
    MISSING = None

if MISSING:
    if REQUIRED:
        raise RuntimeError('CHAT_REQUIRE_BROWSER=1 but there is ' + MISSING)
    pytestmark = pytest.mark.skip(reason=MISSING)

CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync',
                  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1')

LAPTOP = {'width': 1024, 'height': 700, 'deviceScaleFactor': 1, 'mobile': False}
PHONE = {'width': 360, 'height': 740, 'deviceScaleFactor': 2, 'mobile': True}
"""Viewports, set through the DevTools protocol: a phone's is laid out as a phone lays out
a page, by its meta viewport."""

OP_PASSWORD = 'teach3r'

LOOKALIKE = 'te\u0251cher'
"""teɑcher, with a Latin alpha: a nickname nobody types by mistake, and few can type at all."""


@contextlib.contextmanager
def chromium(language):
    """Headless Chromium on a fresh profile, its pages' language set to language."""
    profile = tempfile.mkdtemp(prefix='chat-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ('--lang=' + language, '--user-data-dir=' + profile):
        options.add_argument(flag)
    # --lang sets the interface's language; navigator.languages follows this preference.
    options.add_experimental_option('prefs', {'intl.accept_languages': language})
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as error:    # a chromedriver for another browser version, say
        shutil.rmtree(profile, ignore_errors=True)
        if REQUIRED:
            raise
        pytest.skip('Chromium does not start under chromedriver: %s'
                    % str(error.msg).splitlines()[0].split(';')[0])
    try:
        driver.set_script_timeout(TIMEOUT)
        driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', LAPTOP)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope='module')
def browser():
    with chromium('en-US') as driver:
        yield driver


@pytest.fixture
def page(browser):
    """The module's browser, laid out as a laptop's; left on a blank page after the test."""
    browser.get_log('browser')         # what earlier tests left in the console
    yield browser
    browser.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', LAPTOP)
    browser.execute_cdp_cmd('Emulation.setEmulatedMedia', {'features': []})
    browser.get('about:blank')


class WebServerThread(ServerThread):
    """A ServerThread with its web side on web_port (0: a free one), not only on a free one
    as web=True has it: the test of a restart starts a second server on the first's port.
    With db (a file's path), the server keeps its state there (a Store, as --db has it),
    and lets go of the file when it stops. With tries (a PasswordTries), that is the
    allowance of password tries, in place of the usual one. Other keyword arguments are
    ServerThread's."""

    def __init__(self, web_port=0, db=None, tries=None, **options):
        self.web_port = web_port
        self.tries = tries
        self.store = None if db is None else Store(db)
        if self.store is not None:
            options['server_class'] = functools.partial(StrictServer, store=self.store)
        super().__init__(prepare=self._add_web_side, **options)

    def stop(self):
        try:
            super().stop()
        finally:
            if self.store is not None:
                self.store.close()     # writes what the last round queued, as --db does
                self.store = None

    def _add_web_side(self, loop):
        if self.tries is not None:     # before the loop runs: the schedule is not in use
            self.server.classroom.tries = self.tries
            self.server.schedule.add_timer(self.tries)
        self.web = StrictWebServer(self.server, self.web_port, '127.0.0.1')
        self.web_port = self.web.socket.getsockname()[1]
        self.url = 'http://%s/' % self.web.address


@pytest.fixture
def serve():
    """Return a function that starts a WebServerThread; each is stopped after the test."""
    started = []

    def start(**options):
        started.append(WebServerThread(**options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(serve):
    return serve(op_password=OP_PASSWORD)


@pytest.fixture
def line_user(request):
    """Return a function that logs a line client in as nickname, in room if given, on the
    server `to` (the test's `server` unless told), an operator if operator is true."""
    users = []

    def log_in(nickname, room=None, to=None, operator=False):
        user = Client((to or request.getfixturevalue('server')).port)
        users.append(user)
        user.expect('/login')
        user.send('/login ' + nickname)
        user.expect('Welcome, ' + nickname)
        user.sync()                    # the hall's help
        if operator:
            assert 'operator' in user.ask('/op ' + OP_PASSWORD)[-1]
        if room:
            assert room in user.ask('/' + room)[-1]
        return user

    yield log_in
    for user in users:
        user.close()


def drop_browsers(server):
    """End the browsers' sessions at the socket: no close frame, as when a network fails.
    list() copies the set in one step under the GIL, and shutdown() is one system call;
    the server's loop then finds the end of input and closes as usual."""
    for session in list(server.server.sessions):
        if isinstance(session, WebSession):
            session.socket.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def offline(driver):
    """The browser's network down, as a school's Wi-Fi is for a moment: no new connection
    opens (DevTools' network emulation), while one that is open stays open."""
    conditions = {'latency': 0, 'downloadThroughput': -1, 'uploadThroughput': -1}
    driver.execute_cdp_cmd('Network.enable', {})
    driver.execute_cdp_cmd('Network.emulateNetworkConditions', dict(conditions, offline=True))
    try:
        yield
    finally:
        driver.execute_cdp_cmd('Network.emulateNetworkConditions',
                               dict(conditions, offline=False))
        driver.execute_cdp_cmd('Network.disable', {})


# ---- What the test reads in the page, and does in it, as a person would

def lines(driver):
    """The text of every line of the conversation."""
    return driver.execute_script(
        'return [...document.querySelectorAll("#log .line")].map(line => line.textContent)')


def classes_of_line(driver, text):
    """The classes of the first line of the conversation that has text in it."""
    return driver.execute_script(
        'const line = [...document.querySelectorAll("#log .line")]'
        '  .find(line => line.textContent.includes(arguments[0]));'
        'return line ? [...line.classList] : null', text)


def wait(driver, condition, what):
    """Wait until condition() is true; fail saying what the page never did. An element
    the page drew again while condition() looked at it (the list of people is redrawn
    whenever the room changes) only means: look again."""
    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,)
                             ).until(lambda _: condition())
    except TimeoutException:
        pytest.fail('the page never %s; it is %s, saying %r; its lines were: %r'
                    % (what, phase(driver), status(driver), lines(driver)))


def count(driver, text):
    """How many lines of the conversation have text in them."""
    return sum(text in line for line in lines(driver))


def wait_for_line(driver, text):
    """Wait for a line of the conversation that has text in it."""
    wait(driver, lambda: any(text in line for line in lines(driver)), 'showed %r' % text)


def status(driver):
    return driver.find_element(By.ID, 'status-text').text


def phase(driver):
    return driver.execute_script('return document.body.dataset.phase')


def shown(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def where(driver):
    """What the top bar says of the user: nickname, room, and operator or muted."""
    return driver.find_element(By.ID, 'self').text.split()


def focused(driver):
    """The id of the element with the keyboard focus."""
    return driver.execute_script('return document.activeElement.id')


def buttons(driver):
    """The command buttons, by their text, shown or folded away in a phone's panel."""
    return driver.execute_script(
        'return [...document.querySelectorAll("#commands button")].map(b => b.textContent)')


def click_command(driver, name):
    """Click a command's button; on a phone, open the panel of commands first."""
    wait(driver, lambda: name in buttons(driver), 'offered %s' % name)
    button = driver.find_element(By.XPATH, '//*[@id="commands"]/button[text()="%s"]' % name)
    if not button.is_displayed():
        driver.find_element(By.ID, 'commands-toggle').click()
    button.click()


def people(driver):
    """The room's members as the list beside the conversation shows them, in its order."""
    return driver.execute_script(
        'return [...document.querySelectorAll("#people-list .person")]'
        '.map(person => person.dataset.nick)')


def person(driver, nickname):
    """The list's entry for a member, found by the nickname exactly (no selector to escape)."""
    return driver.execute_script(
        'return [...document.querySelectorAll("#people-list .person")]'
        '.find(person => person.dataset.nick === arguments[0])', nickname)


def marks(driver, nickname):
    """The marks beside a member's name: operator, muted, you."""
    entry = person(driver, nickname)
    return [mark.text for mark in entry.find_elements(By.CSS_SELECTOR, '.mark')] if entry else None


def act_on(driver, nickname, action):
    """Open a member's actions in the list and click one: msg, mute, unmute, kick, ban."""
    wait(driver, lambda: click(driver, nickname, '.person-name'), 'listed %s' % nickname)
    wait(driver, lambda: click(driver, nickname, '[data-action="%s"]' % action),
         'offered %s for %s' % (action, nickname))


def click(driver, nickname, selector):
    """Click the element of a member's entry in the list that selector finds, if it is
    there: whether it was. (An entry redrawn in between raises, and wait() looks again.)"""
    entry = person(driver, nickname)
    found = entry.find_elements(By.CSS_SELECTOR, selector) if entry else []
    if found:
        found[0].click()
    return bool(found)


def answer_dialog(driver, yes):
    """The page's own confirmation: wait for it, and answer it."""
    dialog = driver.find_element(By.ID, 'confirm')
    wait(driver, dialog.is_displayed, 'asked for a confirmation')
    question = driver.find_element(By.ID, 'confirm-text').text
    driver.find_element(By.ID, 'confirm-yes' if yes else 'confirm-no').click()
    wait(driver, lambda: not dialog.is_displayed(), 'closed its confirmation')
    return question


def type_line(driver, text):
    """Type into the input line, and press Enter."""
    driver.find_element(By.ID, 'line').send_keys(text + Keys.ENTER)


def open_page(driver, url):
    driver.get(url)
    wait(driver, lambda: status(driver) == 'Connected', 'connected')


def log_in(driver, url, nickname, room=None):
    """Open the page, log in as nickname (typed, then Enter), and enter room if given."""
    open_page(driver, url)
    driver.find_element(By.ID, 'nickname').send_keys(nickname + Keys.ENTER)
    wait_for_line(driver, 'Welcome, %s!' % nickname)
    wait(driver, lambda: '/python' in buttons(driver), "offered the hall's commands")
    if room:
        click_command(driver, '/' + room)
        wait(driver, lambda: '/online' in buttons(driver) and room in where(driver),
             'entered %s' % room)


def become_operator(driver):
    type_line(driver, '/op ' + OP_PASSWORD)
    wait(driver, lambda: 'operator' in where(driver), 'showed the user is an operator')


def log_end(driver):
    """How far the conversation is scrolled from its end, in pixels."""
    return driver.execute_script(
        'const log = document.getElementById("log");'
        'return log.scrollHeight - log.scrollTop - log.clientHeight')


def box(driver, element):
    return driver.execute_script('return arguments[0].getBoundingClientRect().toJSON()', element)


def on_screen(driver, element, width, height):
    """Whether element is whole inside a width x height window, and not covered there."""
    rect = box(driver, element)
    inside = (0 <= rect['left'] and rect['right'] <= width
              and 0 <= rect['top'] and rect['bottom'] <= height)
    return inside and driver.execute_script(
        'const r = arguments[0].getBoundingClientRect();'
        'const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);'
        'return arguments[0].contains(hit)', element)


# ---- Chatting

def test_a_browser_user_and_a_line_user_chat_both_ways_in_a_room(page, server, line_user):
    bob = line_user('bob', 'python')
    log_in(page, server.url, 'ann', 'python')
    bob.expect('ann entered the room.')
    type_line(page, 'hello bob')
    assert bob.line() == 'ann: hello bob'
    wait_for_line(page, '> hello bob')
    bob.send('hi ann, 你好')
    wait_for_line(page, 'bob: hi ann, 你好')
    assert 'type-say' in classes_of_line(page, 'bob: hi ann')


def test_html_from_another_user_shows_as_text(page, server, line_user):
    bob = line_user('bob', 'python')
    eve = line_user('<i>eve</i>', 'python')     # a nickname may hold < and > too
    log_in(page, server.url, 'ann', 'python')
    bob.send('<b>x</b>')
    bob.send('<img src=x onerror=alert(1)>')
    eve.send('<script>alert(2)</script>')
    wait_for_line(page, 'bob: <b>x</b>')
    wait_for_line(page, 'bob: <img src=x onerror=alert(1)>')
    wait_for_line(page, '<i>eve</i>: <script>alert(2)</script>')
    wait(page, lambda: '<i>eve</i>' in people(page), 'listed <i>eve</i> as she is')
    assert page.find_elements(By.CSS_SELECTOR, 'main b, main img, main i, main script, '
                                               'aside b, aside i') == []
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.accept()


def test_what_students_type_is_chat_whatever_it_says(page, server, line_user):
    """A line that says the server is shutting down, and a nickname that looks like the
    start of a reply, are shown as chat: the page changes nothing for them."""
    bob = line_user('bob', 'python')
    usage = line_user('Usage', 'python')
    log_in(page, server.url, 'ann', 'python')
    bob.send('the server is shutting down. Goodbye!')
    bob.send('/me is shutting down')
    usage.send('/broadcast /login <nickname>')     # said in the room: a usage reply's look
    wait_for_line(page, 'Usage: /login <nickname>')
    assert 'type-say' in classes_of_line(page, 'Usage: /login <nickname>')
    assert 'type-say' in classes_of_line(page, 'bob: the server is shutting down')
    assert 'type-me' in classes_of_line(page, '* bob is shutting down')
    assert status(page) == 'Connected' and phase(page) == 'chatting'
    assert not shown(page, 'reconnect')
    assert page.find_elements(By.CSS_SELECTOR, '#log .shutdown') == []
    type_line(page, 'still here')
    assert bob.expect('ann:')[-1] == 'ann: still here'


def test_the_conversation_follows_new_lines_unless_scrolled_up(page, serve, line_user):
    server = serve(line_rate=0)        # 60 lines at once, not paced
    bob = line_user('bob', 'python', to=server)
    log_in(page, server.url, 'ann', 'python')
    bob.send(''.join('line %d\r\n' % number for number in range(60)))
    wait_for_line(page, 'bob: line 59')
    assert log_end(page) < 8
    page.execute_async_script(         # scroll to the top, and wait until it has scrolled
        'const log = document.getElementById("log"), done = arguments[0];'
        'log.addEventListener("scroll", () => done(), {once: true});'
        'log.scrollTop = 0')
    bob.send('one more')
    wait_for_line(page, 'bob: one more')
    assert page.execute_script('return document.getElementById("log").scrollTop') == 0
    page.find_element(By.ID, 'newer').click()
    assert log_end(page) < 8


def test_the_same_reply_again_and_again_is_one_line_with_a_count(page, server, line_user):
    """A muted student gets a notice for every line tried: one line, counted."""
    teacher = line_user('teach', operator=True)
    log_in(page, server.url, 'ann', 'python')
    teacher.ask('/mute ann')
    wait(page, lambda: 'muted' in where(page), 'showed the user is muted')
    for number in range(5):
        type_line(page, 'try %d' % number)
    wait_for_line(page, '×5')
    assert count(page, 'You are muted') == 1
    assert lines(page)[-1].startswith('You are muted') and lines(page)[-1].endswith('×5')
    assert count(page, '> try 4') == 1                 # what the user typed is still shown


# ---- The commands

def test_the_command_buttons_follow_the_room_and_no_help_is_printed(page, server):
    log_in(page, server.url, 'ann')
    in_hall = buttons(page)
    assert {'/python', '/write', '/who', '/msg'} <= set(in_hall) and '/online' not in in_hall
    assert '/login' not in in_hall                     # logged in already
    click_command(page, '/python')
    wait(page, lambda: {'/online', '/back'} <= set(buttons(page))
         and '/python' not in buttons(page), "offered python's commands")
    click_command(page, '/back')
    wait(page, lambda: '/python' in buttons(page) and '/online' not in buttons(page),
         "offered the hall's commands again")
    assert not any(line.startswith(('Commands here', '/')) for line in lines(page))


def test_a_command_button_runs_and_leaves_the_keyboard_in_the_input_line(page, server):
    log_in(page, server.url, 'ann')
    click_command(page, '/python')                     # a room change
    wait(page, lambda: 'python' in where(page), 'entered python')
    assert focused(page) == 'line'
    click_command(page, '/online')
    wait_for_line(page, 'Online in python (1): ann')
    assert '> /online' in lines(page)
    assert focused(page) == 'line'


def test_a_command_with_an_argument_is_started_in_the_input_line(page, server, line_user):
    bob = line_user('bob')
    log_in(page, server.url, 'ann')
    click_command(page, '/msg')
    field = page.find_element(By.ID, 'line')
    assert field.get_attribute('value') == '/msg '
    assert focused(page) == 'line'
    field.send_keys('bob see you in python' + Keys.ENTER)
    assert bob.expect('[private]')[-1] == '[private] ann: see you in python'
    wait_for_line(page, 'To bob, privately: see you in python')
    assert 'type-private' in classes_of_line(page, 'To bob, privately')


def test_the_up_arrow_recalls_what_was_sent_and_the_down_arrow_goes_forward(page, server):
    log_in(page, server.url, 'ann')
    type_line(page, 'first')
    type_line(page, '/who')
    wait_for_line(page, 'ann in hall')
    field = page.find_element(By.ID, 'line')
    field.send_keys('draft')
    value = []
    for key in (Keys.ARROW_UP, Keys.ARROW_UP, Keys.ARROW_UP, Keys.ARROW_DOWN, Keys.ARROW_DOWN):
        field.send_keys(key)
        value.append(field.get_attribute('value'))
    assert value == ['/who', 'first', 'first', '/who', 'draft']
    field.send_keys(Keys.ARROW_UP + Keys.ENTER)
    wait(page, lambda: count(page, '> /who') == 2, 'sent /who again')


# ---- The room's people, and the teacher's controls

def test_the_list_of_people_follows_who_enters_leaves_and_is_renamed(page, server, line_user):
    log_in(page, server.url, 'ann', 'python')
    assert where(page) == ['ann', '·', 'python']
    assert people(page) == ['ann'] and marks(page, 'ann') == ['you']
    bob = line_user('bob', 'python')
    wait(page, lambda: people(page) == ['ann', 'bob'], 'listed bob')
    teacher = line_user('Teach', 'python', operator=True)
    wait(page, lambda: marks(page, 'Teach') == ['operator'], 'marked the operator')
    assert people(page) == ['ann', 'bob', 'Teach']      # as the server sorts them
    bob.ask('/nick bobby')
    wait(page, lambda: people(page) == ['ann', 'bobby', 'Teach'], 'renamed bob')
    teacher.ask('/back')
    wait(page, lambda: people(page) == ['ann', 'bobby'], 'took Teach off the list')
    assert marks(page, 'bobby') == []                 # nobody else sees who is muted
    assert page.find_element(By.ID, 'people-title').text == 'In python (2)'


def test_an_operator_is_not_offered_op_and_gets_the_operators_commands(page, server):
    log_in(page, server.url, 'ann')
    assert '/op' in buttons(page) and '/kick' not in buttons(page)
    become_operator(page)
    wait(page, lambda: {'/kick', '/ban', '/announce'} <= set(buttons(page)),
         "offered the operators' commands")
    assert '/op' not in buttons(page)
    assert where(page) == ['ann', '·', 'the', 'hall', 'operator']


def test_an_operator_mutes_and_kicks_from_the_list_of_people(page, server, line_user):
    """The actions send the nickname exactly as the list has it: teɑcher, with an alpha."""
    lookalike = line_user(LOOKALIKE, 'python')
    log_in(page, server.url, 'ann', 'python')
    become_operator(page)
    act_on(page, LOOKALIKE, 'mute')
    assert lookalike.expect('muted')[-1] == 'You have been muted by ann.'
    wait(page, lambda: 'muted' in marks(page, LOOKALIKE), 'marked %s muted' % LOOKALIKE)
    assert focused(page) == 'line'
    lookalike.send('can anyone hear me?')
    assert 'You are muted' in lookalike.line()
    act_on(page, LOOKALIKE, 'kick')
    assert LOOKALIKE in answer_dialog(page, yes=False)   # not yet: nothing is sent
    assert 'You are muted' in lookalike.ask('still here?')[-1]
    assert LOOKALIKE in people(page)
    act_on(page, LOOKALIKE, 'kick')
    answer_dialog(page, yes=True)
    assert lookalike.read_to_close()[-1] == 'You were kicked by ann.'
    wait(page, lambda: people(page) == ['ann'], 'took %s off the list' % LOOKALIKE)
    assert '> /kick %s' % LOOKALIKE in lines(page)
    assert focused(page) == 'line'


def test_a_private_message_is_started_from_the_list_of_people(page, server, line_user):
    line_user(LOOKALIKE, 'python')
    log_in(page, server.url, 'ann', 'python')
    act_on(page, LOOKALIKE, 'msg')
    assert page.find_element(By.ID, 'line').get_attribute('value') == '/msg %s ' % LOOKALIKE
    assert focused(page) == 'line'
    assert person(page, LOOKALIKE).find_elements(By.CSS_SELECTOR, '[data-action="kick"]') == []


# ---- Logging in, out, and in again

def test_a_taken_nickname_is_explained_and_another_can_be_tried(page, server, line_user):
    line_user('ann')
    open_page(page, server.url)
    nickname = page.find_element(By.ID, 'nickname')
    nickname.send_keys('ANN' + Keys.ENTER)
    note = page.find_element(By.ID, 'login-note')
    wait(page, lambda: 'taken' in note.text, 'said the nickname is taken')
    assert nickname.is_displayed()
    nickname.clear()
    nickname.send_keys('ann2' + Keys.ENTER)
    wait_for_line(page, 'Welcome, ann2!')
    assert page.find_element(By.ID, 'line').is_displayed() and not nickname.is_displayed()


def test_the_password_field_appears_when_the_class_has_one_and_is_used_again(page, serve):
    """Used again where the page cannot resume: a server restarted without a database
    knows no resume codes, so the page logs in afresh, with the class password."""
    first = serve(password='open sesame')
    open_page(page, first.url)
    password = page.find_element(By.ID, 'password')
    wait(page, password.is_displayed, 'showed the password field')
    page.find_element(By.ID, 'nickname').send_keys('ann')
    password.send_keys('open sesame' + Keys.ENTER)
    wait_for_line(page, 'Welcome, ann!')
    first.stop()
    wait(page, lambda: phase(page) == 'waiting', 'noticed the server stopped')
    serve(password='open sesame', web_port=first.web_port)
    wait(page, lambda: count(page, 'Welcome, ann!') == 2, 'logged in again with the password')
    assert 'That resume code is unknown or expired.' in lines(page)
    assert not shown(page, 'password') and phase(page) == 'chatting'


def test_three_wrong_passwords_end_the_connection_until_the_user_tries_again(page, serve):
    server = serve(password='open sesame')
    open_page(page, server.url)
    password = page.find_element(By.ID, 'password')
    wait(page, password.is_displayed, 'showed the password field')
    page.find_element(By.ID, 'nickname').send_keys('ann')
    note = page.find_element(By.ID, 'login-note')
    for _ in range(2):
        password.send_keys('guess' + Keys.ENTER)
        wait(page, lambda: phase(page) == 'login' and 'Wrong password' in note.text,
             'said the password is wrong')
        assert focused(page) == 'password' and password.get_attribute('value') == ''
    password.send_keys('guess' + Keys.ENTER)
    wait(page, lambda: phase(page) == 'ended', 'ended')
    assert status(page) == 'The server closed the connection.'
    assert 'goodbye' in note.text
    password.clear()
    password.send_keys('open sesame' + Keys.ENTER)     # a new connection, on the user's word
    wait_for_line(page, 'Welcome, ann!')


def masking(field):
    """How the page draws the characters typed in field: 'disc' hides them, 'none' shows them."""
    return field.parent.execute_script(
        'return getComputedStyle(arguments[0]).webkitTextSecurity;', field)


def test_a_password_typed_in_the_input_line_is_neither_shown_nor_recalled(page, server):
    log_in(page, server.url, 'ann')
    field = page.find_element(By.ID, 'line')
    field.send_keys('/op')
    assert masking(field) == 'none'                    # no password yet
    field.send_keys(' tea')
    assert masking(field) == 'disc'                    # a class may see the screen: dots
    field.send_keys('ch3r' + Keys.ENTER)
    wait_for_line(page, 'You are an operator now')
    assert '> /op ••••••' in lines(page)
    assert masking(field) == 'none'
    assert not any(OP_PASSWORD in line for line in lines(page))
    field.send_keys(Keys.ARROW_UP)
    assert field.get_attribute('value') == ''


def test_after_logout_the_login_form_is_back_and_another_name_works(page, server, line_user):
    log_in(page, server.url, 'ann', 'python')
    type_line(page, '/logout')
    wait_for_line(page, 'Goodbye!')
    nickname = page.find_element(By.ID, 'nickname')
    wait(page, lambda: nickname.is_displayed() and phase(page) == 'login',
         'offered the login form again')
    assert focused(page) == 'nickname' and nickname.get_attribute('value') == 'ann'
    nickname.clear()
    nickname.send_keys('bea' + Keys.ENTER)
    wait_for_line(page, 'Welcome, bea!')
    assert where(page) == ['bea', '·', 'the', 'hall']
    bob = line_user('bob')
    who = bob.ask('/who')
    assert 'bea in hall' in who and not any(line.startswith('ann ') for line in who)


def test_a_kicked_user_is_not_logged_in_again(page, server, line_user):
    teacher = line_user('teach', operator=True)
    log_in(page, server.url, 'ann')
    teacher.ask('/kick ann talking in class')
    wait_for_line(page, 'You were kicked by teach: talking in class')
    wait(page, lambda: phase(page) == 'ended', 'ended')
    assert status(page) == 'You were kicked out.'
    assert shown(page, 'nickname') and not shown(page, 'line')
    assert 'ann' not in ' '.join(teacher.ask('/who'))


# ---- When the connection drops

BACK = 'Back where you were.'
"""What the status line says for a moment after the page resumed its session."""


def test_a_dropped_connection_comes_back_by_itself_in_its_room(page, server, line_user):
    log_in(page, server.url, 'ann', 'python')
    drop_browsers(server)
    wait(page, lambda: status(page).startswith('Connection lost. Reconnecting in'),
         'said it is reconnecting')
    assert shown(page, 'reconnect') and shown(page, 'line')
    wait(page, lambda: status(page) == BACK, 'said it is back')
    assert count(page, 'Welcome back, ann!') == 1 and count(page, 'Welcome, ann!') == 1
    wait(page, lambda: where(page) == ['ann', '·', 'python'], 'gone back to python')
    assert not shown(page, 'reconnect')
    wait(page, lambda: status(page) == 'Connected', 'stopped saying it is back')
    bob = line_user('bob', 'python')
    bob.send('welcome back')
    wait_for_line(page, 'bob: welcome back')


def test_a_wifi_blip_shows_what_was_said_meanwhile_once(page, server, line_user):
    """The connection is cut at the server while the page's network is down; a line user
    says two lines meanwhile. The page resumes with the lines said since the last it showed:
    each shown once, before it is back in the room, and the user's own line not again."""
    bob = line_user('bob', 'python')
    log_in(page, server.url, 'ann', 'python')
    bob.expect('ann entered the room.')
    bob.send('before the blip')
    wait_for_line(page, 'bob: before the blip')
    type_line(page, 'me too')          # its seq is one the page never sees
    bob.expect('ann: me too')
    page.find_element(By.ID, 'line').send_keys('half a thought')
    with offline(page):
        drop_browsers(server)
        wait(page, lambda: phase(page) == 'waiting', 'noticed the drop')
        bob.expect('ann left the room.')
        bob.send('one while you were away')
        bob.send('two while you were away')
        bob.sync()
    wait(page, lambda: status(page) == BACK, 'said it is back')
    wait(page, lambda: where(page) == ['ann', '·', 'python'], 'gone back to python')
    shown_lines = lines(page)
    for line in ('bob: before the blip', '> me too', 'bob: one while you were away',
                 'bob: two while you were away', 'Welcome back, ann!'):
        assert shown_lines.count(line) == 1, line
    assert count(page, 'Welcome, ann!') == 1
    assert 'ann: me too' not in shown_lines
    back = shown_lines.index('Welcome back, ann!')
    in_room = [number for number, line in enumerate(shown_lines)
               if line.startswith('You are in the room python.')][-1]
    assert back < shown_lines.index('bob: one while you were away') \
        < shown_lines.index('bob: two while you were away') < in_room
    assert page.find_element(By.ID, 'line').get_attribute('value') == 'half a thought'
    assert people(page) == ['ann', 'bob']
    bob.expect('ann entered the room.')
    bob.send('and now')
    wait_for_line(page, 'bob: and now')
    assert count(page, 'bob: two while you were away') == 1


def test_an_operator_is_still_one_after_a_blip(page, server, line_user):
    bob = line_user('bob', 'python')
    log_in(page, server.url, 'Teach', 'python')
    become_operator(page)
    drop_browsers(server)
    wait(page, lambda: phase(page) == 'waiting', 'noticed the drop')
    wait(page, lambda: status(page) == BACK, 'said it is back')
    wait(page, lambda: where(page) == ['Teach', '·', 'python', 'operator'],
         'gone back to python, an operator')
    wait(page, lambda: '/kick' in buttons(page) and '/op' not in buttons(page),
         "offered the operators' commands")
    assert marks(page, 'Teach') == ['you', 'operator']
    act_on(page, 'bob', 'mute')
    assert bob.expect('muted')[-1] == 'You have been muted by Teach.'


def test_a_nickname_taken_while_away_brings_the_login_form_back(page, server, line_user):
    bob = line_user('bob', 'python')
    log_in(page, server.url, 'ann', 'python')
    bob.expect('ann entered the room.')
    with offline(page):
        drop_browsers(server)
        wait(page, lambda: phase(page) == 'waiting', 'noticed the drop')
        bob.expect('ann left the room.')
        line_user('ann')               # someone else is ann now
    note = page.find_element(By.ID, 'login-note')
    wait(page, lambda: phase(page) == 'login' and 'taken' in note.text,
         'said the nickname is taken')
    nickname = page.find_element(By.ID, 'nickname')
    assert nickname.is_displayed() and nickname.get_attribute('value') == 'ann'
    assert count(page, 'Welcome back, ann!') == 0
    nickname.clear()
    nickname.send_keys('ann2' + Keys.ENTER)
    wait_for_line(page, 'Welcome, ann2!')
    assert where(page) == ['ann2', '·', 'the', 'hall']


def test_a_page_refused_as_busy_sends_its_resume_again_until_it_is_back(
        page, serve):
    """Someone behind the same address (a school's NAT) has spent the address's password
    tries: the page's /resume is refused as busy. It waits and sends the same /resume
    again, and again, neither logging in afresh nor giving up; once the address may try
    again, it is back as it was."""
    server = serve(tries=PasswordTries(rate=0.001, burst=1))
    log_in(page, server.url, 'ann', 'python')          # no class password: no try spent
    with contextlib.closing(Client(server.port)) as guesser:
        guesser.expect('/login')
        assert 'unknown or expired' in guesser.ask('/resume 0123456789abcdef')[-1]
    drop_browsers(server)
    wait_for_line(page, 'Too many password tries from your address')
    wait(page, lambda: status(page).startswith('Many are logging in at once: trying again'),
         'said it tries again')
    wait_for_line(page, '×2')          # the same /resume again, refused again
    assert phase(page) == 'joining' and shown(page, 'line')
    server.server.classroom.tries = PasswordTries()    # one assignment: the loop reads it
    wait(page, lambda: status(page) == BACK, 'said it is back')
    wait(page, lambda: where(page) == ['ann', '·', 'python'], 'gone back to python')
    assert count(page, 'Welcome back, ann!') == 1 and count(page, 'Welcome, ann!') == 1
    assert count(page, 'unknown or expired') == 0


def test_a_restarted_server_gets_the_page_back_by_itself(page, serve, line_user):
    """The server stops, and a new one starts on the same port: no button is pressed."""
    first = serve()
    log_in(page, first.url, 'ann', 'python')
    page.find_element(By.ID, 'line').send_keys('half a thought')
    first.stop()
    wait(page, lambda: status(page).startswith('The server is shutting down. Reconnecting'),
         'said the server is shutting down')
    assert 'shutdown' in classes_of_line(page, 'The server is shutting down. Goodbye!')
    second = serve(web_port=first.web_port)
    wait(page, lambda: phase(page) == 'chatting' and 'python' in where(page),
         'logged in again, in python')
    assert count(page, 'Welcome, ann!') == 2
    assert page.find_element(By.ID, 'line').get_attribute('value') == 'half a thought'
    bob = line_user('bob', to=second)
    assert 'ann in python' in bob.ask('/who')
    click_command(page, '/online')     # the buttons, made again, work again
    wait_for_line(page, 'Online in python (1): ann')


def test_a_server_restarted_on_its_database_resumes_the_page(page, serve, line_user, tmp_path):
    """With a database the resume codes survive a restart: the page comes back as it was,
    an operator in python, with the line said before it was back, and nothing twice."""
    db = str(tmp_path / 'chat.db')
    first = serve(db=db, op_password=OP_PASSWORD)
    bob = line_user('bob', 'python', to=first)
    log_in(page, first.url, 'ann', 'python')
    become_operator(page)
    bob.send('before the restart')
    wait_for_line(page, 'bob: before the restart')
    page.find_element(By.ID, 'line').send_keys('half a thought')
    with offline(page):
        first.stop()
        wait(page, lambda: phase(page) == 'waiting', 'noticed the server stopped')
        second = serve(db=db, op_password=OP_PASSWORD, web_port=first.web_port)
        carol = line_user('carol', 'python', to=second)
        carol.send('said after the restart')
        carol.sync()
    wait(page, lambda: status(page) == BACK, 'said it is back')
    wait(page, lambda: where(page) == ['ann', '·', 'python', 'operator'],
         'gone back to python, an operator')
    shown_lines = lines(page)
    for line in ('bob: before the restart', 'carol: said after the restart',
                 'Welcome back, ann!'):
        assert shown_lines.count(line) == 1, line
    assert count(page, 'Welcome, ann!') == 1
    assert shown_lines.index('Welcome back, ann!') \
        < shown_lines.index('carol: said after the restart')
    assert page.find_element(By.ID, 'line').get_attribute('value') == 'half a thought'
    assert 'ann in python (operator)' in carol.ask('/who')


# ---- Every screen, every language

def accessibility_violations(driver):
    """What axe-core (WCAG 2.0, 2.1 and 2.2, A and AA, and its best practices) finds wrong
    in the page as it is now: 'rule (impact): help, at [selectors]' for each."""
    driver.execute_script(AXE_SCRIPT)
    results = driver.execute_async_script(
        'const done = arguments[arguments.length - 1];'
        'axe.run(document, {resultTypes: ["violations"]}).then(done,'
        ' (error) => done({error: String(error)}));')
    assert 'error' not in results, results
    return ['%s (%s): %s, at %s' % (violation['id'], violation['impact'], violation['help'],
                                    [node['target'] for node in violation['nodes']])
            for violation in results['violations']]


@pytest.mark.skipif(AXE_SCRIPT is None and sys.version_info < (3, 10),
                    reason='axe-core-python, which ships axe-core, needs Python 3.10')
@pytest.mark.parametrize('viewport', ['laptop', 'phone', 'dark'])
def test_axe_finds_nothing_wrong_in_any_view_of_the_page(page, server, line_user, viewport):
    """The login form, a room, the list of people open with a member's actions, the
    operator's view and the commands panel, as axe-core sees each: on a laptop, on a phone,
    and on a laptop whose system is in dark mode."""
    if AXE_SCRIPT is None:
        pytest.fail('no axe-core-python: pip install -e ".[test]"')
    if viewport == 'phone':
        page.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', PHONE)
    elif viewport == 'dark':
        page.execute_cdp_cmd('Emulation.setEmulatedMedia', {
            'features': [{'name': 'prefers-color-scheme', 'value': 'dark'}]})
    bob = line_user('bob', 'python')
    open_page(page, server.url)
    assert accessibility_violations(page) == [], 'the login form'
    page.find_element(By.ID, 'nickname').send_keys('ann' + Keys.ENTER)
    wait_for_line(page, 'Welcome, ann!')
    type_line(page, '/python')
    wait(page, lambda: 'python' in where(page), 'entered python')
    type_line(page, 'hello')
    bob.send('hello, ann')
    wait_for_line(page, 'bob: hello, ann')
    assert accessibility_violations(page) == [], 'a room'
    become_operator(page)
    if viewport == 'phone':
        page.find_element(By.ID, 'people-toggle').click()
        wait(page, lambda: shown(page, 'people'), 'opened the list of people')
    wait(page, lambda: click(page, 'bob', '.person-name'), 'listed bob')
    wait(page, lambda: person(page, 'bob').find_elements(By.CSS_SELECTOR, '[data-action]'),
         "offered bob's actions")
    assert accessibility_violations(page) == [], "the operator's list, bob's actions open"
    wait(page, lambda: click(page, 'bob', '[data-action="kick"]'), 'offered kick for bob')
    wait(page, page.find_element(By.ID, 'confirm').is_displayed, 'asked for a confirmation')
    assert accessibility_violations(page) == [], 'the confirmation of a kick'
    answer_dialog(page, yes=False)
    if viewport == 'phone':
        if shown(page, 'people'):
            page.find_element(By.ID, 'people-close').click()
        page.find_element(By.ID, 'commands-toggle').click()
        wait(page, lambda: shown(page, 'commands'), 'opened the commands')
        assert accessibility_violations(page) == [], "the operator's commands"



def test_a_phone_reaches_every_command_and_the_people_without_sideways_scroll(
        page, server, line_user):
    page.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', PHONE)
    bob = line_user('bob', 'python')
    log_in(page, server.url, 'ann', 'python')
    become_operator(page)
    bob.send('x' * 300)
    bob.send('长' * 100 + ' https://example.org/' + 'a' * 200)
    wait_for_line(page, 'https://example.org/')
    assert page.execute_script('return innerWidth') == 360
    assert page.execute_script('return document.documentElement.scrollWidth') <= 360
    assert page.execute_script(                    # nor does the conversation scroll sideways
        'const log = document.getElementById("log"); return log.scrollWidth <= log.clientWidth')
    for name in ('line', 'send', 'commands-toggle', 'people-toggle'):
        assert on_screen(page, page.find_element(By.ID, name), 360, 740), name
    page.find_element(By.ID, 'line').send_keys('sent from a phone')
    page.find_element(By.ID, 'send').click()
    assert bob.expect('ann: sent')[-1] == 'ann: sent from a phone'

    page.find_element(By.ID, 'commands-toggle').click()
    commands = page.find_elements(By.CSS_SELECTOR, '#commands button')
    assert len(commands) >= 17                     # a room's, and an operator's
    hidden = [button.text for button in commands if not on_screen(page, button, 360, 740)]
    assert hidden == []
    assert page.execute_script('return document.documentElement.scrollWidth') <= 360
    click_command(page, '/who')
    wait_for_line(page, 'Logged in (2):')
    assert not page.find_element(By.ID, 'commands').is_displayed()
    assert focused(page) == 'line'

    assert not shown(page, 'people')
    page.find_element(By.ID, 'people-toggle').click()
    wait(page, lambda: shown(page, 'people'), 'opened the list of people')
    assert on_screen(page, page.find_element(By.ID, 'people-close'), 360, 740)
    act_on(page, 'bob', 'mute')
    assert bob.expect('muted')[-1] == 'You have been muted by ann.'
    assert not shown(page, 'people') and focused(page) == 'line'


def test_the_page_has_chinese_labels_for_a_chinese_browser(serve):
    server = serve()
    with chromium('zh-CN') as driver:
        driver.get(server.url)
        assert driver.execute_script('return navigator.language').startswith('zh')
        wait(driver, lambda: status(driver) == '已连接', 'said 已连接')
        assert driver.find_element(By.CSS_SELECTOR, 'label[for="nickname"]').text == '昵称'
        assert driver.find_element(By.ID, 'join').text == '登录'
        assert driver.execute_script('return document.documentElement.lang') == 'zh-CN'
        driver.find_element(By.ID, 'nickname').send_keys('小明' + Keys.ENTER)
        wait_for_line(driver, 'Welcome, 小明!')   # the server's words, as it sent them
        assert driver.find_element(By.ID, 'send').text == '发送'
        placeholder = driver.find_element(By.ID, 'line').get_attribute('placeholder')
        assert placeholder == '输入消息，或 /命令'
        assert driver.find_element(By.ID, 'people-title').text == '大厅（1 人）'
        drop_browsers(server)
        wait(driver, lambda: status(driver) == '已回到原来的地方。', 'said 已回到原来的地方')
        server.stop()
        wait(driver, lambda: status(driver).startswith('已断开：服务器正在关闭。')
             and '秒后重新连接' in status(driver), 'said 已断开')
        assert driver.find_element(By.ID, 'reconnect').text == '立即重新连接'


def test_the_page_runs_under_its_security_policy_without_console_errors(
        page, server, line_user):
    line_user('bob', 'python')
    log_in(page, server.url, 'ann', 'python')
    become_operator(page)
    type_line(page, 'hello')
    wait_for_line(page, '> hello')
    act_on(page, 'bob', 'ban')
    answer_dialog(page, yes=False)
    errors = [entry['message'] for entry in page.get_log('browser')
              if entry['level'] == 'SEVERE']
    assert errors == []                # not even a favicon's 404: the page names its icon
