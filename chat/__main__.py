"""The command line: `python -m chat` or `chat-server`.

Parses the options, sets up logging to standard error, starts the server
and runs the loop until SIGINT or SIGTERM (Ctrl-Break, SIGBREAK, on Windows).
A start-up failure is one line on standard error and a non-zero exit: 2 for a
bad option, 1 for anything else.
"""

import argparse
import codecs
import errno
import ipaddress
import logging
import signal
import socket
import sys

from .limits import (LINE_BURST, LINE_RATE, LOGIN_TIMEOUT, MAX_CLIENTS, MAX_PER_ADDRESS,
                     MAX_QUEUE, Limits)
from .framing import MAX_LINE, clean
from .loop import LOOPS, capacity, make_loop
from .resume import RESUME_SECONDS
from .server import Server
from .store import KEEP_DAYS, Store, StoreError
from .web import WebServer

log = logging.getLogger('chat')

PROG = 'chat-server'


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """Report a bad option in one line, then exit 2."""
        self.exit(2, '%s: %s (see --help)\n' % (self.prog, message))


def _port(text):
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def _positive(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _count(text):
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _seconds(text):
    value = float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


def _rate(text):
    value = float(text)
    if not 0 <= value < float('inf'):
        raise ValueError(text)
    return value


def _address(text):
    return str(ipaddress.ip_address(text))


_address.__name__ = 'IP address'
_port.__name__ = 'port number'
_positive.__name__ = 'positive integer'
_count.__name__ = 'whole number'
_seconds.__name__ = 'number of seconds'
_rate.__name__ = 'number of lines a second'


def parse_args(argv=None):
    parser = _Parser(prog=PROG, description='A multi-room telnet chat server.')
    parser.add_argument('--host', default='localhost',
                        help='address to listen on (default: %(default)s)')
    parser.add_argument('--port', type=_port, default=5000,
                        help='port to listen on; 0 picks a free one (default: %(default)s)')
    parser.add_argument('--max-line', type=_positive, default=MAX_LINE, metavar='BYTES',
                        help='longest line a client may send (default: %(default)s)')
    parser.add_argument('--max-queue', type=_positive, default=MAX_QUEUE, metavar='BYTES',
                        help='output a client may leave unread before it is cut '
                             '(default: %(default)s)')
    parser.add_argument('--max-clients', type=_positive, default=MAX_CLIENTS, metavar='N',
                        help='connections at once, logged in or not (default: %(default)s)')
    parser.add_argument('--max-per-address', type=_count, default=MAX_PER_ADDRESS,
                        metavar='N',
                        help='connections at once from one IPv4 address or IPv6 /64; '
                             '0 for no limit (default: %(default)s)')
    parser.add_argument('--login-timeout', type=_seconds, default=LOGIN_TIMEOUT,
                        metavar='SECONDS',
                        help='time a connection has to log in; 0 for no limit '
                             '(default: %(default)s)')
    parser.add_argument('--line-rate', type=_rate, default=LINE_RATE, metavar='LINES',
                        help='lines a second a client may send after its burst; slower '
                             'clients wait, nothing is dropped; 0 for no limit '
                             '(default: %(default)g)')
    parser.add_argument('--line-burst', type=_positive, default=LINE_BURST, metavar='LINES',
                        help='lines a client may send at once (default: %(default)s)')
    parser.add_argument('--motd', metavar='FILE',
                        help='a message of the day: the lines of FILE (UTF-8), shown after '
                             'every login')
    parser.add_argument('--password-file', metavar='FILE',
                        help='the class password: the first line of FILE; with it, login '
                             'is /login NICK PASSWORD')
    parser.add_argument('--op-password-file', metavar='FILE',
                        help="the operators' password: the first line of FILE; /op PASSWORD "
                             'makes a user an operator, who may kick, mute and ban')
    parser.add_argument('--web-port', type=_port, metavar='PORT',
                        help='port of the web page and its WebSocket sessions, on the same '
                             'host; 0 picks a free one (default: --port + 1, or a free one '
                             'when --port is 0)')
    parser.add_argument('--no-web', action='store_true',
                        help='no web page: telnet only')
    parser.add_argument('--web-origin', action='append', default=[], metavar='ORIGIN',
                        help='a web page elsewhere that may open chat sessions here, as '
                             "https://example.org (repeatable; the server's own page always "
                             'may)')
    parser.add_argument('--db', metavar='FILE',
                        help='keep the lines said, the bans, the mutes and the resume codes '
                             'in FILE, an SQLite database, across restarts (default: in '
                             'memory only)')
    parser.add_argument('--keep-days', type=_count, default=KEEP_DAYS, metavar='DAYS',
                        help='with --db, delete lines said more than DAYS ago, at start and '
                             'once a day; 0 keeps everything (default: %(default)s)')
    parser.add_argument('--resume-seconds', type=_seconds, default=RESUME_SECONDS,
                        metavar='SECONDS',
                        help='how long after a lost connection /resume CODE still brings '
                             'a session back (default: %(default)s)')
    parser.add_argument('--trusted-proxy', action='append', default=[], type=_address,
                        metavar='ADDRESS',
                        help='a reverse proxy in front of the web port: its requests are '
                             'counted, limited and banned under the last address of their '
                             'X-Forwarded-For (repeatable)')
    parser.add_argument('--loop', choices=LOOPS, default=LOOPS[0],
                        help="event loop: select is the design's asyncore.loop(), which "
                             'asks every connection at every round (default: %(default)s)')
    parser.add_argument('--log-level', default='INFO', type=str.upper,
                        choices=['DEBUG', 'INFO', 'WARNING', 'ERROR'],
                        help='least severe messages to log (default: %(default)s)')
    args = parser.parse_args(argv)
    if args.web_port is None and not args.no_web:
        args.web_port = args.port + 1 if args.port else 0
        if args.web_port > 65535:
            parser.error('the web port would be 65536: choose one with --web-port, or --no-web')
    return args


def describe(error, host, port, option='--port'):
    """Explain, in one line, why the server could not start."""
    if isinstance(error, socket.gaierror):
        return 'cannot listen on %s: unknown host (%s)' % (host, error.strerror)
    if isinstance(error, UnicodeError):
        return 'cannot listen on %s: not a valid host name' % host
    if error.errno == errno.EADDRINUSE:
        hint = ''
        if sys.platform == 'darwin' and port == 5000:
            hint = ' (on macOS, AirPlay Receiver uses port 5000)'
        return ('port %d on %s is already in use%s; choose another with %s, '
                'or PORT=%d with make run' % (port, host, hint, option, port + 1))
    return 'cannot listen on %s port %d: %s' % (host, port, error.strerror or error)


MOTD_LIMIT = 16 * 1024
"""Bytes a message of the day may have: every login gets all of it."""


def read_motd(path):
    """Return the message of the day in the file at path: its lines, cleaned as input is.

    Invalid UTF-8 becomes U+FFFD and control characters are removed, so the
    file cannot put an escape sequence on anyone's terminal; blank lines go.
    Raises OSError if the file cannot be read, ValueError if it is too long.
    """
    with open(path, 'rb') as motd:
        data = motd.read(MOTD_LIMIT + 1)
    if len(data) > MOTD_LIMIT:
        raise ValueError('longer than %d bytes' % MOTD_LIMIT)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]   # a byte-order mark (Notepad's) is no text
    lines = (clean(line) for line in data.decode('utf-8', 'replace').splitlines())
    return [line for line in lines if line]


PASSWORD_LIMIT = 4096
"""Bytes a password file may have: its first line is the password."""


def read_password(path):
    """Return the password in the file at path: its first line, stripped.

    Raises OSError if the file cannot be read (a directory, say), ValueError if
    it is not UTF-8, too long, or holds no password.
    """
    with open(path, 'rb') as file:
        data = file.read(PASSWORD_LIMIT + 1)
    if len(data) > PASSWORD_LIMIT:
        raise ValueError('longer than %d bytes' % PASSWORD_LIMIT)
    try:
        text = data.decode('utf-8-sig')   # a byte-order mark (Notepad's) is not the password
    except UnicodeDecodeError:
        raise ValueError('not UTF-8 text') from None
    password = text.splitlines()[0].strip() if text.strip() else ''
    if not password:
        raise ValueError('its first line is empty')
    return password


def local_addresses():
    """The IPv4 addresses others on the network may reach this machine at, as far as it can
    tell without sending anything: the hostname's, and the one its default route leaves by."""
    found = []
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None,
                                                            socket.AF_INET)]
    except OSError:
        pass                           # a hostname that does not resolve
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(('192.0.2.1', 9))    # UDP: a route is chosen, no packet is sent
            found.append(probe.getsockname()[0])
        except OSError:
            pass                       # no route: no network
    return sorted({address for address in found if not address.startswith('127.')})


def raise_open_file_limit():
    """Raise the soft limit on open files as far as the system allows: each client holds one.

    Returns the soft limit now, or None where there is no such limit (Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    wanted = hard
    if hard == resource.RLIM_INFINITY:
        wanted = 1 << 20               # an unlimited soft limit is refused: ask for plenty
    # macOS reads the hard limit as unlimited but refuses more than kern.maxfilesperproc:
    # look for the most it accepts, between what we have and what we want.
    accepted, refused = soft, wanted + 1
    while refused - accepted > 1:
        asked = wanted if refused == wanted + 1 else (accepted + refused) // 2
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (asked, hard))
            accepted = asked
        except (ValueError, OSError):
            refused = asked
    return accepted


RESERVED_FILES = 16
"""Descriptors the server keeps for itself: its listening socket, the loop's, the spare one."""


STOP_SIGNALS = ('SIGINT', 'SIGTERM', 'SIGBREAK')
"""The signals that stop the server, where the platform has them (SIGBREAK: Windows'
Ctrl-Break)."""


def read_files(args):
    """The message of the day and the passwords the options name: (motd, passwords by
    option). Raises ValueError with one line saying which file could not be used, and why."""
    motd, passwords = (), {}
    files = [('the message of the day', read_motd, args.motd)] + [
        (option, read_password, path) for option, path in (
            ('--password-file', args.password_file),
            ('--op-password-file', args.op_password_file))]
    for what, read, path in files:
        if path is None:
            continue
        try:
            value = read(path)
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise ValueError('cannot use %s as %s: %s' % (path, what, reason)) from None
        if read is read_motd:
            motd = value
        else:
            passwords[what] = value
    return motd, passwords


def reread(args, server):
    """SIGHUP: read the password files and the message of the day again; a file that now
    fails keeps the old values, and the log says why."""
    try:
        motd, passwords = read_files(args)
    except ValueError as error:
        log.warning('SIGHUP: %s; nothing changed', error)
        return
    server.motd = list(motd)
    server.classroom.password = passwords.get('--password-file')
    server.classroom.op_password = passwords.get('--op-password-file')
    log.info('SIGHUP: read the password files and the message of the day again')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['transcript']:
        from .transcript import main as transcript
        return transcript(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(message)s')
    try:
        motd, passwords = read_files(args)
    except ValueError as error:
        print('%s: %s' % (PROG, error), file=sys.stderr)
        return 1
    store = None
    if args.db is not None:
        try:
            store = Store(args.db, args.keep_days)
        except (OSError, StoreError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            print('%s: cannot use %s as the database: %s' % (PROG, args.db, reason),
                  file=sys.stderr)
            return 1
    open_files = raise_open_file_limit()
    limits = Limits(max_line=args.max_line, max_queue=args.max_queue,
                    max_clients=args.max_clients, max_per_address=args.max_per_address,
                    login_timeout=args.login_timeout, line_rate=args.line_rate,
                    line_burst=args.line_burst).capped(capacity(args.loop))
    try:
        server = Server(args.port, args.host, limits=limits, motd=motd,
                        password=passwords.get('--password-file'),
                        op_password=passwords.get('--op-password-file'), store=store,
                        resume_seconds=args.resume_seconds)
    except (OSError, UnicodeError) as error:      # UnicodeError: a host name IDNA rejects
        if store is not None:
            store.close()
        print('%s: %s' % (PROG, describe(error, args.host, args.port)), file=sys.stderr)
        return 1
    web = None
    if not args.no_web:
        try:
            web = WebServer(server, args.web_port, args.host, args.web_origin,
                            args.trusted_proxy)
        except OSError as error:
            server.close()
            if store is not None:
                store.close()
            print('%s: %s' % (PROG, describe(error, args.host, args.web_port, '--web-port')),
                  file=sys.stderr)
            return 1
    loop = make_loop(server, args.loop)

    def stop(signum, frame):
        log.info('%s: shutting down', signal.Signals(signum).name)
        loop.stop()

    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)
    if hasattr(signal, 'SIGHUP'):      # not on Windows
        signal.signal(signal.SIGHUP, lambda signum, frame: reread(args, server))
    log.info('listening on %s', server.address)
    if web is not None:
        log.info('web client at http://%s/', web.address)
    if server.found is not None:
        log.info('%s', server.found)
    if args.host in ('0.0.0.0', '::'):
        port = server.socket.getsockname()[1]
        for address in local_addresses():
            log.info('students can use: telnet %s %d%s', address, port,
                     ', or http://%s:%d/' % (address, web.socket.getsockname()[1])
                     if web is not None else '')
    if limits.max_clients < args.max_clients:
        log.info('the %s loop watches at most %d connections: --max-clients lowered to %d',
                 loop.name, limits.max_clients, limits.max_clients)
    if open_files is not None and open_files - RESERVED_FILES < limits.max_clients:
        log.warning('the open-file limit (%d) allows about %d connections, fewer than '
                    '--max-clients (%d)', open_files, max(open_files - RESERVED_FILES, 0),
                    limits.max_clients)
    try:
        loop.run()
    finally:
        if store is not None:
            store.close()
    log.info('stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
