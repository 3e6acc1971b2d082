"""Make this interpreter look like Windows' to the chat server: a simulation for Linux.

Python imports `sitecustomize` at start-up from the first folder on sys.path
that has one, so `PYTHONPATH=tests/winlike python -m chat` (or pytest) runs on
an interpreter with what Windows lacks taken away. No Windows machine can be
had here, so this stands in for the parts of it a Linux process can show:

1. select has no poll() or epoll(), nor their POLL*/EPOLL* constants, and
   selectors has only its select() selector;
2. there is no `resource` module (no open-file limit to raise);
3. a select() wait is not cut short by a signal: SIGINT and SIGTERM are held
   back while it waits and delivered when it returns, as Ctrl-C on Windows;
4. socket has no TCP_USER_TIMEOUT.

What it cannot show: Winsock's error numbers, SO_EXCLUSIVEADDRUSE, and the
512-socket limit of Windows' select(); sys.platform stays 'linux'.
"""

import select
import signal
import socket
import sys

for _name in list(vars(select)):
    if _name.startswith(('poll', 'epoll', 'POLL', 'EPOLL', 'devpoll', 'kqueue', 'KQ_')):
        delattr(select, _name)

# selectors (imported by socket, so already loaded) chose its default with epoll present.
import selectors                       # noqa: E402
for _name in ('PollSelector', 'EpollSelector', 'DevpollSelector', 'KqueueSelector'):
    if hasattr(selectors, _name):
        delattr(selectors, _name)
selectors.DefaultSelector = selectors.SelectSelector

sys.modules['resource'] = None         # `import resource` now raises ImportError

if hasattr(socket, 'TCP_USER_TIMEOUT'):
    del socket.TCP_USER_TIMEOUT
    socket.__all__.remove('TCP_USER_TIMEOUT')   # as on Windows, where it never was there

_select = select.select
_HELD = {signal.SIGINT, signal.SIGTERM}


def _select_deaf_to_signals(rlist, wlist, xlist, timeout=None):
    """select.select, but no signal ends the wait: they come after it, as on Windows."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        return _select(rlist, wlist, xlist, timeout)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


select.select = _select_deaf_to_signals
