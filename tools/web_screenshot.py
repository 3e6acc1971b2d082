"""Make docs/web.png and docs/web-phone.png: the chat page, in a conversation, in Chromium.

    python tools/web_screenshot.py docs/web.png docs/web-phone.png

(`make screenshot` is to run that, after docs/client.png.) A server and its web side run in this
process; headless Chromium (Debian: chromium, chromium-driver), driven by
Selenium, opens the page and logs in as alice, who becomes an operator and
chats in python with bob, 小明 and carol on sockets, clicking and typing as a
person would: she mutes carol from the list of people, opens bob's actions
and starts a /msg to him. The first picture is a laptop (1024x700, light), the
list of people beside the conversation; the second a phone (360x740 at twice
the pixels, dark), with the list of people open over it.
Chinese needs a font that has it (Debian: fonts-wqy-microhei).
"""

import shutil
import socket
import sys
import tempfile
import threading

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    sys.exit('web_screenshot.py needs selenium (pip install selenium), and Chromium '
             '(apt-get install chromium chromium-driver)')

from chat.limits import Limits
from chat.loop import LOOPS, capacity, make_loop
from chat.server import Server
from chat.web import WebServer

TIMEOUT = 10
POLL = 0.05
OP_PASSWORD = 'teach3r'
LAPTOP = {'width': 1024, 'height': 700, 'deviceScaleFactor': 1, 'mobile': False}
PHONE = {'width': 360, 'height': 740, 'deviceScaleFactor': 2, 'mobile': True}
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--hide-scrollbars',
                  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', '--lang=en-US')


def chromium(profile):
    """Headless Chromium, Debian's, with its own chromedriver: nothing is downloaded."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which('chromium') or '/usr/bin/chromium'
    for flag in CHROMIUM_FLAGS + ('--user-data-dir=' + profile,):
        options.add_argument(flag)
    options.add_experimental_option('prefs', {'intl.accept_languages': 'en-US,en'})
    service = Service(shutil.which('chromedriver') or '/usr/bin/chromedriver')
    return webdriver.Chrome(service=service, options=options)


def user(port, nickname, room):
    """A socket client, logged in and in room."""
    sock = socket.create_connection(('127.0.0.1', port))
    sock.sendall(('/login %s\r\n/%s\r\n' % (nickname, room)).encode('utf-8'))
    return sock


def say(sock, text):
    sock.sendall((text + '\r\n').encode('utf-8'))


def until(driver, script, *args):
    """Wait until script, run in the page with args, returns something true."""
    WebDriverWait(driver, TIMEOUT, POLL).until(lambda d: d.execute_script(script, *args))


def shown(driver, text):
    """Wait until a line of the conversation has text in it."""
    until(driver, 'return [...document.querySelectorAll("#log .line")]'
                  '.some(line => line.textContent.includes(arguments[0]))', text)


def listed(driver, nickname, mark=None):
    """Wait until the list of people has nickname (with mark: 'operator', 'muted')."""
    until(driver, 'const person = document.querySelector('
                  '`#people-list .person[data-nick="${arguments[0]}"]`);'
                  'return person && (!arguments[1]'
                  ' || person.querySelector(".mark." + arguments[1]))', nickname, mark)


def click(driver, command):
    """Click a command's button, once the room's buttons have it."""
    until(driver, 'return [...document.querySelectorAll("#commands button")]'
                  '.some(button => button.textContent === arguments[0])', command)
    driver.find_element(By.XPATH, '//div[@id="commands"]/button[text()="%s"]' % command).click()


def open_person(driver, nickname):
    """Click a member's name in the list of people: their actions open under it."""
    driver.find_element(By.CSS_SELECTOR,
                        '.person[data-nick="%s"] button.person-name' % nickname).click()
    until(driver, 'return document.querySelector('
                  '`.person[data-nick="${arguments[0]}"] .actions`)', nickname)


def type_line(driver, text, enter=True):
    field = driver.find_element(By.ID, 'line')
    field.send_keys(text + (Keys.ENTER if enter else ''))


def converse(driver, url, port):
    """alice, in the browser, logs in, becomes an operator and chats in python with bob,
    小明 and carol; she mutes carol, and starts a /msg to bob with his actions open."""
    driver.get(url)
    until(driver, 'return document.body.dataset.phase === "login"')
    driver.find_element(By.ID, 'nickname').send_keys('alice' + Keys.ENTER)
    shown(driver, 'Welcome, alice!')
    click(driver, '/python')
    shown(driver, 'You are in the room python')
    type_line(driver, '/op ' + OP_PASSWORD)
    shown(driver, 'You are an operator now')
    bob = user(port, 'bob', 'python')
    shown(driver, 'bob entered the room')
    ming = user(port, '小明', 'python')
    shown(driver, '小明 entered the room')
    carol = user(port, 'carol', 'python')
    shown(driver, 'carol entered the room')
    say(bob, 'hi alice! is the walkthrough worth reading?')
    shown(driver, 'bob: hi alice!')
    type_line(driver, 'it is: every class of the design, beside its code')
    say(ming, '我在读中文版，很清楚。')
    shown(driver, '我在读中文版')
    say(carol, 'lol lol lol')
    shown(driver, 'carol: lol lol lol')
    listed(driver, 'carol')
    open_person(driver, 'carol')
    driver.find_element(By.CSS_SELECTOR, '.person[data-nick="carol"] [data-action="mute"]').click()
    shown(driver, 'carol is muted.')
    listed(driver, 'carol', 'muted')
    say(bob, '/msg alice want to try the exercise together?')
    shown(driver, '[private] bob:')
    say(bob, '/me nods')
    shown(driver, '* bob nods')
    open_person(driver, 'bob')
    click(driver, '/msg')
    type_line(driver, 'bob yes: /rooms first, then /who', enter=False)
    until(driver, 'return document.activeElement.id === "line"'
                  ' && document.activeElement.value === arguments[0]',
          '/msg bob yes: /rooms first, then /who')
    return bob, ming, carol


def main(laptop_path, phone_path):
    server = Server(0, '127.0.0.1', limits=Limits().capped(capacity(LOOPS[0])),
                    op_password=OP_PASSWORD)
    web = WebServer(server, 0, '127.0.0.1')
    port = server.socket.getsockname()[1]
    loop = make_loop(server, LOOPS[0])
    threading.Thread(target=loop.run, daemon=True).start()
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium(profile)
        try:
            driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', LAPTOP)
            sockets = converse(driver, 'http://%s/' % web.address, port)
            driver.save_screenshot(laptop_path)
            print('wrote %s (%dx%d)' % (laptop_path, LAPTOP['width'], LAPTOP['height']))
            driver.execute_cdp_cmd('Emulation.setEmulatedMedia', {
                'features': [{'name': 'prefers-color-scheme', 'value': 'dark'}]})
            driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', PHONE)
            until(driver, 'return innerWidth === 360'
                          ' && document.documentElement.scrollWidth <= 360')
            driver.find_element(By.ID, 'people-toggle').click()
            until(driver, 'return document.getElementById("people").classList.contains("open")')
            driver.save_screenshot(phone_path)
            print('wrote %s (%dx%d at %dx)' % (phone_path, PHONE['width'], PHONE['height'],
                                               PHONE['deviceScaleFactor']))
            for sock in sockets:
                sock.close()
        finally:
            driver.quit()
    loop.stop()


if __name__ == '__main__':
    main(*(sys.argv[1:3] if len(sys.argv) > 2 else ('docs/web.png', 'docs/web-phone.png')))
