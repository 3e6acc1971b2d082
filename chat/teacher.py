"""The teacher's controls: the class's state, and the operators' commands.

A teacher runs the server for a class and must keep strangers out and deal
with a student who spoils the lesson, without a restart (docs/classroom.md).
None of this is in the design; it sits beside the rooms, in two pieces:

1. `Classroom`, one object the server holds: the class's passwords and the
   check of a password given (constant time, a few tries a second from one
   address, three wrong ones a connection), the bans by address, and the
   muted nicknames.
2. `OperatorCommands`, a mixin every room takes, as the design's rooms take
   CommandHandler: /op, by which an operator is made, and the operators'
   do_* commands, marked @operator_only (chat/commands.py). /quiet is the
   chat room's own (chat/rooms.py), as only a chat room has a quiet mode.
"""

import hmac
import ipaddress
import logging
import time

from .channel import push_to_all
from .commands import operator_only, whole_number
from .events import notice, said
from .limits import PasswordTries, address_key
from .session import nickname_key

log = logging.getLogger('chat')

WRONG_PASSWORDS = 3
"""Wrong passwords a connection may give: the last of them closes it."""

MAX_BAN_MINUTES = 7 * 24 * 60
"""The longest ban in minutes, a week: for longer, a ban without minutes lasts until /unban."""


class Classroom:
    """The class's passwords, its bans and its mutes; and the check of a password given."""

    def __init__(self, password=None, op_password=None, clock=time.monotonic):
        self.password = password       # the class password, or None: anyone may log in
        self.op_password = op_password   # the operators' password, or None: no operators
        self.clock = clock
        self.tries = PasswordTries()   # password tries, by address
        self.bans = {}                 # address_key -> when the ban ends (None: never)
        self.muted = set()             # nickname_key of every muted nickname
        self.store = None              # the database that keeps them (chat/store.py), if any

    def restore(self, bans, mutes, store):
        """Take up the bans (address -> Unix time the ban ends, or None) and the mutes that
        store kept; keep every change there from now on."""
        now, wall = self.clock(), time.time()
        for key, until in bans.items():
            if until is None or until > wall:
                self.bans[key] = None if until is None else now + (until - wall)
            else:
                store.unban(key)
        self.muted.update(mutes)
        self.store = store

    def check_password(self, session, given, password):
        """Whether given is the password, compared in constant time; a wrong one counts.

        Each address gets a few tries a second (`PasswordTries`): a try past
        them is not compared, and is answered to try again in a moment. Each
        connection gets three wrong ones (the third closes it), and each wrong
        one slows its next line down a second. No password is ever logged.
        """
        if not self.may_try(session):
            return False
        if hmac.compare_digest(given.encode('utf-8'), password.encode('utf-8')):
            return True
        self.wrong(session, 'password', notice('Wrong password.', 'refused', reason='wrong'))
        return False

    def may_try(self, session):
        """Whether session's address may try a secret now (a password, a resume code): a
        few tries a second; past them, it is told to wait, and its next line waits."""
        if self.tries.take(session.address_key, self.clock()):
            return True
        session.push(notice('Too many password tries from your address: try again in a '
                            'moment.', 'refused', reason='busy'))
        session.slow_down(1.0)
        return False

    def wrong(self, session, what, reply):
        """Count a wrong secret (what: 'password', 'resume code'): reply (a `refused`
        notice), and hold the next line back a second; the third on one connection closes
        it, with the reply's notice said so."""
        session.wrong_passwords += 1
        reply.fields['left'] = max(WRONG_PASSWORDS - session.wrong_passwords, 0)   # tries
        log.info('%s%s gave a wrong %s (%d)', session.peer,
                 ' (%s)' % session.client_name if session.client_name else '', what,
                 session.wrong_passwords)
        if session.wrong_passwords >= WRONG_PASSWORDS:
            session.send_away(notice('%s, %d times: goodbye.' % (
                reply.rstrip('.'), WRONG_PASSWORDS), 'refused', **reply.fields),
                'a wrong %s, %d times' % (what, WRONG_PASSWORDS))
        else:
            session.push(reply)
            session.slow_down(1.0)

    def banned(self, key):
        """Whether the address key is banned now (a ban past its end is lifted here)."""
        if key not in self.bans:
            return False
        end = self.bans[key]
        if end is not None and end <= self.clock():
            self.unban(key)
            return False
        return True

    def ban(self, key, minutes):
        """Ban the address key for minutes (None: until /unban, or the server stops
        without a database)."""
        self.bans[key] = None if minutes is None else self.clock() + minutes * 60
        if self.store is not None:
            self.store.ban(key, None if minutes is None else time.time() + minutes * 60)

    def unban(self, key):
        """Lift the ban on the address key."""
        del self.bans[key]
        if self.store is not None:
            self.store.unban(key)

    def is_muted(self, name):
        """Whether the nickname name, in any case, is muted."""
        return nickname_key(name) in self.muted

    def mute(self, name):
        """Mute the nickname name, in any case, until unmute."""
        self.muted.add(nickname_key(name))
        if self.store is not None:
            self.store.mute(nickname_key(name))

    def unmute(self, name):
        """Let the nickname name be heard again."""
        self.muted.discard(nickname_key(name))
        if self.store is not None:
            self.store.unmute(nickname_key(name))

    def rename(self, old, new):
        """A user changed nickname: a mute goes with them."""
        if self.is_muted(old):
            self.unmute(old)
            self.mute(new)


MUTED = 'You are muted: nobody hears you until an operator lifts it.'


class OperatorCommands:
    """The teacher's commands, for every room: /op, and the operators' own; and what a mute
    does to the commands of the muted (`tell_if_muted`)."""

    def tell_if_muted(self, session):
        """Whether session is muted; if so, it is told that nobody hears it."""
        if self.server.classroom.is_muted(session.client_name):
            session.push(notice(MUTED, 'muted', nick=session.client_name))
            return True
        return False

    def do_op(self, session, line):
        """op <password>: become an operator, with the operators' password."""
        classroom = self.server.classroom
        if classroom.op_password is None:
            session.push('This server has no operator password: there are no operators.')
        elif session.operator:
            session.push('You are an operator already.')
        elif not line:
            self.usage(session, 'op')
        elif classroom.check_password(session, line, classroom.op_password):
            session.operator = True
            session.push(notice('You are an operator now: /help lists your commands.',
                                'operator', nick=session.client_name))
            log.info('%s is an operator', session.client_name)
            session.changed()
            session.tell_commands()
            session.room.members_changed()

    def find_target(self, session, name, verb):
        """The user an operator names for verb, or None once the operator is told why not."""
        target = self.server.users.get(nickname_key(name)) if name else None
        if not name:
            self.usage(session, verb)
        elif target is None:
            session.push('%s is not online.' % name)
        elif target.operator:
            session.push('You cannot %s an operator%s.'
                         % (verb, ', yourself included' if target is session else ''))
        else:
            return target
        return None

    @operator_only
    def do_kick(self, session, line):
        """kick <nickname> [reason]: disconnect a user, telling them why."""
        name, _, reason = line.partition(' ')
        target = self.find_target(session, name, 'kick')
        if target is None:
            return
        reason = reason.strip()
        target.send_away(notice('You were kicked by %s%s' % (
            session.client_name, ': ' + reason if reason else '.'), 'kick',
            nick=target.client_name, by=session.client_name),
            'kicked by %s' % session.client_name)
        session.push(notice('%s was kicked.' % target.client_name, 'kick',
                            nick=target.client_name))
        log.info('%s kicked %s%s', session.client_name, target.client_name,
                 ': ' + reason if reason else '')

    @operator_only
    def do_mute(self, session, line):
        """mute <nickname>: let nobody hear a user, whatever nickname they take next."""
        target = self.find_target(session, line, 'mute')
        if target is None:
            return
        self.server.classroom.mute(target.client_name)
        target.push(notice('You have been muted by %s.' % session.client_name, 'mute',
                           nick=target.client_name, by=session.client_name))
        session.push(notice('%s is muted.' % target.client_name, 'mute',
                            nick=target.client_name))
        log.info('%s muted %s', session.client_name, target.client_name)
        target.changed()
        target.room.members_changed()

    @operator_only
    def do_unmute(self, session, line):
        """unmute <nickname>: let a muted user be heard again."""
        if not line:
            self.usage(session, 'unmute')
            return
        classroom = self.server.classroom
        if not classroom.is_muted(line):
            session.push('%s is not muted.' % line)
            return
        classroom.unmute(line)
        target = self.server.users.get(nickname_key(line))
        if target is not None:
            target.push(notice('You have been unmuted by %s.' % session.client_name, 'unmute',
                               nick=target.client_name, by=session.client_name))
            target.changed()
            target.room.members_changed()
        session.push(notice('%s is unmuted.' % line, 'unmute',
                            nick=target.client_name if target else line))
        log.info('%s unmuted %s', session.client_name, line)

    @operator_only
    def do_mutes(self, session, line):
        """mutes: list the muted users."""
        users, muted = self.server.users, self.server.classroom.muted
        if not muted:
            session.push('Nobody is muted.')
            return
        # A mute is kept by nickname key: the name as typed where its user is online.
        names = sorted((users[key].client_name if key in users else key for key in muted),
                       key=str.casefold)
        session.push('Muted (%d): %s' % (len(names), ', '.join(names)))

    @operator_only
    def do_ban(self, session, line):
        """ban <nickname> [minutes]: disconnect everyone at a user's address, and keep it out."""
        name, _, minutes = line.partition(' ')
        minutes = minutes.strip()
        number = whole_number(minutes)
        if minutes and not (number is not None and 1 <= number <= MAX_BAN_MINUTES):
            session.push('Minutes are a whole number from 1 to %d (a week); none: until '
                         '/unban.' % MAX_BAN_MINUTES)
            return
        target = self.find_target(session, name, 'ban')
        if target is None:
            return
        key = target.address_key
        if any(user.operator and user.address_key == key for user in self.server.users.values()):
            session.push('An operator is connected from %s: it cannot be banned.' % key)
            return
        self.server.classroom.ban(key, number)
        by = session.client_name
        put_out = notice('You are banned from this server by %s.' % by, 'ban', by=by)
        for channel in [each for each in self.server.sessions if each.address_key == key]:
            channel.send_away(put_out, 'banned by %s' % by)
        session.push(notice('%s is banned (%s)%s.' % (
            key, target.client_name, ' for %s minutes' % minutes if minutes else ''), 'ban',
            nick=target.client_name))
        log.info('%s banned %s (%s)%s', by, key, target.client_name,
                 ' for %s minutes' % minutes if minutes else '')

    @operator_only
    def do_bans(self, session, line):
        """bans: list the banned addresses, and how long each ban lasts."""
        classroom = self.server.classroom
        bans = [key for key in sorted(classroom.bans) if classroom.banned(key)]
        if not bans:
            session.push('Nobody is banned.')
            return
        session.push('Banned (%d):' % len(bans))
        now = classroom.clock()
        for key in bans:
            end = classroom.bans[key]
            session.push('%s %s' % (key, 'until /unban' if end is None else
                                    'for %d more minutes' % -(-(end - now) // 60)))

    @operator_only
    def do_unban(self, session, line):
        """unban <address>: lift the ban on an address, as /bans lists it."""
        if not line:
            self.usage(session, 'unban')
            return
        key = ban_key(line)
        classroom = self.server.classroom
        if not classroom.banned(key):
            session.push('%s is not banned.' % line)
            return
        classroom.unban(key)
        session.push('%s may come back.' % key)
        log.info('%s unbanned %s', session.client_name, key)

    @operator_only
    def do_announce(self, session, line):
        """announce <text>: say text to everyone logged in, wherever they are."""
        if not line:
            self.usage(session, 'announce')
            return
        announced = said('announce', '[announcement] %s: %s' % (session.client_name, line),
                         {'from': session.client_name, 'body': line}, self.server.next_seq())
        self.server.recent.append(announced)
        push_to_all(list(self.server.users.values()), announced)
        log.info('%s announced: %s', session.client_name, line)


def ban_key(address):
    """The key /unban looks up for an address as typed: an IPv6 address means its /64."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return address                 # a key as /bans lists it (an IPv6 /64), or nothing
    return address_key(address)

