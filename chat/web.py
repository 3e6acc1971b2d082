"""The web side: the chat page, and chat sessions for browsers, on a second port.

Students with nothing but a browser open http://HOST:5001/ and chat like
everyone else. Three classes, one per step of a browser's visit, and the
framing of the first step:

1. `WebServer(Listener)` listens on the web port, in the chat server's
   socket map, and hands each connection to the chat server's own limits
   (`Server.admit`) as a `Request`.
2. `Request(Channel)` reads one HTTP request head, asynchat's textbook case:
   the terminator is b'\\r\\n\\r\\n', and its framing, `RequestHead`, passes
   the bytes through for it. It answers with a file of the page or an
   error, then closes; or, for a WebSocket upgrade (RFC 6455, 4.2), it
   answers 101 and hands its socket over to a `WebSession`.
3. `WebSession(ChatSession)`: the design's ChatSession, on the WebSocket
   framing (chat/websocket.py) instead of telnet's. Every command, room and
   limit works for it unchanged.

The page is the three files in chat/web/, served as they are, with headers
that let it run only its own script (Content-Security-Policy).
"""

import base64
import binascii
import ipaddress
import logging
import os
import re
import urllib.parse

from .channel import Channel
from .framing import Framing
from .listener import Listener
from .limits import address_key
from .server import FULL
from .session import ChatSession
from .websocket import EventSocket, WebSocket, accept_key

log = logging.getLogger('chat')

MAX_HEAD = 8 * 1024
"""Bytes a request head may have; a longer one is answered 431."""

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'web')

FILES = {
    '/': ('index.html', 'text/html; charset=utf-8'),
    '/chat.css': ('chat.css', 'text/css; charset=utf-8'),
    '/chat.js': ('chat.js', 'text/javascript; charset=utf-8'),
    '/favicon.svg': ('favicon.svg', 'image/svg+xml'),
}
"""The page's files, by path: every file it loads comes from this server."""

CHAT_PATH = '/chat'
"""Where the page opens its WebSocket."""

EVENTS = 'chat.events'
"""The subprotocol of a client that reads events, not lines (chat/events.py)."""

REASONS = {
    101: 'Switching Protocols', 200: 'OK', 400: 'Bad Request', 403: 'Forbidden',
    404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
    426: 'Upgrade Required', 431: 'Request Header Fields Too Large',
    503: 'Service Unavailable',
}

SECURITY_HEADERS = (
    ('X-Content-Type-Options', 'nosniff'),
    # Only this server's own script and style; no inline script, no eval, no frames.
    ('Content-Security-Policy', ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                 "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                                 "form-action 'none'; frame-ancestors 'none'")),
    ('Referrer-Policy', 'no-referrer'),
)

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An HTTP token (RFC 9110, 5.6.2): a method's or a header's name."""


def response(status, headers=(), body=b'', length=None):
    """Return the bytes of an HTTP/1.1 response that closes its connection; length is the
    Content-Length, if not body's (HEAD's: the length GET's body would have)."""
    lines = ['HTTP/1.1 %d %s' % (status, REASONS[status])]
    lines += ['%s: %s' % header for header in headers]
    if status != 101:
        lines += ['Content-Length: %d' % (len(body) if length is None else length),
                  'Connection: close']
        lines += ['%s: %s' % header for header in SECURITY_HEADERS]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body


def error(status, text=None, headers=()):
    """Return an error response whose body, plain text, says what went wrong."""
    body = ('%d %s%s\n' % (status, REASONS[status], ': ' + text if text else '')).encode()
    return response(status, (('Content-Type', 'text/plain; charset=utf-8'),) + tuple(headers),
                    body)


def parse_head(head):
    """Return (method, path, version, headers) from a request head, or None if malformed.

    headers maps each lower-cased name to its value; a repeated header's
    values are joined with ', ', as RFC 9110 (5.3) allows.
    """
    try:
        text = head.decode('latin-1')
    except UnicodeDecodeError:         # pragma: no cover - latin-1 decodes every byte
        return None
    request_line, *fields = text.split('\r\n')
    parts = request_line.split(' ')
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1].startswith('/'):
        return None
    method, target, version = parts
    if version not in ('HTTP/1.1', 'HTTP/1.0'):
        return None
    headers = {}
    for field in fields:
        name, colon, value = field.partition(':')
        if not colon or not _TOKEN.match(name):
            return None
        name, value = name.lower(), value.strip(' \t')
        headers[name] = headers[name] + ', ' + value if name in headers else value
    return method, target.split('?', 1)[0], version, headers


def tokens(value):
    """The comma-separated tokens of a header's value, lower-cased."""
    return {token.strip().lower() for token in value.split(',')}


class RequestHead(Framing):
    """The framing of a request head: bytes pass as they are, for asynchat's own
    terminator, which finds the head's end; Request bounds it at MAX_HEAD."""

    def __init__(self, max_line):
        Framing.__init__(self, MAX_HEAD)


class WebSession(ChatSession):
    """A browser's chat session: a ChatSession on the WebSocket framing."""

    framing_class = WebSocket

    def __init__(self, server, sock, origin=None, events=False):
        if events:                     # it asked for chat.events: each line as its event
            self.framing_class = EventSocket
        ChatSession.__init__(self, server, sock)
        log.info('%s is a browser%s%s', self.peer, ' from %s' % origin if origin else '',
                 ', reading events' if events else '')


class Request(Channel):
    """A browser's connection to the web port, until it is answered or upgraded."""

    framing_class = RequestHead
    session_class = WebSession

    @staticmethod
    def refusal(reply, status):
        """A refusal as the browser reads it: an HTTP error that carries the reply."""
        return error(status, reply)

    def __init__(self, server, sock):
        Channel.__init__(self, server, sock)
        self.proxied = bool(self.addr) and plain_address(self.addr[0]) in server.web.proxies
        log.debug('%s connected to the web port', self.peer)
        self.schedule.requests.add(self, self.schedule.clock())
        self.set_terminator(b'\r\n\r\n')
        self.head = []
        self.size = 0

    def collect_incoming_data(self, data):
        """Keep a piece of the request head, up to MAX_HEAD bytes in all."""
        if self._closing:
            return
        self.size += len(data)
        if self.size > MAX_HEAD:
            self.answer(error(431, 'a request head is %d bytes at most' % MAX_HEAD))
            return
        self.head.append(data)

    def found_terminator(self):
        """The request head is whole: answer it."""
        if self._closing:
            return                     # answered already; what follows is not read
        parsed = parse_head(b''.join(self.head))
        if parsed is None:
            self.answer(error(400, 'a malformed request'))
            return
        method, path, version, headers = parsed
        if self.proxied:               # a trusted proxy's: the address it is for counts
            refusal = self.server.rekey(self, forwarded_key(headers.get('x-forwarded-for'),
                                                            self.address_key))
            if refusal is not None:
                reply, _, status = refusal
                self.answer(error(status, reply))
                return
        if not self.server.web.serves(headers.get('host')):
            log.info('%s refused: a request for %s, not a name of this server', self.peer,
                     headers.get('host'))
            self.answer(error(403, 'this server does not answer to that name'))
        elif path == CHAT_PATH and method == 'GET':
            self.upgrade(version, headers)
        elif method not in ('GET', 'HEAD'):
            self.answer(error(405, headers=(('Allow', 'GET, HEAD'),)))
        elif path not in FILES:
            self.answer(error(404))
        else:
            name, content_type = FILES[path]
            body = self.server.web.page[name]
            self.answer(response(200, (('Content-Type', content_type),
                                       ('Cache-Control', 'no-cache')),
                                 body if method == 'GET' else b'', len(body)))

    def push(self, line):
        """Tell the browser something (the server is shutting down): an error, then close."""
        if not self._closing:
            self.answer(error(503, line))

    def send_away(self, line, reason, why=None):
        """The server ends this connection (a ban): tell the browser, and close."""
        self.push(line)

    def answer(self, data):
        """Send a response, then close."""
        self.push_raw(data)
        self.close_when_done('answered')

    def upgrade(self, version, headers):
        """Answer 101 and make the connection a WebSession, if the upgrade is valid."""
        key = headers.get('sec-websocket-key', '')
        if version != 'HTTP/1.1':
            self.answer(error(400, 'a WebSocket upgrade is an HTTP/1.1 request'))
        elif ('websocket' not in tokens(headers.get('upgrade', ''))
              or 'upgrade' not in tokens(headers.get('connection', ''))
              or not valid_key(key) or 'host' not in headers):
            self.answer(error(400, 'not a WebSocket upgrade'))    # RFC 6455, 4.2.1
        elif headers.get('sec-websocket-version') != '13':
            # RFC 6455, 4.4; a 426 names the protocol to upgrade to (RFC 9110, 15.5.22).
            self.answer(error(426, 'this server speaks WebSocket version 13',
                              (('Sec-WebSocket-Version', '13'), ('Upgrade', 'websocket'))))
        elif not self.server.web.allows(headers.get('origin'), headers['host']):
            log.info('%s refused: a page from %s may not chat here',
                     self.peer, headers.get('origin'))
            self.answer(error(403, 'a page from another site may not chat here'))
        else:
            accepted = [('Upgrade', 'websocket'), ('Connection', 'Upgrade'),
                        ('Sec-WebSocket-Accept', accept_key(key))]
            # Subprotocol names are case-sensitive (RFC 6455, 4.1): offered exactly, or not.
            events = EVENTS in {name.strip() for name in
                                headers.get('sec-websocket-protocol', '').split(',')}
            if events:
                accepted.append(('Sec-WebSocket-Protocol', EVENTS))
            self.become_session(response(101, accepted), headers.get('origin'), events)

    def become_session(self, accepted, origin, events):
        """Hand the socket over to a new WebSession, counted in this request's place."""
        try:
            sent = self.socket.send(accepted)   # a new connection's buffer is empty: it all goes
        except OSError:
            sent = 0
        sock, unread = self.hand_over()         # unread: frames sent without waiting
        if sent < len(accepted):
            sock.close()
            log.info('%s closed: the upgrade could not be sent', self.peer)
            return
        session = self.session_class(self.server, sock, origin, events)
        self.server.enroll(session, self.address_key)
        if unread:
            session.take_unread(unread)

    def time_out(self, seconds):
        """The request head took too long: say so, and close."""
        if self.closed:
            return
        self.answer(error(408, 'no request within %g seconds' % seconds))

    def handle_close(self):
        if not self.closed:
            Channel.handle_close(self)
            log.debug('%s closed: %s', self.peer, self.reason or 'closed by the client')


def plain_address(host):
    """An address as --trusted-proxy names it: an IPv4 one as such, though a socket
    listening on IPv6 (--host ::) shows it as ::ffff:127.0.0.1."""
    try:
        address = ipaddress.ip_address(host.split('%', 1)[0])
    except ValueError:
        return host
    return str(getattr(address, 'ipv4_mapped', None) or address)


def forwarded_key(value, proxy_key):
    """The address key a trusted proxy's request is for: the last address in its
    X-Forwarded-For (the one the proxy itself added); the proxy's own key where there is
    none, or it is not an address."""
    last = (value or '').rsplit(',', 1)[-1].strip()
    try:
        return address_key(str(ipaddress.ip_address(last)))
    except ValueError:
        return proxy_key


def valid_key(key):
    """Whether key is a Sec-WebSocket-Key: 16 bytes, in base64 (4.1)."""
    try:
        return len(base64.b64decode(key.encode('ascii'), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


class WebServer(Listener):
    """The web port: accepts browsers' connections for the chat server."""

    channel_class = Request

    def __init__(self, server, port, host, origins=(), proxies=()):
        Listener.__init__(self, host, port, server.map)
        self.server = server
        self.origins = set(origins)    # pages elsewhere allowed to chat here (--web-origin)
        # Reverse proxies whose X-Forwarded-For says whom a request is for (--trusted-proxy).
        self.proxies = {str(ipaddress.ip_address(proxy)) for proxy in proxies}
        # The names a request may ask for (Host), besides an IP address: DNS rebinding
        # gives a page elsewhere this server's address under that page's own name.
        self.names = {'localhost', host.lower()} | {
            urllib.parse.urlsplit(origin).hostname or '' for origin in origins}
        self.page = {}
        for name, _ in FILES.values():
            with open(os.path.join(PAGE_DIR, name), 'rb') as file:
                self.page[name] = file.read()
        server.web = self
        server.listeners.append(self)

    def serves(self, host):
        """Whether a request's Host names this server: an IP address, localhost, the
        --host name, or a --web-origin's host (None, no Host: an HTTP/1.0 program's)."""
        if host is None:
            return True
        name = urllib.parse.urlsplit('//' + host).hostname if host else None
        if name is None:
            return False
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return name in self.names

    def allows(self, origin, host):
        """Whether a page from origin may chat here: no Origin (not a browser), the page's
        own (http:// and the Host it asked for), or one given with --web-origin."""
        if origin is None:
            return True
        return origin != 'null' and (origin.lower() == 'http://' + host.lower()
                                     or origin in self.origins)

    def handle_accepted(self, sock, addr):
        """Each connection goes to the chat server's limits, as a Request (a trusted
        proxy's is counted once its request says for whom)."""
        self.server.admit(sock, addr, self.channel_class,
                          plain_address(addr[0]) in self.proxies)

    def handle_out_of_descriptors(self, sock, addr):
        self.server.refuse(sock, addr, self.channel_class, FULL, 'out of file descriptors')
