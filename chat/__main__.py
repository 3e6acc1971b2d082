"""The command line: `python -m chat` or `chat-server`.

Parses the options, sets up logging to standard error, starts the server
and runs the loop until SIGINT or SIGTERM. A start-up failure is one line on
standard error and a non-zero exit: 2 for a bad option, 1 for anything else.
"""

import argparse
import errno
import logging
import signal
import socket
import sys

from .loop import Loop
from .server import Server
from .telnet import MAX_LINE

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


_port.__name__ = 'port number'
_positive.__name__ = 'positive integer'


def parse_args(argv=None):
    parser = _Parser(prog=PROG, description='A multi-room telnet chat server.')
    parser.add_argument('--host', default='localhost',
                        help='address to listen on (default: %(default)s)')
    parser.add_argument('--port', type=_port, default=5000,
                        help='port to listen on; 0 picks a free one (default: %(default)s)')
    parser.add_argument('--max-line', type=_positive, default=MAX_LINE, metavar='BYTES',
                        help='longest line a client may send (default: %(default)s)')
    parser.add_argument('--log-level', default='INFO', type=str.upper,
                        choices=['DEBUG', 'INFO', 'WARNING', 'ERROR'],
                        help='least severe messages to log (default: %(default)s)')
    return parser.parse_args(argv)


def describe(error, host, port):
    """Explain, in one line, why the server could not start."""
    if isinstance(error, socket.gaierror):
        return 'cannot listen on %s: unknown host (%s)' % (host, error.strerror)
    if isinstance(error, UnicodeError):
        return 'cannot listen on %s: not a valid host name' % host
    if error.errno == errno.EADDRINUSE:
        hint = ''
        if sys.platform == 'darwin' and port == 5000:
            hint = ' (on macOS, AirPlay Receiver uses port 5000)'
        return ('port %d on %s is already in use%s; choose another with --port, '
                'or PORT=%d with make run' % (port, host, hint, port + 1))
    return 'cannot listen on %s port %d: %s' % (host, port, error.strerror or error)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(message)s')
    try:
        server = Server(args.port, args.host, max_line=args.max_line)
    except (OSError, UnicodeError) as error:      # UnicodeError: a host name IDNA rejects
        print('%s: %s' % (PROG, describe(error, args.host, args.port)), file=sys.stderr)
        return 1
    loop = Loop(server)

    def stop(signum, frame):
        log.info('%s: shutting down', signal.Signals(signum).name)
        loop.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    log.info('listening on %s', server.address)
    loop.run()
    log.info('stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
