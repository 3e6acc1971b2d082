"""The limits that protect everyone, and the small mechanisms that keep them.

Nothing here knows of sockets, and nothing here reads a clock: each mechanism
is told `now` (seconds, as `time.monotonic()` gives them), so a test can play
minutes of them in a moment. Only `Refusals` has an effect beyond its own
state: it writes the log. The schedule (chat/schedule.py) holds the clock
that feeds them; docs/protocol.md says what a client sees.

1. `Limits`: every limit, one value, made once and passed around.
2. `TokenBucket`: the line rate, a burst at once and then so many a second.
3. `Deadlines`: what falls due a fixed delay after it was added.
4. `Refusals`: the log of refused connections, a line a second at most.
5. `PasswordTries`: password tries from one address, a burst and then two a second.
"""

import collections
import ipaddress
import logging
from typing import NamedTuple

from .framing import MAX_LINE

log = logging.getLogger('chat')

MAX_QUEUE = 64 * 1024
"""Bytes of output the kernel has not taken that a session may hold before it is cut."""

MAX_CLIENTS = 10000
"""Connections at once, logged in or not."""

MAX_PER_ADDRESS = 64
"""Connections at once from one IPv4 address or IPv6 /64; 0 for no limit."""

LOGIN_TIMEOUT = 300
"""Seconds a connection may take to log in; 0 for no limit."""

LINE_RATE = 5.0
"""Lines a second a client may send once its burst is spent; 0 for no limit."""

LINE_BURST = 20
"""Lines a client may send at once."""

LINGER = 10.0
"""Seconds an orderly close may spend sending what is owed before the connection is cut."""

REQUEST_TIMEOUT = 10.0
"""Seconds a browser's connection may take to send its whole request head."""

ATTEMPT_RATE = 2.0
"""Password tries a second one address may make, once its burst is spent: a class behind
one address (a school's NAT) logs in at this pace once the burst is spent."""

ATTEMPT_BURST = 10
"""Password tries one address may make at once."""

ALL_ATTEMPTS = 30
"""Password tries compared a second over all addresses together (and at once): guessing
does not grow with the addresses an attacker has."""


def address_key(host):
    """What the per-address limit counts by: an IPv4 address, or an IPv6 /64."""
    if ':' not in host:
        return host                                    # IPv4, as accept() wrote it
    ip = ipaddress.ip_address(host.split('%')[0])      # '%': an IPv6 scope, as in fe80::1%eth0
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)                 # IPv4 through a dual-stack socket
        return str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip)


class Limits(NamedTuple):
    """Every limit of a server, as one value: `Limits(line_rate=0)` changes one."""

    max_line: int = MAX_LINE
    max_queue: int = MAX_QUEUE
    max_clients: int = MAX_CLIENTS
    max_per_address: int = MAX_PER_ADDRESS
    login_timeout: float = LOGIN_TIMEOUT
    line_rate: float = LINE_RATE
    line_burst: int = LINE_BURST
    linger: float = LINGER
    request_timeout: float = REQUEST_TIMEOUT

    def capped(self, clients):
        """These limits with at most clients connections (None: no cap)."""
        if clients is None or self.max_clients <= clients:
            return self
        return self._replace(max_clients=clients)


class TokenBucket:
    """The line rate: `burst` lines at once, then `rate` lines a second.

    Each line takes a token; tokens come back at `rate` a second, up to `burst`.
    """

    __slots__ = ('rate', 'burst', 'tokens', 'stamp')

    def __init__(self, rate, burst, now):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)     # a newcomer may send its burst at once
        self.stamp = now               # when tokens was last brought up to date

    def hold(self, now, seconds):
        """Allow no line for seconds from now, at least (a failed password's pause)."""
        self.tokens = min(1.0, self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= seconds * self.rate

    def take(self, now):
        """Count a line sent at now; False if no token is left: the line must wait."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Pause:
    """What a wrong password gives a client when the line rate is off: none of its lines
    until the pause is over, then every one, as before. (A TokenBucket at the default rate
    would have paced the client for the rest of its session.)"""

    __slots__ = ('until',)

    def __init__(self, now):
        self.until = now

    def hold(self, now, seconds):
        """Allow no line for seconds from now, at least."""
        self.until = max(self.until, now + seconds)

    def take(self, now):
        """Whether a line sent at now may be handled: once the pause is over, always."""
        return now >= self.until


class Deadlines(collections.OrderedDict):
    """Keys that fall due `delay` seconds after they were added: key -> when, first due first.

    Every key waits the same delay, so the order they were added in is the
    order they fall due: the first is always the next, and nothing is sorted.
    (An OrderedDict, as taking from the front of a dict gets slower and slower.)
    """

    def __init__(self, delay):
        super().__init__()
        self.delay = delay

    def add(self, key, now):
        """Have key fall due delay seconds after now; a key already waiting starts again."""
        self[key] = now + self.delay
        self.move_to_end(key)

    def discard(self, key):
        """Forget key, if it is waiting."""
        self.pop(key, None)

    def next_due(self):
        """When the first key falls due, or None if none is waiting."""
        return next(iter(self.values()), None)

    def pop_due(self, now):
        """Take out the keys due at now, first due first, and return them."""
        due = []
        while self:
            key, when = next(iter(self.items()))
            if when > now:
                break
            del self[key]
            due.append(key)
        return due


class Refusals(list):
    """Refused connections, logged at most once every `every` seconds.

    A storm of refusals cannot flood the log: the first is logged in full,
    the others within `every` seconds of it are kept (this list: who was
    refused), and their count is logged once they are past. The list is
    empty, and false, while nothing waits to be logged: the schedule asks
    that every round.
    """

    def __init__(self, every=1.0):
        super().__init__()
        self.every = every
        self._logged = -float('inf')   # when the last one was logged in full

    def refused(self, who, reason, now):
        """Log a refusal, or keep it if one was logged less than `every` seconds ago."""
        if now - self._logged < self.every:
            self.append(who)
            return
        self.flush()
        self._logged = now
        log.info('%s refused: %s', who, reason)

    def flush(self):
        """Log the count of the refusals not logged yet, if any."""
        if self:
            log.info('%d more connections refused', len(self))
            self.clear()

    def next_due(self):
        """When the count is due in the log, or None if nothing waits to be logged."""
        return self._logged + self.every if self else None

    def tick(self, now):
        """Log the count if it is due."""
        due = self.next_due()
        if due is not None and now >= due:
            self.flush()


class PasswordTries(dict):
    """Password tries, counted by address: `burst` at once, then `rate` a second.

    One connection may fail three times (chat/teacher.py); this bounds what an
    address gets from all its connections together, however many it opens. It
    maps each address key to its TokenBucket, and forgets an address once its
    burst would be whole again.
    """

    def __init__(self, rate=ATTEMPT_RATE, burst=ATTEMPT_BURST, everyone=ALL_ATTEMPTS):
        super().__init__()
        self.rate = rate
        self.burst = burst
        self._idle = Deadlines(burst / rate)        # when each bucket is whole again
        self._all = TokenBucket(everyone, everyone, -float('inf'))   # every address's
        self._warned = -float('inf')   # when the log last said the cap over all was hit

    def take(self, key, now):
        """Count a try from key at now; False if it has tried too often, or if every
        address together has: refuse the try."""
        bucket = self.get(key)
        if bucket is None:
            bucket = self[key] = TokenBucket(self.rate, self.burst, now)
        self._idle.add(key, now)
        if not bucket.take(now):
            return False
        if self._all.take(now):
            return True
        bucket.tokens += 1             # not compared: the address keeps its try
        if now - self._warned >= 60:
            self._warned = now
            log.warning('more than %g password tries a second over all addresses: the '
                        'rest wait their turn', self._all.rate)
        return False

    def next_due(self):
        """When an address may next be forgotten, or None."""
        return self._idle.next_due()

    def tick(self, now):
        """Forget the addresses that have not tried for as long as a burst takes to refill."""
        for key in self._idle.pop_due(now):
            del self[key]
