"""The yardstick: the chat protocol on asyncio, for the benchmarks to measure chat against.

`python bench/yardstick.py --port N` serves the commands a benchmark uses with
the real server's exact replies (docs/protocol.md): the welcome, /login,
/python /write /pm, chat, /online, /back, /logout, /help, unknown commands and
the `left` notices. It is asyncio written the ordinary way, so that "as fast
as asyncio" means something:

1. One `asyncio.Protocol` per connection; `data_received` splits lines, and
   every reply goes out through `transport.write`, which sends at once when
   the socket can take it and buffers the rest.
2. A broadcast encodes its line once and writes the same bytes to each member.
3. TCP_NODELAY on every connection, a SOMAXCONN backlog and the open-file soft
   limit raised to the hard limit, as the real server does.

Two options make it the fair peer of chat's own output path:

- `--batch`: what a session is sent is gathered in a list, and one callback per
  loop iteration (`loop.call_soon`) writes each session's list with one join
  and one `transport.write`, as chat's loop sends each session's queue with one
  send() per round. Without it, every line is a `transport.write`, as most
  asyncio programs are written.
- `--uvloop`: run on uvloop, libuv's event loop for asyncio (where it installs:
  `pip install uvloop`, in the `bench` extra).

What it leaves out, and the real server does: the telnet layer (IAC, CR NUL,
bare CR, BS/DEL), the line and output limits, the client cap and the login
timeout. A line ends in LF or CR LF here; control characters are still removed,
so chat text costs about the same work.
"""

import argparse
import asyncio
import re
import signal
import socket
import unicodedata

ROOMS = ('python', 'write', 'pm')
LOG_IN_FIRST = 'Please log in first: /login <nickname>'
NICKNAME_RULE = ('A nickname is 1 to 20 characters, all visible: no spaces, no ":", '
                 'no invisible or undecodable characters, and no "/" at the start.')
HALL_HELP = [
    ('help', 'list the commands of this room.'),
    ('login <nickname>', 'log in under a nickname.'),
    ('logout', 'leave the chat server.'),
    ('pm', 'enter the chat room pm.'),
    ('python', 'enter the chat room python.'),
    ('write', 'enter the chat room write.'),
]
ROOM_HELP = [
    ('back', 'go back to the hall.'),
    ('broadcast <text>', 'send text to everyone else in the room (plain text does the same).'),
    ('help', 'list the commands of this room.'),
    ('logout', 'leave the chat server.'),
    ('online', 'list everyone in this room.'),
]

# C0, DEL, C1 and the bidirectional controls, as the real server removes them.
_CONTROL = re.compile('[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]')


def encode(line):
    """Return a line of text as the bytes a client receives: UTF-8 ending in CR LF."""
    return (line + '\r\n').encode('utf-8')


def help_text(entries):
    """Return /help's reply, laid out as the real server lays it out."""
    width = max(len(usage) for usage, _ in entries) + 1
    return ['Commands here:'] + ['/%-*s %s' % (width, usage, text) for usage, text in entries]


class Chat:
    """What the sessions share: nicknames in use and the members of each room."""

    def __init__(self, batch=False):
        self.users = {}                             # nickname.casefold() -> session
        self.rooms = {name: set() for name in ROOMS}
        self.batch = batch
        self._dirty = []                            # sessions with lines gathered

    def write(self, session, data):
        """Send data to a session: at once, or gathered until the end of the iteration."""
        if not self.batch:
            session.transport.write(data)
            return
        if not session.out:
            if not self._dirty:
                asyncio.get_running_loop().call_soon(self.flush)
            self._dirty.append(session)
        session.out.append(data)

    def flush(self):
        """Write each session's gathered lines with one transport.write (--batch)."""
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            if not session.transport.is_closing():
                session.transport.write(b''.join(session.out))
            session.out.clear()

    def broadcast(self, room, line, sender=None):
        """Send a line to every member of room but its sender, encoded once.

        A member whose connection is lost but whose connection_lost has not
        run yet is skipped: asyncio would log each write to it.
        """
        data = encode(line)
        for session in self.rooms[room]:
            if session is not sender and not session.transport.is_closing():
                self.write(session, data)


class Session(asyncio.Protocol):
    """One client: bytes in, lines to the command of its room, replies out."""

    def __init__(self, chat):
        self.chat = chat
        self.transport = None
        self.nick = ''
        self.room = None                            # None: the hall
        self.out = []                               # lines gathered (--batch)
        self._pending = b''                         # an unfinished line

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info('socket').setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send('Welcome to the chat server!',
                  'Log in with: /login <nickname>   (/help lists the commands)')

    def data_received(self, data):
        *lines, self._pending = (self._pending + data).split(b'\n')
        for raw in lines:
            if self.transport.is_closing():
                return                              # after /logout the rest is ignored
            line = _CONTROL.sub('', raw.decode('utf-8', 'replace').replace('\t', ' ')).strip()
            if line:
                self.handle(line)

    def connection_lost(self, exc):
        self.logout()

    def send(self, *lines):
        """Write reply lines to this client, in one write."""
        self.chat.write(self, b''.join(encode(line) for line in lines))

    def handle(self, line):
        """Run one line: a command of the room the session is in, or chat."""
        if not line.startswith('/'):
            if self.room is not None:
                self.chat.broadcast(self.room, '%s: %s' % (self.nick, line), sender=self)
            elif self.nick:
                self.send('Nobody hears you in the hall. Enter a room to chat: '
                          '/python, /write or /pm.')
            else:
                self.send(LOG_IN_FIRST)
            return
        cmd, _, arg = line[1:].partition(' ')
        arg = arg.strip()
        if cmd == 'logout':
            self.send('Goodbye!')
            self.logout()                           # the nickname is free at once
            self.chat.flush()                       # the goodbye before the close
            self.transport.close()                  # once the goodbye is written
        elif cmd == 'help':
            self.send(*help_text(HALL_HELP if self.room is None else ROOM_HELP))
        elif self.room is None:
            self.hall_command(cmd, arg)
        elif cmd == 'broadcast' and arg:
            self.chat.broadcast(self.room, '%s: %s' % (self.nick, arg), sender=self)
        elif cmd == 'broadcast':
            self.send('Usage: /broadcast <text>')
        elif cmd == 'online':
            names = sorted((s.nick for s in self.chat.rooms[self.room]), key=str.casefold)
            self.send('Online in %s (%d): %s' % (self.room, len(names), ', '.join(names)))
        elif cmd == 'back':
            self.leave()
            self.send('You are in the hall. Rooms: /python, /write, /pm.')
        else:
            self.send('Unknown command: /%s (type /help for the commands)' % cmd)

    def hall_command(self, cmd, arg):
        """Run a command of the hall: /login and the rooms."""
        if cmd == 'login':
            self.login(arg)
        elif cmd not in ROOMS:
            hint = 'type /help for the commands' if self.nick else LOG_IN_FIRST
            self.send('Unknown command: /%s (%s)' % (cmd, hint))
        elif not self.nick:
            self.send(LOG_IN_FIRST)
        else:
            self.chat.broadcast(cmd, '%s entered the room.' % self.nick)
            self.chat.rooms[cmd].add(self)
            self.room = cmd
            self.send('You are in the room %s. Type to chat; /help lists the commands.' % cmd)

    def login(self, nick):
        """Log in under nick, unless it breaks the rule or is taken."""
        nick = unicodedata.normalize('NFC', nick)
        if self.nick:
            self.send('You are already logged in as %s.' % self.nick)
        elif not nick:
            self.send('Usage: /login <nickname>')
        elif (len(nick) > 20 or not nick.isprintable() or nick.startswith('/')
              or any(char.isspace() or char in ':\ufffd' for char in nick)):
            self.send(NICKNAME_RULE)
        elif nick.casefold() in self.chat.users:
            self.send('The nickname %s is taken; please choose another.' % nick)
        else:
            self.nick = nick
            self.chat.users[nick.casefold()] = self
            self.send('Welcome, %s! You are in the hall.' % nick, *help_text(HALL_HELP))

    def leave(self):
        """Leave the room the session is in, if any, and tell the others."""
        if self.room is not None:
            self.chat.rooms[self.room].discard(self)
            self.chat.broadcast(self.room, '%s left the room.' % self.nick)
            self.room = None

    def logout(self):
        """Leave the room and free the nickname; safe to call more than once."""
        self.leave()
        if self.nick and self.chat.users.get(self.nick.casefold()) is self:
            del self.chat.users[self.nick.casefold()]


async def serve(host, port, batch=False):
    """Serve until SIGINT or SIGTERM."""
    chat = Chat(batch)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Session(chat), host, port,
                                      backlog=socket.SOMAXCONN)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description='The chat protocol on asyncio (a yardstick).')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=5000)
    parser.add_argument('--batch', action='store_true',
                        help='one transport.write per session per loop iteration')
    parser.add_argument('--uvloop', action='store_true', help='run on uvloop')
    args = parser.parse_args(argv)
    import resource                    # here, not above: bench/opcodes.py imports this module
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.uvloop:
        import uvloop
        uvloop.run(serve(args.host, args.port, args.batch))
    else:
        asyncio.run(serve(args.host, args.port, args.batch))


if __name__ == '__main__':
    main()
