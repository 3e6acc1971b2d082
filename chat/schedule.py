"""`Schedule`: the server's time, and what each channel waits for.

asyncore's loop knows only sockets: a dispatcher is read when it is readable
and written when it is writable. A server on a real network also has to act
when nothing arrives: a client's paced lines are due, a login took too long,
an orderly close has lingered long enough. And it sends what a round queued
once, at the end of the round, not a line at a time. That bookkeeping is the
schedule's, beneath the server, as asyncore's own socket map is:

1. `clock`: what every deadline and the line rate count by (injectable, so a
   test moves time by hand).
2. `to_flush`: the channels that queued output this round; the loop sends
   each one's queue with one send() at the end of the round.
3. The deadlines (`Deadlines`, chat/limits.py), one queue for each kind of
   wait, each always the same delay away: a turn, the line rate's pause, the
   time to log in, a web request's head, the end of an orderly close.
4. `close_soon`: channels to close at the next tick, since a channel may not
   close itself in the middle of a room's broadcast.
5. `tick(now)`: the loop calls it between rounds to act on what is due, and
   it says when the next thing falls due.

Whatever it holds for a channel it lets go of in `forget`, which every close
goes through.
"""

import time

from .limits import LINE_RATE, Deadlines, Limits


class Schedule:
    """The clock, the channels to flush, the channels' deadlines, and what is due when."""

    def __init__(self, limits=Limits(), clock=time.monotonic):
        self.clock = clock
        self.to_flush = set()          # channels that queued output this round
        self._closing_soon = []
        self.turns = Deadlines(0)                          # a turn, for lines past a round's
        self.paced = Deadlines(1 / (limits.line_rate or LINE_RATE))   # the line rate's pause
        self.logins = Deadlines(limits.login_timeout)      # the end of the time to log in
        self.requests = Deadlines(limits.request_timeout)  # a web request's head (chat/web.py)
        self.lingering = Deadlines(limits.linger)          # the end of an orderly close
        self._deadlines = (self.turns, self.paced, self.logins, self.requests, self.lingering)
        self.timers = []               # more to tick (add_timer)
        self._waits = list(self._deadlines)   # the deadlines and the timers, asked every tick

    def add_timer(self, timer):
        """Tick timer with the deadlines: it is true while it waits for something, and has
        next_due() and tick(now)."""
        self.timers.append(timer)
        self._waits.append(timer)

    def close_soon(self, channel):
        """Have the next tick close channel (a channel may not close itself mid-broadcast)."""
        self._closing_soon.append(channel)

    def forget(self, channel):
        """Let go of everything held for a channel that has closed."""
        for deadlines in self._deadlines:
            deadlines.discard(channel)

    def tick(self, now):
        """Act on what is due: closes, waiting lines, late logins and requests, slow closes.

        Returns when the next deadline falls, or None if there is none.
        """
        while self._closing_soon:
            self._closing_soon.pop().handle_close()
        if not any(self._waits):
            return None                # the common case, every round: nothing is waiting
        for channel in self.turns.pop_due(now) + self.paced.pop_due(now):
            channel.take_turn()
        for deadlines in (self.logins, self.requests):
            for channel in deadlines.pop_due(now):
                channel.time_out(deadlines.delay)
        for channel in self.lingering.pop_due(now):
            channel.stop_lingering(self.lingering.delay)
        for timer in self.timers:
            timer.tick(now)
        if self._closing_soon:
            return now
        return min((when for when in (each.next_due() for each in self._waits)
                    if when is not None), default=None)
