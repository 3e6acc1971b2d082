"""Resuming: a session that dropped comes back as it was (`/resume CODE [SEQ]`).

A school's Wi-Fi drops, a laptop sleeps, the server restarts: the student
must not lose the lesson. Every logged-in session has a resume code, a
bearer secret (128 random bits from `secrets`, URL-safe) that stands for it;
a client keeps it, and after a drop `/resume CODE SEQ` in the hall logs it
in again as that session was (nickname, room, operator), with the lines
said since the last seq it showed.

`Resumes` keeps, for each code, only its SHA-256 and what it stands for (a
`Resumable`). A code is good once, and for `seconds` after its session
ended without /logout, kick or ban; a new one is issued with each login and
each resume. With --db the codes are kept in the database too
(chat/store.py), so a restart costs nobody their place. `ResumeCommands` is
the command, a mixin every room takes, as it takes the teacher's
(chat/teacher.py).
"""

import collections
import hashlib
import hmac
import secrets
import time

from .commands import whole_number
from .events import notice
from .session import nickname_key

RESUME_SECONDS = 120
"""How long after its session ended a code still resumes it (--resume-seconds)."""

MISSED = 500
"""Lines a resumed session is sent at most, of those said while it was away."""


def digest(code):
    """The SHA-256 of a code: what is kept of it."""
    return hashlib.sha256(code.encode('utf-8', 'replace')).digest()


class Resumable:
    """What a code stands for: a nickname, a room, operator or not, the last seq said when
    it entered that room (nothing before is missed), and when the session ended (None while
    it is open, `session` then being it). `number` counts the codes issued: the database
    keeps them by it."""

    __slots__ = ('number', 'hash', 'nick', 'room', 'operator', 'entered', 'ended', 'session')

    def __init__(self, number, hash, nick, room, operator, entered, ended=None, session=None):
        self.number = number
        self.hash = hash
        self.nick = nick
        self.room = room
        self.operator = operator
        self.entered = entered
        self.ended = ended
        self.session = session


class Resumes(dict):
    """The resume codes, by their hash: issued, ended, taken once."""

    def __init__(self, seconds=RESUME_SECONDS, store=None):
        super().__init__()
        self.seconds = seconds
        self.store = store             # a Store (chat/store.py), or None: memory only
        self.issued = 0                # the number of the last code issued
        self._ending = collections.deque()   # (ended, hash) of the codes ended, oldest first

    def restore(self, rows, now):
        """Take up the codes a database kept: (number, hash, nick, room, operator, entered,
        ended) rows; a session still open when the server stopped (killed, say) ended now."""
        for number, hash, nick, room, operator, entered, ended in sorted(
                rows, key=lambda row: now if row[6] is None else row[6]):
            self[hash] = Resumable(number, hash, nick, room, bool(operator), entered,
                                   now if ended is None else ended)
            self.issued = max(self.issued, number)
            self._ending.append((self[hash].ended, hash))
            if ended is None:
                self._keep(self[hash])
        self.expire(now)

    def issue(self, session, last_seq):
        """Give session a new code (its old one, if any, is forgotten); return the code.
        last_seq: the seq of the last line said so far."""
        self.forget(session)
        code = secrets.token_urlsafe(16)
        self.issued += 1
        resumable = Resumable(self.issued, digest(code), session.client_name,
                              session.room.name, session.operator, last_seq, session=session)
        self[resumable.hash] = session.resumable = resumable
        self._keep(resumable)
        return code

    def moved(self, session, last_seq):
        """The session's nickname, room or operator status changed: its code follows.
        last_seq: the seq of the last line said so far."""
        resumable = getattr(session, 'resumable', None)
        if resumable is not None and session.room is not None:
            if resumable.room != session.room.name:
                resumable.entered = last_seq
            resumable.nick = session.client_name
            resumable.room = session.room.name
            resumable.operator = session.operator
            self._keep(resumable)

    def ended(self, session, now):
        """The session's connection ended (not by /logout, kick or ban): its code holds for
        `seconds` from now."""
        resumable = getattr(session, 'resumable', None)
        if resumable is not None:
            resumable.ended = now
            resumable.session = None
            self._keep(resumable)
            self._ending.append((now, resumable.hash))
        self.expire(now)

    def forget(self, session):
        """The session logged out, was put out, or resumed elsewhere: its code is void."""
        resumable = getattr(session, 'resumable', None)
        session.resumable = None
        if resumable is not None and self.pop(resumable.hash, None) is not None:
            self._drop(resumable)

    def find(self, code, now):
        """The Resumable a code stands for; or None if the code is wrong, used, or past
        its time."""
        given = digest(code)
        resumable = self.get(given)
        if resumable is None or not hmac.compare_digest(resumable.hash, given):
            return None
        if resumable.ended is not None and now - resumable.ended > self.seconds:
            self.pop(given)
            self._drop(resumable)
            return None
        return resumable

    def take(self, resumable):
        """Use a code: it is void from now on, and its session (if it is still open) no
        longer has one."""
        if resumable.session is not None:
            resumable.session.resumable = None
        self.pop(resumable.hash, None)
        self._drop(resumable)

    def expire(self, now):
        """Forget the codes past their time, oldest first: each session's end expires
        those before it, so the codes kept are those of the last `seconds` at most."""
        ending = self._ending
        while ending and now - ending[0][0] > self.seconds:
            hash = ending.popleft()[1]
            resumable = self.get(hash)      # taken, forgotten or ended again since: kept
            if resumable is not None and resumable.ended is not None \
                    and now - resumable.ended > self.seconds:
                self.pop(hash)
                self._drop(resumable)

    def _keep(self, resumable):
        if self.store is not None and resumable.hash in self:   # not a code used since
            self.store.keep_code(resumable)

    def _drop(self, resumable):
        if self.store is not None:
            self.store.drop_code(resumable.number)


class ResumeCommands:
    """/resume, for every room: a logged-in user is told their code; before login, in the
    hall, a code brings its session back."""

    def do_resume(self, session, line):
        """resume [code] [seq]: your code; before login, come back as it was with it."""
        code, _, since = line.partition(' ')
        if session.client_name:
            if code:
                session.push('You are logged in already, as %s.' % session.client_name)
            else:
                session.push('Your resume code: %s. After a lost connection, /resume %s logs '
                             'you in again as you are now, for %d seconds.' % (
                                 session.resume_code, session.resume_code,
                                 self.server.resumes.seconds))
        elif not code:
            self.usage(session, 'resume')
        else:
            self.resume(session, code, whole_number(since.strip()))

    def resume(self, session, code, since):
        """Log session in as the session code stands for, if it may; then send it what it
        missed since seq since (None: nothing), and put it in its room."""
        server = self.server
        classroom, resumes = server.classroom, server.resumes
        if not classroom.may_try(session):
            return
        resumable = resumes.find(code, time.time())
        if resumable is None:          # a code counts as a password does
            classroom.wrong(session, 'resume code', notice(
                'That resume code is unknown or expired.', 'refused', reason='unknown'))
            return
        holder = server.users.get(nickname_key(resumable.nick))
        if holder is not None and holder is not resumable.session:
            session.push(notice('The nickname %s is taken now: log in with another, /login '
                                '<nickname>.' % resumable.nick, 'refused', reason='taken',
                                nick=resumable.nick))
            return
        resumes.take(resumable)        # good once
        if holder is not None:         # its old connection, not known to be gone yet
            holder.logout()
            holder.close_when_done('resumed on another connection')
        server.hall.log_in(session, resumable.nick, resumable.operator)
        session.push(notice('Welcome back, %s!' % resumable.nick, 'login',
                            nick=resumable.nick))
        if since is not None:          # nothing said before it entered its room is missed
            self.send_missed(session, resumable.room, max(since, resumable.entered))
        rooms = {room.name: room for room in (server.python, server.write, server.pm)}
        if resumable.room in rooms:
            session.enter(rooms[resumable.room])
        else:
            session.push('You are in the hall. Rooms: /python, /write, /pm.')
            session.changed()
            session.tell_commands()
            server.hall.members_changed()

    def send_missed(self, session, room, since):
        """Send a resumed session what it may have missed: each line said after seq since
        in its room, each announcement, each private message to it; in order, once, the
        last MISSED of them at most."""
        me = nickname_key(session.client_name)
        missed = {line.fields['seq']: line for line in self.server.recent
                  if line.fields['seq'] > since and (
                      line.kind == 'announce' or line.fields.get('room') == room
                      or (line.kind == 'private' and nickname_key(line.fields['to']) == me))}
        if self.server.store is not None:       # what memory no longer holds
            for line in self.server.store.said_since(since, room, MISSED):
                missed.setdefault(line.fields['seq'], line)
        for seq in sorted(missed)[-MISSED:]:
            session.push(missed[seq])
