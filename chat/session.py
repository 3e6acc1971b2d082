"""`ChatSession`: one connected client, the design's async_chat subclass.

The design's four methods are here: `__init__`, `enter`,
`collect_incoming_data` and `found_terminator`, which hands each line to the
session's room: `self.room.handle(self, line)`, as the design's does. Bytes
become text in `found_terminator`, only, and it adds two steps the design
did not have: the line is cleaned (chat/framing.py), and the channel decides
whether it is handled now (`admits_line`).

ChatSession sits on `Channel` (chat/channel.py), which sits on asynchat's
async_chat: the framing below the terminator, held lines, the output queue
and the closes are there, beneath the design, as asynchat's own machinery
is beneath async_chat's subclasses.

What this project adds to the design's flow is here too: `push` for every
reply, `logout`, which frees the nickname and the room, the login timeout,
and the log line that says why a session ended.
"""

import logging
import time
import unicodedata

from .channel import Channel
from .commands import EndSession
from .events import notice
from .framing import PUT_OUT, clean

log = logging.getLogger('chat')


def nickname_key(name):
    """What nicknames are compared by: NFKC and case folding, so that ALICE and the
    fullwidth ａｌｉｃｅ are both alice."""
    return unicodedata.normalize('NFKC', unicodedata.normalize('NFKC', name).casefold())


class ChatSession(Channel):
    """One client's connection: its nickname, its room, its lines in and out."""

    def __init__(self, server, sock):
        Channel.__init__(self, server, sock)
        # The design's terminator was the str '\r\n'; the framing ends every line with LF.
        self.set_terminator(b'\n')
        self.data = []
        self.client_name = ''
        self.room = None
        self.operator = False          # given by /op, with the operators' password
        self.wrong_passwords = 0
        self.resume_code = None        # given at login (chat/resume.py); told to the client
        self.resumable = None          # what the code stands for, kept by server.resumes
        log.info('%s connected', self.peer)
        if self.schedule.logins.delay:   # 0: no login timeout
            self.schedule.logins.add(self, self.schedule.clock())
        self.enter(server.hall)

    def enter(self, room):
        """Move the session to room: leave the room it is in, then join room."""
        if self.room is not None:
            self.room.remove(self)     # the design never left the old room
        self.room = room
        room.add(self)

    def collect_incoming_data(self, data):
        """Buffer a piece of the line being received."""
        self.data.append(data)

    def found_terminator(self):
        """Hand a complete line to the handler of the session's room."""
        data = b''.join(self.data)
        self.data = []
        line = clean(data.decode('utf-8', 'replace'))
        if not self.admits_line(data, line):
            return                     # closing, empty, too long or over the rate
        try:
            self.room.handle(self, line)
        except EndSession:
            # Our push only queues: the design's handle_close() here would drop the goodbye.
            self.server.resumes.forget(self)   # /logout: no coming back with its code
            self.logout()
            self.close_when_done('logout')

    def push(self, line, replay=False):
        """Send one line of text to the client, as its framing renders it (replay: a line
        that /history sends again)."""
        self.push_data(self.framing.render(line, replay))

    def tell(self, value):
        """Send an object that only a chat.events client reads (chat/events.py)."""
        if self.events:
            self.push_data(self.framing.message(value))

    def changed(self):
        """The session's nickname, room, operator status or mute changed: its resume code
        follows, and a chat.events client is told."""
        if self.client_name and self.room is not None:
            self.server.resumes.moved(self, self.server.last_seq())
        self.tell_status()

    def tell_status(self):
        """Tell a chat.events client its own state: nickname, room, operator, muted, and
        its resume code."""
        if not self.events or self.room is None:
            return
        status = {'type': 'status', 'nick': self.client_name or None,
                  'room': self.room.name, 'operator': self.operator,
                  'muted': bool(self.client_name)
                  and self.server.classroom.is_muted(self.client_name)}
        if self.client_name:
            status['resume'] = self.resume_code
        else:
            status['password'] = self.server.classroom.password is not None
        self.tell(status)

    def tell_commands(self):
        """Tell a chat.events client the commands of its room, as /help lists them to it."""
        if self.events and self.room is not None:
            self.tell({'type': 'commands', 'room': self.room.name,
                       'commands': self.room.command_list(self.operator)})

    def logout(self):
        """Leave the room and free the nickname. Safe to call more than once."""
        room, self.room = self.room, None
        if room is not None:
            room.remove(self)
        key = nickname_key(self.client_name)
        if self.client_name and self.server.users.get(key) is self:
            del self.server.users[key]

    def send_away(self, line, reason, why=PUT_OUT):
        """Say line and log out at once; close once it is sent (a kick, a ban)."""
        self.server.resumes.forget(self)    # put out: no coming back with its code
        self.push(line)
        self.logout()
        self.close_when_done(reason, why)

    def handle_input_end(self):
        """The client ended its sending side: log out at once; the replies still go out."""
        self.logout()
        Channel.handle_input_end(self)

    def time_out(self, seconds):
        """The time to log in is up: unless logged in, say so, and close once that is sent."""
        if self.client_name or self.closed:
            return
        self.push(notice('No login within %g second%s: timeout. Goodbye!'
                         % (seconds, '' if seconds == 1 else 's'), 'timeout'))
        self.close_when_done('login timeout')

    def handle_close(self):
        """The connection is over, however it ended: log out, close, and log why, once."""
        if self.closed:
            return
        self.server.resumes.ended(self, time.time())   # unless forgotten: it may resume
        self.logout()
        Channel.handle_close(self)
        log.info('%s closed%s: %s', self.peer,
                 ' (%s)' % self.client_name if self.client_name else '',
                 self.reason or 'closed by the client')
