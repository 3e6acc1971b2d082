"""The rooms of the design: `Room`, and the `Hall` and `ChatRoom` users move between.

Every room is a CommandHandler, so the commands a user can type are its do_*
methods. The server makes one Hall and three ChatRooms (python, write, pm). A
session is in exactly one room at a time; ChatSession.enter moves it, calling
the old room's `remove` and the new room's `add`, which tell the others.
"""

import unicodedata

from .commands import CommandHandler, EndSession
from .session import encode

MAX_NICKNAME = 20
NICKNAME_RULE = ('A nickname is 1 to %d characters, all visible: no spaces, no ":", '
                 'no invisible or undecodable characters, and no "/" at the start.'
                 % MAX_NICKNAME)
LOG_IN_FIRST = 'Please log in first: /login <nickname>'


class Room(CommandHandler):
    """The sessions of one room: add, remove, broadcast, logout."""

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.sessions = set()

    def add(self, session):
        """A session enters the room."""
        self.sessions.add(session)

    def remove(self, session):
        """A session leaves the room."""
        self.sessions.discard(session)

    def broadcast(self, line, sender=None):
        """Send a line to every session in the room but its sender."""
        data = encode(line)          # once, however many receive it
        for session in self.sessions:
            if session is not sender:
                session.push_data(data)

    def do_logout(self, session, line):
        """logout: leave the chat server."""
        session.push('Goodbye!')
        raise EndSession


class Hall(Room):
    """The hall: where a session starts, logs in, and chooses a chat room."""

    OPEN = ('help', 'login', 'logout')
    """The commands that work before login."""

    def add(self, session):
        super().add(session)
        if session.client_name:
            session.push('You are in the hall. Rooms: /python, /write, /pm.')
        else:
            session.push('Welcome to the chat server!')
            session.push('Log in with: /login <nickname>   (/help lists the commands)')

    def command(self, session, cmd, arg):
        if not session.client_name and cmd not in self.OPEN:
            if hasattr(self, 'do_' + cmd):
                session.push(LOG_IN_FIRST)
            else:
                self.unknown(session, cmd, LOG_IN_FIRST)
            return
        super().command(session, cmd, arg)

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
        name = unicodedata.normalize('NFC', line)
        if not valid_nickname(name):
            session.push(NICKNAME_RULE)
            return
        if name.casefold() in self.server.users:
            session.push('The nickname %s is taken; please choose another.' % name)
            return
        session.client_name = name
        self.server.users[name.casefold()] = session
        session.push('Welcome, %s! You are in the hall.' % name)
        self.do_help(session, '')

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

    def add(self, session):
        self.broadcast('%s entered the room.' % session.client_name)
        super().add(session)
        session.push('You are in the room %s. Type to chat; /help lists the commands.'
                     % self.name)

    def remove(self, session):
        super().remove(session)
        self.broadcast('%s left the room.' % session.client_name)

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
        self.broadcast('%s: %s' % (session.client_name, line), sender=session)


def valid_nickname(name):
    """Whether name may be a nickname: see NICKNAME_RULE."""
    return (0 < len(name) <= MAX_NICKNAME
            and name.isprintable()
            and not any(char.isspace() or char in ':\ufffd' for char in name)
            and not name.startswith('/'))
