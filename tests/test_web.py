"""The web side over real sockets: the page's HTTP answers, and WebSocket chat sessions.

A browser user is a chat session like any other: these tests talk to a real
server's web port as a browser's network stack would (the page itself, in a
real browser, is tests/test_browser.py's), and to its telnet port as telnet does.
"""

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
from conftest import (TIMEOUT, UPGRADE, WebClient, client_frame, free_port, log_in,
                      needs_other_loopbacks, read_to_end)

from chat.web import FILES, PAGE_DIR


def http(port, request, host='127.0.0.1'):
    """Send a request (bytes, or a str ending in a blank line); return (head, body)."""
    sock = socket.create_connection((host, port), timeout=5)
    try:
        sock.sendall(request.encode('latin-1') if isinstance(request, str) else request)
        data = read_to_end(sock)
    finally:
        sock.close()
    head, _, body = data.partition(b'\r\n\r\n')
    return head.decode('latin-1'), body


def get(port, path='/', method='GET', headers=''):
    return http(port, '%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n' % (
        method, path, port, headers))


def upgrade(port, extra='', version='13'):
    request = UPGRADE.format(host='127.0.0.1:%d' % port, extra=extra)
    return http(port, request.replace('Version: 13', 'Version: ' + version))


# ---- the page

def test_the_page_is_served_as_html_with_its_security_headers(web_server):
    head, body = get(web_server.web_port)
    assert head.startswith('HTTP/1.1 200 OK')
    assert 'Content-Type: text/html; charset=utf-8' in head
    assert 'X-Content-Type-Options: nosniff' in head
    assert "Content-Security-Policy: default-src 'none'; script-src 'self';" in head
    assert 'Connection: close' in head
    with open('%s/index.html' % PAGE_DIR, 'rb') as page:
        assert body == page.read()


@pytest.mark.parametrize('path', sorted(FILES))
def test_every_file_of_the_page_comes_from_this_server(web_server, path):
    head, body = get(web_server.web_port, path)
    assert head.startswith('HTTP/1.1 200') and ('Content-Type: ' + FILES[path][1]) in head
    body = body.replace(b'xmlns="http://www.w3.org/2000/svg"', b'')   # a name, not a load
    assert body and b'http://' not in body and b'https://' not in body


def test_head_answers_the_headers_without_the_page(web_server):
    head, body = get(web_server.web_port, method='HEAD')
    assert head.startswith('HTTP/1.1 200') and body == b''
    with open(os.path.join(PAGE_DIR, 'index.html'), 'rb') as page:
        assert 'Content-Length: %d' % len(page.read()) in head     # what GET would send


@pytest.mark.parametrize('host', ['evil.example', 'evil.example:5001', 'localhost.evil.example',
                                  ''])
def test_a_name_that_is_not_this_servers_is_refused_and_logged(web_server, host, caplog):
    """DNS rebinding: a page elsewhere gets this server's address under its own name."""
    caplog.set_level(logging.INFO, logger='chat')
    request = UPGRADE.format(host=host, extra='Origin: http://%s\r\n' % host)
    assert http(web_server.web_port, request)[0].startswith('HTTP/1.1 403')
    assert http(web_server.web_port, 'GET / HTTP/1.1\r\nHost: %s\r\n\r\n' % host)[
        0].startswith('HTTP/1.1 403')
    assert any('refused' in record.getMessage() and 'not a name of this server'
               in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize('host', ['localhost:5001', 'LOCALHOST', '127.0.0.1:80', '[::1]:5001',
                                  '10.0.0.7:5001'])
def test_an_address_or_localhost_is_a_name_of_this_server(web_server, host):
    assert http(web_server.web_port, 'GET / HTTP/1.1\r\nHost: %s\r\n\r\n' % host)[
        0].startswith('HTTP/1.1 200')


def test_the_hosts_of_the_web_origins_are_names_of_this_server(make_server):
    running = make_server(web=True, origins=['https://class.example'])
    head, _ = http(running.web_port, 'GET / HTTP/1.1\r\nHost: class.example\r\n\r\n')
    assert head.startswith('HTTP/1.1 200')


@pytest.mark.parametrize('request_text, status', [
    ('GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n', '404'),
    ('GET /../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n', '404'),
    ('POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n', '405'),
    ('DELETE /chat HTTP/1.1\r\nHost: localhost\r\n\r\n', '405'),
    ('hello\r\n\r\n', '400'),
    ('GET / HTTP/2.0\r\nHost: localhost\r\n\r\n', '400'),
    ('GET / HTTP/1.1\r\nno colon here\r\n\r\n', '400'),
    ('GET noslash HTTP/1.1\r\n\r\n', '400'),
    ('GET / HTTP/1.1\r\nBad Name: x\r\n\r\n', '400'),
])
def test_a_bad_request_gets_its_error_and_the_connection_closes(web_server, request_text,
                                                                status):
    head, body = http(web_server.web_port, request_text)
    assert head.startswith('HTTP/1.1 ' + status)
    assert 'Connection: close' in head and body.startswith(status.encode())


def test_a_request_head_over_8_kib_is_answered_431(web_server):
    head, _ = http(web_server.web_port, 'GET / HTTP/1.1\r\nX-Big: %s\r\n\r\n' % ('b' * 9000))
    assert head.startswith('HTTP/1.1 431')


def test_a_request_head_past_the_limit_is_answered_before_it_ends(web_server):
    sock = socket.create_connection(('127.0.0.1', web_server.web_port), timeout=5)
    try:
        sock.sendall(b'GET / HTTP/1.1\r\nX-Big: ' + b'b' * 9000)   # and never a blank line
        assert sock.recv(100).startswith(b'HTTP/1.1 431')
    finally:
        sock.close()


# ---- the upgrade

def test_an_upgrade_for_another_version_is_answered_426_with_the_version(web_server):
    head, _ = upgrade(web_server.web_port, version='8')
    assert head.startswith('HTTP/1.1 426') and 'Sec-WebSocket-Version: 13' in head
    assert 'Upgrade: websocket' in head            # RFC 9110: a 426 names the protocol


def test_a_plain_get_of_the_chat_path_is_a_bad_request(web_server):
    head, _ = get(web_server.web_port, '/chat')
    assert head.startswith('HTTP/1.1 400')        # RFC 6455, 4.2.1: not an upgrade at all


@pytest.mark.parametrize('change', [
    ('Upgrade: websocket\r\n', ''), ('Connection: Upgrade\r\n', 'Connection: close\r\n'),
    ('HTTP/1.1', 'HTTP/1.0'), ('Host: ', 'X-Host: '),
    ('dGhlIHNhbXBsZSBub25jZQ==', 'dGhlIHNhbXBsZSBub25j'), ('dGhlIHNhbXBsZSBub25jZQ==', '!!'),
])
def test_a_bad_upgrade_is_answered_400(web_server, change):
    request = UPGRADE.format(host='127.0.0.1:%d' % web_server.web_port, extra='')
    head, _ = http(web_server.web_port, request.replace(*change))
    assert head.startswith('HTTP/1.1 400')


@pytest.mark.parametrize('origin', ['http://evil.example', 'null', 'https://127.0.0.1:1'])
def test_a_page_from_another_origin_may_not_chat_and_the_log_says_so(web_server, origin,
                                                                     caplog):
    caplog.set_level(logging.INFO, logger='chat')
    head, _ = upgrade(web_server.web_port, 'Origin: %s\r\n' % origin)
    assert head.startswith('HTTP/1.1 403')
    assert any('refused' in record.getMessage() and origin in record.getMessage()
               for record in caplog.records)


def test_the_pages_own_origin_and_no_origin_may_chat(web_connect, web_server):
    own = web_connect(origin='http://127.0.0.1:%d' % web_server.web_port)
    program = web_connect()                     # no Origin: a program, not a browser
    assert own.ask('/login own')[0].startswith('Welcome, own')
    assert program.ask('/login program')[0].startswith('Welcome, program')


def test_an_origin_given_with_web_origin_may_chat(make_server, web_client):
    running = make_server(web=True, origins=['https://class.example'])
    allowed = web_client(running.web_port, origin='https://class.example')
    allowed.expect('/login')
    allowed.close()
    head, _ = upgrade(running.web_port, 'Origin: https://other.example\r\n')
    assert head.startswith('HTTP/1.1 403')


def test_frames_sent_right_behind_the_upgrade_are_read(web_server, web_client):
    eager = web_client(web_server.web_port, upgrade=False)
    request = UPGRADE.format(host='127.0.0.1:%d' % web_server.web_port, extra='')
    eager.sock.sendall(request.encode() + client_frame(b'/login eager'))
    assert eager.head().startswith('HTTP/1.1 101')
    assert eager.expect('Welcome, ')[-1].startswith('Welcome, eager')


def test_frames_behind_the_upgrade_past_a_rounds_lines_are_all_read(web_server, web_client):
    """40 frames follow the request in the same send, each a line ending in LF, masked
    with a key of zeros (so the LF bytes are on the wire as they are): more LFs than a
    round's 32 lines, in the read that the request's head came in. All are read, in order."""
    eager = web_client(web_server.web_port, upgrade=False)
    request = UPGRADE.format(host='127.0.0.1:%d' % web_server.web_port, extra='')
    frames = b''.join(client_frame(b'/sync-%d-\n' % n, key=bytes(4)) for n in range(40))
    eager.sock.sendall(request.encode() + client_frame(b'/login eager') + frames)
    assert eager.head().startswith('HTTP/1.1 101')
    lines = eager.expect('/sync-39-')
    assert [line.split()[2] for line in lines if line.startswith('Unknown command')] == [
        '/sync-%d-' % n for n in range(40)]


# ---- a browser user is a chat session like any other

def test_a_browser_user_and_a_telnet_user_chat_both_ways(web_server, web_connect, client):
    browser = log_in(web_connect(welcome=False), '小明', 'python')
    telnet = log_in(client(web_server.port), 'tess', 'python')
    browser.send('hello from the browser')
    assert telnet.expect('小明:')[-1] == '小明: hello from the browser'
    telnet.send('<b>x</b> back from telnet')
    assert browser.expect('tess:')[-1] == 'tess: <b>x</b> back from telnet'
    assert 'Online in python (2): tess, 小明' in browser.ask('/online')[-1]


def test_a_message_of_many_lines_is_many_lines(web_server, web_connect):
    sender, reader = web_connect(welcome=False), web_connect(welcome=False)
    log_in(reader, 'reader', 'pm')
    log_in(sender, 'sender', 'pm')
    sender.send('one\r\ntwo\nthree\rfour')
    assert reader.expect('four')[-4:] == ['sender: one', 'sender: two', 'sender: three',
                                          'sender: four']


def test_a_fragmented_message_and_a_ping_between_its_fragments(web_connect):
    client = web_connect()
    client.send(client_frame(b'/log', fin=False) + client_frame(b'ping!', 0x9)
                + client_frame(b'in frag', 0x0))
    assert client.expect('Welcome, ')[-1].startswith('Welcome, frag')
    client.sync()                               # past the pong, which follows the replies
    assert client.pongs == [b'ping!']


def test_a_line_over_the_limit_gets_too_long_and_the_session_goes_on(web_connect):
    client = log_in(web_connect(welcome=False), 'long')
    assert 'too long' in client.ask('y' * 5000)[0].lower()
    assert client.ask('/who')[0].startswith('Logged in (1)')


def test_logout_says_goodbye_then_closes_with_1000(web_connect):
    client = log_in(web_connect(welcome=False), 'leaver')
    client.send('/logout')
    assert client.read_to_close() == ['Goodbye!'] and client.close_code == 1000


@pytest.mark.every_loop
def test_shutdown_says_so_then_closes_with_1001(make_server, web_client):
    running = make_server(web=True)
    browser = web_client(running.web_port)
    browser.expect('/login')
    running.loop.stop()                     # the shutdown, read while it goes on
    assert 'shutting down' in browser.read_to_close()[-1]
    assert browser.close_code == 1001


def test_a_request_unfinished_at_shutdown_is_answered_503(make_server, client):
    running = make_server(web=True)
    browser = socket.create_connection(('127.0.0.1', running.web_port), timeout=TIMEOUT)
    try:
        browser.sendall(b'GET / HTTP/1.1\r\n')        # the rest of its head never comes
        client(running.port).expect('/login')        # the request accepted, a round before
        running.loop.stop()
        head, _, body = read_to_end(browser).partition(b'\r\n\r\n')
    finally:
        browser.close()
    assert head.startswith(b'HTTP/1.1 503') and b'shutting down' in body


# ---- the limits count every connection, to either port

@pytest.mark.every_loop
def test_page_loads_count_against_the_per_address_limit(make_server, client):
    running = make_server(web=True, max_per_address=3)
    for _ in range(2):
        client(running.web_port)            # a page load, its request not sent yet
    telnet = client(running.port)
    telnet.expect('/login')                 # two page loads and a telnet user: 3
    head, body = get(running.web_port)
    assert head.startswith('HTTP/1.1 503') and b'too many connections' in body
    refused = client(running.port)
    assert 'too many connections' in refused.read_to_close()[0]


@pytest.mark.every_loop
def test_a_full_server_answers_a_browser_503_full(make_server, client):
    running = make_server(web=True, max_clients=1)
    telnet = client(running.port)
    telnet.expect('/login')
    head, body = get(running.web_port)
    assert head.startswith('HTTP/1.1 503') and b'full' in body


# ---- the program, and the request deadline on the server's clock

def test_the_program_logs_the_web_address_after_listening_and_serves_the_page(program):
    server = program('--port', '0')
    server.port()
    match = server.expect(r'web client at http://127\.0\.0\.1:(\d+)/')
    head, _ = get(int(match.group(1)))
    assert head.startswith('HTTP/1.1 200')
    assert 'listening on' in server.log[0] and 'web client at' in server.log[1]


def test_no_web_turns_the_web_side_off(program, client):
    server = program('--port', '0', '--no-web')
    port = server.port()
    client(port).expect('/login')               # a round trip: the log is written by now
    assert not any('web client' in line for line in server.log if line)


def test_a_web_port_in_use_stops_the_start_in_one_line(program):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, '-m', 'chat', '--port', '0', '--web-port',
                               str(port)], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIMEOUT)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert str(port) in lines[0] and 'in use' in lines[0] and '--web-port' in lines[0]


# ---- behind a reverse proxy

def forwarded(port, address):
    """A WebClient that comes, as a trusted proxy says, from address (X-Forwarded-For)."""
    return WebClient(port, extra='X-Forwarded-For: 203.0.113.9, %s\r\n' % address)


def test_behind_a_trusted_proxy_each_address_is_counted_limited_and_banned(make_server):
    running = make_server(web=True, proxies=['127.0.0.1'], max_per_address=2,
                          op_password='sesame')
    port = running.web_port
    opened = []
    try:
        teacher = forwarded(port, '10.0.0.1')
        opened.append(teacher)
        log_in(teacher, 'teacher')
        teacher.ask('/op sesame')
        first, second = forwarded(port, '10.0.0.5'), forwarded(port, '10.0.0.5')
        opened += [first, second]
        log_in(first, 'student')
        head, body = upgrade(port, 'X-Forwarded-For: 10.0.0.5\r\n')
        assert head.startswith('HTTP/1.1 503') and b'too many' in body    # 10.0.0.5's
        other = forwarded(port, '10.0.0.6')                # the class is not one address
        opened.append(other)
        log_in(other, 'other')
        assert 'banned' in teacher.ask('/ban student')[-1]
        assert teacher.ask('/bans')[-1].startswith('10.0.0.5 ')
        head, body = upgrade(port, 'X-Forwarded-For: 10.0.0.5\r\n')
        assert head.startswith('HTTP/1.1 403') and b'banned' in body
        assert other.ask('/who')[0] == 'Logged in (2):'    # teacher and other stay
    finally:
        for client in opened:
            client.close()


NGINX = shutil.which('nginx') or shutil.which('nginx', path='/usr/sbin:/usr/local/sbin')
REQUIRE_PROXY = os.environ.get('CHAT_REQUIRE_PROXY') == '1'
if REQUIRE_PROXY and NGINX is None:
    raise RuntimeError('CHAT_REQUIRE_PROXY=1 but there is no nginx: apt-get install nginx')


def nginx_site(proxy_port, web_port):
    """docs/deploy.md's nginx example as a site on 127.0.0.1:proxy_port, without TLS (no
    certificate to be had here), passing to web_port: its proxy lines word for word."""
    with open(os.path.join(os.path.dirname(PAGE_DIR), os.pardir, 'docs', 'deploy.md'),
              encoding='utf-8') as file:
        example = re.search(r'```nginx\n(.*?)```', file.read(), re.S).group(1)
    example = re.sub(r'listen 443 ssl;', 'listen 127.0.0.1:%d;' % proxy_port, example)
    example = re.sub(r'\n *ssl_certificate.*', '', example)
    assert 'proxy_pass http://127.0.0.1:5001;' in example
    return example.replace('127.0.0.1:5001', '127.0.0.1:%d' % web_port)


@pytest.fixture
def nginx(tmp_path):
    """Start a real nginx in front of a web port: nginx(web_port) -> its own port. It runs
    in the foreground, one process, its files in tmp_path; stopped after the test."""
    if NGINX is None:
        pytest.skip('no nginx to put in front (apt-get install nginx; CI has it)')
    started = []

    def start(web_port, proxy_port):
        config = tmp_path / 'nginx.conf'
        config.write_text(
            'daemon off;\nmaster_process off;\nerror_log %(d)s/error.log;\n'
            'pid %(d)s/nginx.pid;\nevents { worker_connections 64; }\nhttp {\n'
            '  access_log off;\n  client_body_temp_path %(d)s/body;\n'
            '  proxy_temp_path %(d)s/proxy;\n  fastcgi_temp_path %(d)s/fastcgi;\n'
            '  uwsgi_temp_path %(d)s/uwsgi;\n  scgi_temp_path %(d)s/scgi;\n%(site)s}\n'
            % {'d': tmp_path, 'site': nginx_site(proxy_port, web_port)})
        process = subprocess.Popen([NGINX, '-p', str(tmp_path), '-c', str(config)],
                                   stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(process)
        deadline = time.monotonic() + TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail('nginx did not start: %s' % process.stderr.read().decode())
            try:
                socket.create_connection(('127.0.0.1', proxy_port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    yield start
    for process in started:
        process.terminate()
        process.wait(TIMEOUT)
        process.stderr.close()


def answer(port, request, source):
    """Send request from the local address source; return (head, body) of the answer, read
    by its Content-Length: nginx keeps a client's connection open after it."""
    with socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT,
                                  source_address=(source, 0)) as sock:
        sock.sendall(request.encode('latin-1'))
        data = b''
        while b'\r\n\r\n' not in data:
            data += sock.recv(65536) or pytest.fail('closed before the head: %r' % data)
        head, _, body = data.partition(b'\r\n\r\n')
        head = head.decode('latin-1')
        length = re.search(r'(?im)^content-length: *(\d+)', head)
        while length and len(body) < int(length.group(1)):
            body += sock.recv(65536) or pytest.fail('closed in the body: %r' % body)
        return head, body


@needs_other_loopbacks
def test_behind_a_real_nginx_two_browsers_are_two_addresses_and_a_ban_hits_one(
        make_server, client, nginx):
    """deploy.md's nginx in front, --trusted-proxy 127.0.0.1; the browsers connect to
    nginx from 127.0.0.2 and 127.0.0.3. Bob also sends an X-Forwarded-For of his own,
    naming alice's address: nginx's header replaces it."""
    proxy_port = free_port()
    origin = 'http://127.0.0.1:%d' % proxy_port      # the page's public origin
    running = make_server(web=True, proxies=['127.0.0.1'], origins=[origin],
                          op_password='sesame', max_per_address=1)
    nginx(running.web_port, proxy_port)
    teacher = log_in(client(running.port), 'teacher')
    teacher.ask('/op sesame')
    alice = log_in(WebClient(proxy_port, source='127.0.0.2', origin=origin), 'alice')
    bob = log_in(WebClient(proxy_port, source='127.0.0.3', origin=origin,
                           extra='X-Forwarded-For: 127.0.0.2\r\n'), 'bob')
    try:
        # One connection an address, and these are two: the class is not one address.
        assert teacher.ask('/who')[0] == 'Logged in (3):'
        assert 'banned' in teacher.ask('/ban bob')[-1]
        assert teacher.ask('/bans')[-1].startswith('127.0.0.3 ')
        assert bob.read_to_close()[-1] == 'You are banned from this server by teacher.'
        refused = UPGRADE.format(host='127.0.0.1:%d' % proxy_port,
                                 extra='Origin: %s\r\n' % origin)
        head, body = answer(proxy_port, refused, '127.0.0.3')
        assert head.startswith('HTTP/1.1 403') and b'banned' in body
        assert alice.ask('/who')[0] == 'Logged in (2):'   # alice stays, at her one place
        head, body = answer(proxy_port, refused, '127.0.0.4')
        assert head.startswith('HTTP/1.1 101')             # and newcomers are welcome
    finally:
        alice.close()
        bob.close()


def test_a_request_not_from_a_trusted_proxy_is_counted_under_its_own_address(make_server):
    running = make_server(web=True, max_per_address=1)
    first = WebClient(running.web_port, extra='X-Forwarded-For: 10.0.0.5\r\n')
    try:
        head, _ = upgrade(running.web_port, 'X-Forwarded-For: 10.0.0.6\r\n')
        assert head.startswith('HTTP/1.1 503')             # both are 127.0.0.1's
    finally:
        first.close()
