"""The rooms of the design: `Room`, and the `Hall` and `ChatRoom` users move between.

Every room is a CommandHandler, so the commands a user can type are its do_*
methods. The server makes one Hall and three ChatRooms (python, write, pm). A
session is in exactly one room at a time; ChatSession.enter moves it, calling
the old room's `remove` and the new room's `add`, which tell the others.

The commands that work everywhere (/logout, /msg, /nick, /who) are methods of
Room, so the hall and every chat room inherit them; the ones for chatting
(/broadcast, /me, /online, /history, /back) are methods of ChatRoom.

The teacher's controls are do_* methods too: every room takes them from
OperatorCommands (chat/teacher.py), and ChatRoom has /quiet, since only a
chat room has a quiet mode. /resume comes the same way, from ResumeCommands
(chat/resume.py).
"""

import collections
import logging
import time
import unicodedata

from .channel import push_to_all
from .commands import CommandHandler, EndSession, operator_only
from . import events
from .events import Event, notice
from .resume import ResumeCommands
from .session import nickname_key
from .teacher import OperatorCommands

log = logging.getLogger('chat')

MAX_NICKNAME = 20
NICKNAME_RULE = ('A nickname is 1 to %d characters, all visible: no spaces, no ":", '
                 'no invisible or undecodable characters, and no "/" or "[" at the start; '
                 'Latin, Greek and Cyrillic letters are not mixed.' % MAX_NICKNAME)

IGNORABLE = [(0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
             (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
             (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
             (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
             (0xE0000, 0xE0FFF)]
"""Unicode's default-ignorable code points (DerivedCoreProperties.txt): a renderer shows
them as nothing, so `teacher` with one of them after it passes for `teacher`."""

INVISIBLE = frozenset('\u2800')
"""A symbol that shows as nothing and is not ignorable: the blank Braille pattern."""

MARKS_IN_A_ROW = 3
"""Combining marks one letter or digit may carry: more stack over the line (Zalgo text)."""

LOOKALIKE_SCRIPTS = frozenset(['LATIN', 'GREEK', 'CYRILLIC'])
"""Alphabets whose letters pass for one another (Latin e, Cyrillic е): a nickname that
mixes them, as teachеr does, could pass for another's."""
LOG_IN_FIRST = 'Please log in first: /login <nickname>'

HISTORY = 20
"""Chat lines each room keeps for /history."""

WHO_LIMIT = 500
"""Users /who lists at most, so its reply stays well under a client's output cap."""


class Room(OperatorCommands, ResumeCommands, CommandHandler):
    """The sessions of one room: add, remove, broadcast, logout."""

    quiet = False                      # only a chat room has a quiet mode

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.sessions = set()
        self.watching = set()          # the sessions here that read events: shown the members

    def add(self, session):
        """A session enters the room."""
        self.sessions.add(session)
        if session.events:
            self.watching.add(session)
        self.members_changed()
        session.changed()
        session.tell_commands()

    def remove(self, session):
        """A session leaves the room."""
        self.sessions.discard(session)
        self.watching.discard(session)
        self.members_changed()

    def broadcast(self, line, sender=None):
        """Send a line to every session in the room but its sender."""
        push_to_all(self.sessions, line, sender)   # rendered once, for all of them

    def members(self):
        """The sessions the room's member list shows."""
        return self.sessions

    def members_changed(self):
        """Someone came, went, or changed their nickname or marks: the room's chat.events
        clients are shown the members at the schedule's next tick, once however many
        changed this round (`MemberLists`)."""
        if self.watching:
            self.server.member_lists.add(self)

    def do_logout(self, session, line):
        """logout: leave the chat server."""
        session.push(notice('Goodbye!', 'logout', nick=session.client_name))
        raise EndSession

    def do_msg(self, session, line):
        """msg <nickname> <text>: send text to one user only, wherever they are."""
        name, _, text = line.partition(' ')
        text = text.strip()
        if not text:
            self.usage(session, 'msg')
            return
        receiver = self.server.users.get(nickname_key(name))
        if receiver is None:
            session.push('%s is not online.' % name)
            return
        if self.tell_if_muted(session):
            return
        said = events.said('private', '[private] %s: %s' % (session.client_name, text), {
            'from': session.client_name, 'to': receiver.client_name, 'body': text},
            self.server.next_seq())
        self.server.recent.append(said)
        receiver.push(said)
        session.push(events.event('To %s, privately: %s' % (receiver.client_name, text),
                                  'private', said.fields))

    def do_nick(self, session, line):
        """nick <nickname>: change your nickname."""
        if not line:
            self.usage(session, 'nick')
            return
        name = unicodedata.normalize('NFC', line)
        old = session.client_name
        if name == old:
            session.push('You are %s already.' % name)
            return
        if self.tell_if_muted(session) or not self.check_nickname(session, name):
            return                     # muted: a new nickname would be a way to be heard
        del self.server.users[nickname_key(old)]
        self.server.users[nickname_key(name)] = session
        self.server.classroom.rename(old, name)
        session.client_name = name
        log.info('%s is now known as %s', old, name)
        session.push(notice('You are now %s.' % name, 'rename', nick=old, new=name))
        self.broadcast(notice('%s is now known as %s.' % (old, name), 'rename',
                              nick=old, new=name), sender=session)
        session.changed()
        self.members_changed()

    def check_nickname(self, session, name):
        """Whether session may take the nickname name: True, or False once it is told why."""
        if not valid_nickname(name):
            session.push(NICKNAME_RULE)
            return False
        holder = self.server.users.get(nickname_key(name))
        if holder is not None and holder is not session:
            session.push('The nickname %s is taken; please choose another.' % name)
            return False
        return True

    def do_who(self, session, line):
        """who: list everyone logged in, and the room each is in."""
        users = self.server.users
        session.push('Logged in (%d):' % len(users))
        for key in sorted(users)[:WHO_LIMIT]:
            user = users[key]
            where = 'hall' if user.room is self.server.hall else user.room.name
            session.push('%s in %s%s' % (user.client_name, where,
                                         ' (operator)' if user.operator else ''))
        if len(users) > WHO_LIMIT:
            session.push('... and %d more.' % (len(users) - WHO_LIMIT))


class Hall(Room):
    """The hall: where a session starts, logs in, and chooses a chat room."""

    OPEN = ('help', 'login', 'logout', 'resume')
    """The commands that work before login."""

    def add(self, session):
        if session.client_name:
            session.push('You are in the hall. Rooms: /python, /write, /pm.')
        elif self.server.classroom.password is not None:
            session.push('Welcome to the chat server!')
            session.push('This class has a password. Log in with: '
                         '/login <nickname> <password>')
        else:
            session.push('Welcome to the chat server!')
            session.push('Log in with: /login <nickname>   (/help lists the commands)')
        super().add(session)           # then the status: a page logs in once it has it

    def command(self, session, cmd, arg):
        if not session.client_name and cmd not in self.OPEN:
            if hasattr(self, 'do_' + cmd):
                session.push(LOG_IN_FIRST)
            else:
                self.unknown(session, cmd, LOG_IN_FIRST)
            return
        super().command(session, cmd, arg)

    def broadcast(self, line, sender=None):
        """Send a line to every logged-in session in the hall but its sender."""
        push_to_all(self.members(), line, sender)

    def members(self):
        """The logged-in sessions in the hall: one who has not logged in is nobody yet."""
        return [session for session in self.sessions if session.client_name]

    def text(self, session, line):
        if not session.client_name:
            session.push(LOG_IN_FIRST)
        else:
            session.push('Nobody hears you in the hall. Enter a room to chat: '
                         '/python, /write or /pm.')

    def do_login(self, session, line):
        """login <nickname>: log in under a nickname."""
        if session.client_name:
            session.push('You are already logged in as %s.' % session.client_name)
            return
        if not line:
            self.usage(session, 'login')
            return
        classroom = self.server.classroom
        if classroom.password is not None:
            line, _, password = line.partition(' ')
            if not password.strip():
                session.push('This class has a password: /login <nickname> <password>')
                return
            if not classroom.check_password(session, password.strip(), classroom.password):
                return
        name = unicodedata.normalize('NFC', line)
        if not self.check_nickname(session, name):
            return
        self.log_in(session, name)
        session.push(notice('Welcome, %s! You are in the hall.' % name, 'login', nick=name))
        for motd_line in self.server.motd:
            session.push(motd_line)
        if session.events:             # the commands, as objects, take /help's place
            session.changed()
            session.tell_commands()
        else:
            self.do_help(session, '')
        self.members_changed()

    def log_in(self, session, name, operator=False):
        """session is name from now on: a user, with a resume code."""
        session.client_name = name
        session.operator = operator
        self.server.users[nickname_key(name)] = session
        log.info('%s logged in as %s%s', session.peer, name, ' (operator)' if operator else '')
        session.resume_code = self.server.resumes.issue(session, self.server.last_seq())

    def do_rooms(self, session, line):
        """rooms: list the chat rooms, with how many people are in each."""
        rooms = (self.server.python, self.server.write, self.server.pm)
        session.push('Rooms: ' + ', '.join(
            '/%s (%d)' % (room.name, len(room.sessions)) for room in rooms))

    def do_python(self, session, line):
        """python: enter the chat room python."""
        session.enter(self.server.python)

    def do_write(self, session, line):
        """write: enter the chat room write."""
        session.enter(self.server.write)

    def do_pm(self, session, line):
        """pm: enter the chat room pm."""
        # The design's do_pm(self) took neither the session nor the line.
        session.enter(self.server.pm)


class ChatRoom(Room):
    """A chat room: chat with the others in it, see who is here, go back to the hall."""

    def __init__(self, server, name):
        super().__init__(server, name)
        self.history = collections.deque(maxlen=HISTORY)   # the last lines said here
        self.recent = server.recent    # and the server's, of every room, for /resume
        self.quiet = False             # /quiet: questions go to the operators only

    def add(self, session):
        self.broadcast(notice('%s entered the room.' % session.client_name, 'enter',
                              nick=session.client_name))
        super().add(session)
        session.push('You are in the room %s. Type to chat; /help lists the commands.'
                     % self.name)
        if self.quiet:
            session.push(self.quiet_notice())

    def remove(self, session):
        super().remove(session)
        self.broadcast(notice('%s left the room.' % session.client_name, 'leave',
                              nick=session.client_name))
        if self.quiet and not any(each.operator for each in self.sessions):
            self.quiet = False         # no operator left to hear the questions
            self.broadcast(self.quiet_notice())
            self.members_changed()

    def quiet_notice(self):
        """The line that says whether the room is in quiet mode."""
        return notice('Quiet mode is %s in %s%s' % (
            'on' if self.quiet else 'off', self.name,
            ': what you say goes to the operators only.' if self.quiet else '.'),
            'quiet', on=self.quiet, room=self.name)

    def do_online(self, session, line):
        """online: list everyone in this room."""
        names = sorted((s.client_name for s in self.sessions), key=str.casefold)
        session.push('Online in %s (%d): %s' % (self.name, len(names), ', '.join(names)))

    def do_back(self, session, line):
        """back: go back to the hall."""
        session.enter(self.server.hall)

    def do_broadcast(self, session, line):
        """broadcast <text>: send text to everyone else in the room (plain text does the same)."""
        if not line:
            self.usage(session, 'broadcast')
            return
        self.say(session, 'say', '%s: %s' % (session.client_name, line), line)

    def do_me(self, session, line):
        """me <action>: tell the others in the room what you do, as * NICK ACTION."""
        if not line:
            self.usage(session, 'me')
            return
        self.say(session, 'me', '* %s %s' % (session.client_name, line), line)

    @operator_only
    def do_quiet(self, session, line):
        """quiet: turn quiet mode on or off: questions go to the operators only."""
        self.quiet = not self.quiet
        self.broadcast(self.quiet_notice())
        self.members_changed()
        log.info('%s turned quiet mode %s in %s', session.client_name,
                 'on' if self.quiet else 'off', self.name)

    def do_history(self, session, line):
        """history: show the last lines said in this room, oldest first."""
        if not self.history:
            session.push('Nothing has been said in %s yet.' % self.name)
            return
        session.push('The last %d lines said in %s:' % (len(self.history), self.name))
        for said in self.history:
            session.push(said, replay=True)

    def say(self, sender, kind, text, body):
        """Send a chat line (kind 'say' or 'me') to everyone else in the room, and keep it
        for /history: text as everyone reads it, body as sender typed it.

        A muted sender is told nobody hears it. In quiet mode, a line that is not
        an operator's goes to the room's operators only, and is not kept.
        """
        if self.server.classroom.muted and self.tell_if_muted(sender):
            return
        # events.said, written out: this is every chat line's way.
        line = Event(text)
        line.kind = kind
        line.fields = {'from': sender.client_name, 'body': body, 'room': self.name,
                       'seq': self.server.next_seq(), 'time': time.time()}
        if self.quiet and not sender.operator:
            operators = [session for session in self.sessions if session.operator]
            push_to_all(operators, line, sender)
            return
        self.history.append(line)
        self.recent.append(line)
        self.broadcast(line, sender)


class MemberLists(set):
    """The rooms whose members changed since the schedule's last tick (a timer of its).

    Each is shown to its members once at the next tick: a class that logs
    in at the same moment costs each room one list a round, not one a login.
    """

    def next_due(self):
        """At once, while a room waits to be shown."""
        return 0 if self else None

    def tick(self, now):
        while self:
            show_members(self.pop())


def show_members(room):
    """Tell a room's chat.events clients who is in it: each member's nickname and whether
    they are an operator, and to an operator whether they are muted."""
    watching = [session for session in room.watching if session.client_name]
    if not watching:
        return
    members = sorted(room.members(), key=lambda member: member.client_name.casefold())
    is_muted = room.server.classroom.is_muted
    views = {}                         # operator or not -> the frame, made once for each
    for session in watching:
        view = views.get(session.operator)
        if view is None:
            listed = [{'nick': member.client_name, 'operator': member.operator}
                      for member in members]
            if session.operator:
                for entry in listed:
                    entry['muted'] = is_muted(entry['nick'])
            view = views[session.operator] = session.framing.message(
                {'type': 'room', 'name': room.name, 'quiet': room.quiet, 'members': listed})
        session.push_data(view)


def valid_nickname(name):
    """Whether name may be a nickname: see NICKNAME_RULE."""
    return (0 < len(name) <= MAX_NICKNAME
            and name.isprintable()
            and not any(char.isspace() or char in ':\ufffd' or char in INVISIBLE
                        or ignorable(char) for char in name)
            and marks_on_letters(name)
            and not name.startswith(('/', '['))   # [private], [announcement] are the server's
            and len(scripts(name) & LOOKALIKE_SCRIPTS) <= 1)


def ignorable(char):
    """Whether char is a default-ignorable code point (IGNORABLE): shown as nothing."""
    code = ord(char)
    return any(first <= code <= last for first, last in IGNORABLE)


def marks_on_letters(name):
    """Whether every combining mark in name follows a letter or a digit, MARKS_IN_A_ROW at
    most on each: an accent on nothing, or on a symbol, hides or changes what it follows."""
    run = None                         # marks on the last letter or digit; None: no base
    for char in name:
        if unicodedata.category(char).startswith('M'):
            if run is None or run == MARKS_IN_A_ROW:
                return False
            run += 1
        else:
            run = 0 if char.isalnum() else None
    return True


def scripts(name):
    """The alphabets of name's letters, as their Unicode names say (LATIN, CYRILLIC, ...)."""
    return {word for char in name if char.isalpha()
            for word in unicodedata.name(char, '').split() if word in LOOKALIKE_SCRIPTS}

