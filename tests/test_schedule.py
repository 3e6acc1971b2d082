"""Schedule: the clock, the deadlines channels wait for, and what each tick does.

Pure: a Schedule on a clock the test moves, and channels that only record
what the schedule asks of them. No sockets, no sleeps.
"""

from chat.limits import Limits, Refusals
from chat.schedule import Schedule


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Channel:
    """What the schedule asks of a channel, written down."""

    def __init__(self):
        self.calls = []

    def take_turn(self):
        self.calls.append('take_turn')

    def time_out(self, seconds):
        self.calls.append(('time_out', seconds))

    def stop_lingering(self, seconds):
        self.calls.append(('stop_lingering', seconds))

    def handle_close(self):
        self.calls.append('handle_close')


def schedule(**limits):
    clock = Clock()
    return Schedule(Limits(**limits), clock), clock


def test_nothing_waiting_means_no_deadline():
    plan, clock = schedule()
    assert plan.tick(clock.now) is None


def test_close_soon_closes_at_the_next_tick_not_before():
    plan, clock = schedule()
    channel = Channel()
    plan.close_soon(channel)
    assert channel.calls == []
    plan.tick(clock.now)
    assert channel.calls == ['handle_close']
    plan.tick(clock.now)
    assert channel.calls == ['handle_close']          # once


def test_a_turn_is_due_at_once_and_paced_lines_at_the_line_rate():
    plan, clock = schedule(line_rate=4)
    turn, paced = Channel(), Channel()
    plan.turns.add(turn, clock.now)
    plan.paced.add(paced, clock.now)
    assert plan.tick(clock.now) == clock.now + 0.25    # the paced one, a quarter second away
    assert turn.calls == ['take_turn'] and paced.calls == []
    clock.now += 0.25
    assert plan.tick(clock.now) is None
    assert paced.calls == ['take_turn']


def test_the_login_and_request_deadlines_call_time_out_with_their_delay():
    plan, clock = schedule(login_timeout=30, request_timeout=10)
    session, request = Channel(), Channel()
    plan.logins.add(session, clock.now)
    plan.requests.add(request, clock.now)
    assert plan.tick(clock.now) == clock.now + 10
    clock.now += 10
    assert plan.tick(clock.now) == clock.now + 20
    assert request.calls == [('time_out', 10)] and session.calls == []
    clock.now += 20
    plan.tick(clock.now)
    assert session.calls == [('time_out', 30)]


def test_an_orderly_close_that_lingers_past_its_limit_is_stopped():
    plan, clock = schedule(linger=5)
    channel = Channel()
    plan.lingering.add(channel, clock.now)
    clock.now += 4.9
    plan.tick(clock.now)
    assert channel.calls == []
    clock.now += 0.1
    plan.tick(clock.now)
    assert channel.calls == [('stop_lingering', 5)]


def test_forget_drops_a_channel_from_every_queue():
    plan, clock = schedule()
    channel = Channel()
    for deadlines in (plan.turns, plan.paced, plan.logins, plan.requests, plan.lingering):
        deadlines.add(channel, clock.now)
    plan.forget(channel)
    clock.now += 1000
    assert plan.tick(clock.now) is None
    assert channel.calls == []


def test_a_close_asked_for_during_a_tick_makes_the_tick_due_again_at_once():
    plan, clock = schedule()

    class Closing(Channel):
        def take_turn(self):
            super().take_turn()
            plan.close_soon(self)

    channel = Closing()
    plan.turns.add(channel, clock.now)
    assert plan.tick(clock.now) == clock.now
    plan.tick(clock.now)
    assert channel.calls == ['take_turn', 'handle_close']


def test_timers_are_ticked_and_their_next_due_counts(caplog):
    plan, clock = schedule()
    refusals = Refusals(every=1.0)
    plan.timers.append(refusals)
    caplog.set_level('INFO', logger='chat')
    refusals.refused('a', 'full', clock.now)
    refusals.refused('b', 'full', clock.now)           # counted, not logged yet
    assert plan.tick(clock.now) == clock.now + 1.0
    clock.now += 1.0
    assert plan.tick(clock.now) is None
    assert '1 more connections refused' in caplog.text

