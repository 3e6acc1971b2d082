"""`Server`: the design's listening dispatcher, and what its users share.

The server listens, makes a ChatSession for each connection it accepts, and
owns what sessions share: `users` (every logged-in user's session, by
nickname), the hall and the three chat rooms. Everything lives in one socket
map, passed explicitly, so two servers can run in one process.

What a real network needs beside the design's job is held here and kept
elsewhere:
- the listening itself (batches, the spare descriptor, errors) is
  `Listener`'s (chat/listener.py), which Server is, as the web port is;
- the limits (docs/protocol.md) are one `Limits` value; the server checks
  those on connections (full, too many from one address, banned) in `admit`,
  and counts every connection, from either port, until `forget`;
- the time (the clock, the deadlines, what to send this round) is the
  `Schedule`'s (chat/schedule.py), which the channels and the loop hold;
- the teacher's controls (passwords, bans, mutes) are the `Classroom`'s
  (chat/teacher.py).
"""

import collections
import itertools
import logging
import time

from .channel import finish_connection, format_address
from .events import event, remade
from .framing import SHUTTING_DOWN
from .limits import Limits, Refusals, address_key
from .listener import Listener
from .loop import SocketMap
from .rooms import ChatRoom, Hall, MemberLists
from .resume import RESUME_SECONDS, Resumes
from .schedule import Schedule
from .store import Said
from .session import ChatSession
from .teacher import Classroom

log = logging.getLogger('chat')

FULL = 'Sorry, the server is full; please try again later.'
TOO_MANY = 'Sorry, too many connections from your address; please close one first.'
BANNED = 'Sorry, your address is banned from this server.'

RECENT = 1000
"""Lines said (private ones too) the server keeps in memory for /resume's missed lines:
with --db, the room's lines and the announcements come from the database instead."""


class Server(Listener):
    """Accept connections; own the users, the hall and the chat rooms."""

    channel_class = ChatSession

    def __init__(self, port, host, map=None, limits=Limits(), motd=(), clock=time.monotonic,
                 password=None, op_password=None, store=None, resume_seconds=RESUME_SECONDS):
        self.map = SocketMap() if map is None else map
        Listener.__init__(self, host, port, self.map)
        self.limits = limits
        self.motd = list(motd)         # lines shown after every login
        self.schedule = Schedule(limits, clock)
        self.classroom = Classroom(password, op_password, clock)
        self.refusals = Refusals()     # the log of refused connections
        self.schedule.add_timer(self.refusals)
        self.schedule.add_timer(self.classroom.tries)
        self.member_lists = MemberLists()   # rooms to show their members (chat/rooms.py)
        self.schedule.add_timer(self.member_lists)
        self.listeners = [self]        # and the web port's, with the web side (chat/web.py)
        self.web = None                # the web side, if it is on
        self.sessions = set()          # every open channel, logged in or not, web page or not
        self.users = {}                # nickname_key(nickname) -> session
        # The lines said, newest last: with a database, each also goes to it (store.Said).
        self.recent = (collections.deque(maxlen=RECENT) if store is None
                       else Said(RECENT, store))
        self.hall = Hall(self, 'hall')
        self.python = ChatRoom(self, 'python')
        self.write = ChatRoom(self, 'write')
        self.pm = ChatRoom(self, 'pm')
        self._addresses = {}           # address_key -> how many sessions it has open
        self.resumes = Resumes(resume_seconds, store)    # the resume codes (chat/resume.py)
        self.store = store             # the database (chat/store.py), or None: memory only
        self.found = None              # what the database held at start, for the log
        self.restored_seq = self.restore()      # the last seq a database kept, or 0
        self.next_seq = itertools.count(self.restored_seq + 1).__next__   # the next line's

    def restore(self):
        """Take up what the database kept, if there is one; return the last seq given."""
        if self.store is None:
            return 0
        kept = self.store.load()
        rooms = {room.name: room for room in (self.python, self.write, self.pm)}
        lines = [remade(*row) for row in kept.lines]
        self.recent.extend(lines)      # extend, not append: kept already
        for line in lines:
            if line.kind != 'announce' and line.fields['room'] in rooms:
                rooms[line.fields['room']].history.append(line)
        self.classroom.restore(kept.bans, kept.mutes, self.store)
        self.resumes.restore(kept.resumes, time.time())
        self.schedule.add_timer(self.store.writes)
        self.found = self.store.found(kept.count, len(self.classroom.bans),
                                      len(self.classroom.muted))
        return kept.seq

    def last_seq(self):
        """The seq of the last line said, or of the last one a database kept."""
        return self.recent[-1].fields['seq'] if self.recent else self.restored_seq

    def handle_accepted(self, sock, addr):
        """Make a session of a new connection, or refuse it if the limits say so."""
        self.admit(sock, addr, self.channel_class)

    def handle_out_of_descriptors(self, sock, addr):
        self.refuse(sock, addr, self.channel_class, FULL, 'out of file descriptors')

    def admit(self, sock, addr, channel_class, proxy=False):
        """Make channel_class(self, sock) of a connection, or refuse it if the limits say so.

        Every connection counts, to whichever port it came: a chat session,
        a browser's request for the page, a browser's chat session. A trusted
        proxy's (proxy true) is counted under the address it is for once its
        request says which (`rekey`), not under the proxy's.
        """
        key = address_key(addr[0])
        refusal = self.refusal(key, proxy)
        if refusal is not None:
            self.refuse(sock, addr, channel_class, *refusal)
            return
        self.enroll(channel_class(self, sock), key)

    def refusal(self, key, proxy=False):
        """Why a new connection from the address key is refused, (reply, reason for the
        log, HTTP status); or None: it may come in."""
        if self.classroom.banned(key):
            return BANNED, '%s is banned' % key, 403
        if len(self.sessions) >= self.limits.max_clients:
            return FULL, 'server full (%d clients)' % self.limits.max_clients, 503
        same = self._addresses.get(key, 0)
        if not proxy and self.limits.max_per_address and same >= self.limits.max_per_address:
            return TOO_MANY, 'too many connections from %s (%d)' % (key, same), 503
        return None

    def rekey(self, channel, key):
        """Count channel under the address key from now on (the one a trusted proxy says
        it is for); return why that address is refused, as `refusal` does, or None."""
        self.forget(channel)
        refusal = self.refusal(key)
        self.enroll(channel, key)
        log.info('%s is for %s (X-Forwarded-For)', channel.peer, key)
        if refusal is not None:
            self.refusals.refused(channel.peer, refusal[1], self.schedule.clock())
        return refusal

    def enroll(self, channel, key):
        """Count a new channel under its address key, until `forget`."""
        channel.address_key = key
        self._addresses[key] = self._addresses.get(key, 0) + 1
        self.sessions.add(channel)

    def refuse(self, sock, addr, channel_class, reply, reason, status=503):
        """Tell a newcomer why it cannot stay, close the connection, and log it (`Refusals`).

        status is the HTTP status a browser's request is refused with.
        """
        try:
            sock.send(channel_class.refusal(reply, status))
        except OSError:
            pass                       # gone already: nothing to tell
        finish_connection(sock)
        sock.close()
        self.refusals.refused(format_address(addr), reason, self.schedule.clock())

    def forget(self, channel):
        """Stop counting a channel that has closed (or handed its socket over)."""
        self.sessions.discard(channel)
        key = channel.address_key
        if key is not None:
            self._addresses[key] -= 1
            if not self._addresses[key]:
                del self._addresses[key]

    def shutdown(self):
        """Stop listening; tell every session, and close each once its output is sent."""
        for listener in self.listeners:
            listener.close()
        self.refusals.flush()
        for session in list(self.sessions):
            session.push(event('The server is shutting down. Goodbye!', 'shutdown', {}))
            session.close_when_done('server shutting down', SHUTTING_DOWN)
