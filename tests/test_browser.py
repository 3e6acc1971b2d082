"""The chat page in a real browser: headless Chromium, driven by Selenium, chatting on a real
server on loopback with a line client that speaks exactly what telnet sends.

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
import os
import shutil
import socket
import tempfile

import pytest
from conftest import TIMEOUT, Client, ServerThread, StrictWebServer

from chat.web import WebSession

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoAlertPresentException, TimeoutException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:                    # a skip, or with CHAT_REQUIRE_BROWSER=1 a failure
    webdriver = None

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
    browser.get('about:blank')


class WebServerThread(ServerThread):
    """A ServerThread with its web side on web_port (0: a free one), not only on a free one
    as web=True has it: the test of Reconnect starts a second server on the first's port.
    Keyword arguments are ServerThread's."""

    def __init__(self, web_port=0, **options):
        self.web_port = web_port
        super().__init__(prepare=self._add_web_side, **options)

    def _add_web_side(self, loop):
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
    return serve()


@pytest.fixture
def line_user(request):
    """Return a function that logs a line client in as nickname, in room if given, on the
    server `to` (the test's `server` unless told)."""
    users = []

    def log_in(nickname, room=None, to=None):
        user = Client((to or request.getfixturevalue('server')).port)
        users.append(user)
        user.expect('/login')
        user.send('/login ' + nickname)
        user.expect('Welcome, ' + nickname)
        user.sync()                    # the hall's help
        if room:
            assert room in user.ask('/' + room)[-1]
        return user

    yield log_in
    for user in users:
        user.close()


# ---- What the test does in the page, as a person would, each wait with a deadline

def lines(driver):
    """The text of every line of the conversation."""
    return driver.execute_script(
        'return [...document.querySelectorAll("#log .line")].map(line => line.textContent)')


def wait(driver, condition, what):
    """Wait until condition() is true; fail saying what the page never did."""
    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(lambda _: condition())
    except TimeoutException:
        pytest.fail('the page never %s; its lines were: %r' % (what, lines(driver)))


def count(driver, text):
    """How many lines of the conversation have text in them."""
    return sum(text in line for line in lines(driver))


def wait_for_line(driver, text):
    """Wait for a line of the conversation that has text in it."""
    wait(driver, lambda: any(text in line for line in lines(driver)), 'showed %r' % text)


def status(driver):
    return driver.find_element(By.ID, 'status-text').text


def buttons(driver):
    """The command buttons, by their text."""
    return driver.execute_script(
        'return [...document.querySelectorAll("#commands button")].map(b => b.textContent)')


def click_command(driver, name):
    wait(driver, lambda: name in buttons(driver), 'offered %s' % name)
    driver.find_element(By.XPATH, '//*[@id="commands"]/button[text()="%s"]' % name).click()


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
        wait(driver, lambda: '/online' in buttons(driver), "offered the room's commands")


def log_end(driver):
    """How far the conversation is scrolled from its end, in pixels."""
    return driver.execute_script(
        'const log = document.getElementById("log");'
        'return log.scrollHeight - log.scrollTop - log.clientHeight')


# ---- The tests

def test_a_browser_user_and_a_line_user_chat_both_ways_in_a_room(page, server, line_user):
    bob = line_user('bob', 'python')
    log_in(page, server.url, 'ann', 'python')
    bob.expect('ann entered the room.')
    type_line(page, 'hello bob')
    assert bob.line() == 'ann: hello bob'
    wait_for_line(page, '> hello bob')
    bob.send('hi ann, 你好')
    wait_for_line(page, 'bob: hi ann, 你好')


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
    assert page.find_elements(By.CSS_SELECTOR, '#log b, #log img, #log i, #log script') == []
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.accept()


def test_the_command_buttons_follow_the_room(page, server):
    log_in(page, server.url, 'ann')
    in_hall = buttons(page)
    assert {'/python', '/write', '/who', '/msg'} <= set(in_hall) and '/online' not in in_hall
    click_command(page, '/python')
    wait(page, lambda: {'/online', '/back'} <= set(buttons(page))
         and '/python' not in buttons(page), "offered python's commands")
    click_command(page, '/back')
    wait(page, lambda: '/python' in buttons(page) and '/online' not in buttons(page),
         "offered the hall's commands again")


def test_the_commands_list_the_page_asks_for_is_not_shown(page, server):
    log_in(page, server.url, 'ann', 'python')
    type_line(page, '/online')                 # whatever the page asked for came before this
    wait_for_line(page, 'Online in python (1): ann')
    shown = lines(page)
    assert shown.count('Commands here:') == 1                  # the hall's, after login
    assert not any(line.startswith(('/online', '/back')) for line in shown)


def test_a_command_without_an_argument_runs_when_clicked(page, server):
    log_in(page, server.url, 'ann', 'python')
    click_command(page, '/online')
    wait_for_line(page, 'Online in python (1): ann')
    assert '> /online' in lines(page)


def test_a_command_with_an_argument_is_started_in_the_input_line(page, server, line_user):
    bob = line_user('bob')
    log_in(page, server.url, 'ann')
    click_command(page, '/msg')
    field = page.find_element(By.ID, 'line')
    assert field.get_attribute('value') == '/msg '
    assert page.switch_to.active_element == field
    field.send_keys('bob see you in python' + Keys.ENTER)
    assert bob.expect('[private]')[-1] == '[private] ann: see you in python'


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


def test_a_server_shutdown_is_shown_with_a_reconnect_button(page, server):
    log_in(page, server.url, 'ann')
    server.stop()
    wait(page, lambda: status(page) == 'The server is shutting down.', 'said so')
    assert page.find_element(By.ID, 'reconnect').is_displayed()
    assert 'The server is shutting down. Goodbye!' in lines(page)


def test_a_dropped_connection_is_shown_as_lost(page, server):
    log_in(page, server.url, 'ann')
    # The browser's session, ended at the socket: no close frame, as when a network
    # fails. list() copies the set in one step under the GIL, and shutdown() is one
    # system call; the server's loop then finds the end of input and closes as usual.
    for session in list(server.server.sessions):
        if isinstance(session, WebSession):
            session.socket.shutdown(socket.SHUT_RDWR)
    wait(page, lambda: status(page) == 'Connection lost.', 'said the connection was lost')
    assert page.find_element(By.ID, 'reconnect').is_displayed()


def test_reconnect_logs_in_again_with_the_same_nickname(page, serve, line_user):
    first = serve()
    log_in(page, first.url, 'ann')
    first.stop()
    wait(page, lambda: page.find_element(By.ID, 'reconnect').is_displayed(), 'offered Reconnect')
    second = serve(web_port=first.web_port)
    page.find_element(By.ID, 'reconnect').click()
    wait(page, lambda: count(page, 'Welcome, ann!') == 2, 'logged in again')
    assert status(page) == 'Connected'
    assert not page.find_element(By.ID, 'reconnect').is_displayed()
    bob = line_user('bob', to=second)
    assert 'ann in hall' in bob.ask('/who')
    click_command(page, '/python')    # the hall's buttons, made again, work again
    wait_for_line(page, 'You are in the room python.')


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


def test_the_password_field_appears_when_the_welcome_asks_for_one(page, serve):
    server = serve(password='open sesame')
    open_page(page, server.url)
    wait_for_line(page, 'This class has a password')
    password = page.find_element(By.ID, 'password')
    wait(page, password.is_displayed, 'showed the password field')
    page.find_element(By.ID, 'nickname').send_keys('ann')
    password.send_keys('open sesame' + Keys.ENTER)
    wait_for_line(page, 'Welcome, ann!')


def masking(field):
    """How the page draws the characters typed in field: 'disc' hides them, 'none' shows them."""
    return field.parent.execute_script(
        'return getComputedStyle(arguments[0]).webkitTextSecurity;', field)


def test_a_password_typed_in_the_input_line_is_neither_shown_nor_recalled(page, serve):
    server = serve(op_password='teach3r')
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
    assert not any('teach3r' in line for line in lines(page))
    field.send_keys(Keys.ARROW_UP)
    assert field.get_attribute('value') == ''


def test_an_operator_gets_buttons_for_the_operators_commands(page, serve):
    server = serve(op_password='teach3r')
    log_in(page, server.url, 'ann')
    assert '/kick' not in buttons(page)
    type_line(page, '/op teach3r')
    wait(page, lambda: {'/kick', '/ban', '/announce'} <= set(buttons(page)),
         "offered the operators' commands")


def test_a_phone_has_no_sideways_scroll_and_its_input_line_works(page, server, line_user):
    page.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', PHONE)
    bob = line_user('bob', 'python')
    log_in(page, server.url, 'ann', 'python')
    bob.send('x' * 300)
    bob.send('长' * 100 + ' https://example.org/' + 'a' * 200)
    wait_for_line(page, 'https://example.org/')
    assert page.execute_script('return innerWidth') == 360
    assert page.execute_script('return document.documentElement.scrollWidth') <= 360
    assert page.execute_script(                    # nor does the conversation scroll sideways
        'const log = document.getElementById("log"); return log.scrollWidth <= log.clientWidth')
    for name in ('line', 'send'):
        box = page.execute_script(
            'return document.getElementById(arguments[0]).getBoundingClientRect().toJSON()',
            name)
        assert 0 <= box['left'] and box['right'] <= 360, (name, box)
        assert 0 <= box['top'] and box['bottom'] <= 740, (name, box)
    page.find_element(By.ID, 'line').send_keys('sent from a phone')
    page.find_element(By.ID, 'send').click()
    assert bob.expect('ann: sent')[-1] == 'ann: sent from a phone'
    click_command(page, '/who')        # the last button, on a row that scrolls sideways
    wait_for_line(page, 'Logged in (2):')


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
        server.stop()
        wait(driver, lambda: status(driver) == '已断开：服务器正在关闭。',
             'said 已断开')
        assert driver.find_element(By.ID, 'reconnect').text == '重新连接'


def test_the_page_runs_under_its_security_policy_without_console_errors(page, server):
    log_in(page, server.url, 'ann', 'python')
    type_line(page, 'hello')
    wait_for_line(page, '> hello')
    errors = [entry['message'] for entry in page.get_log('browser')
              if entry['level'] == 'SEVERE']
    assert errors == []                # not even a favicon's 404: the page names its icon
