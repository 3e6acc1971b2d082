"""The WebSocket yardstick: the chat protocol on asyncio and the `websockets` library.

`python bench/ws_yardstick.py --port N [--batch]` serves chat sessions over
WebSocket (RFC 6455) at path /chat, as chat's web side does, for the
benchmarks' `ws-` scenarios to measure chat's web side against. It is built
on `websockets` (pip install websockets, in the `bench` extra), the most used
WebSocket server for Python, with its modern asyncio API
(`websockets.asyncio.server.serve`), and written the ordinary way:

1. One handler coroutine per connection, `async for message in websocket`;
   each text message holds one or more lines (CR LF, LF or CR between them;
   the end of the message ends the last), as chat's web side reads them.
2. The chat itself, every command and reply, is bench/yardstick.py's: a
   `Session` whose transport is the WebSocket connection, so the two
   yardsticks cannot drift apart. What a session is sent goes out as text
   frames of lines ending in CR LF.
3. The same fairness as bench/yardstick.py's `--batch` (the default in
   `bench/run.py`'s `websockets-batched`): what a session is sent is gathered
   in a list, and one callback per loop iteration writes each session's list
   as one text frame: chat's one frame per session per round. Without
   `--batch` each reply line is a frame of its own, and a broadcast is one
   call of the library's own `broadcast()` for the whole room.
4. Every write is the library's synchronous send, `broadcast()` with
   `text=True` (the bytes are UTF-8 already): it frames the message and
   hands it to the transport at once, as `transport.write` does for the
   asyncio yardstick. `await websocket.send()` would make each write a
   coroutine, and a batched flush a task per session. Before websockets 17
   (which needs Python 3.11: 3.8 to 3.10 get 13 to 16), `broadcast()` has
   no `text=` and sends bytes as a binary frame, so the write is then what
   `broadcast()` does for each connection: `protocol.send_text(data)`, then
   `send_data()`.
5. A client that offers the subprotocol `chat.events` gets it (chat's page
   does; websockets' `select_subprotocol`, answering a client that offers
   none with none, as chat does) and is then sent what chat sends such a
   client: one JSON object to a text message, compact and UTF-8
   (`ensure_ascii=False`), keys in chat's order. A chat line is a `say`
   object (`type`, `text`, `from`, `body`, `room`, `seq`: one counter for
   the server, `time`), the entered and left notices `notice` objects
   (`nick`, `event`), any other reply a `line` object (chat types a few of
   them, the welcome and the goodbye, and sends `room`, `status` and
   `commands` objects on entering a room: the yardstick does not, as no
   benchmark times them). A broadcast makes its object once, for every such
   member, as chat does. With `--batch` a session's objects are gathered as
   its lines are and written once per loop iteration, each a frame of its
   own: the library's `protocol.send_text()` for each, then every frame in
   one `transport.write`. Without it each object is a `broadcast()` call,
   one for the whole room for a chat line, as a line is. What the client
   sends is lines either way.
6. What chat does not do is turned off: no per-message compression
   (`compression=None`; websockets negotiates permessage-deflate by
   default) and no keepalive pings (`ping_interval=None`; chat sends none,
   and the benchmarks' idle clients would not answer them). The rest is
   the library's defaults. TCP_NODELAY is on (asyncio sets it on every TCP
   transport), the listening backlog is SOMAXCONN and the open-file soft
   limit is raised to the hard limit, as for the other servers.
"""

import argparse
import asyncio
import inspect
import json
import re
import signal
import socket
import time

try:
    from websockets.asyncio.server import broadcast, serve
    from websockets.exceptions import ConnectionClosed
    from websockets.protocol import State
except ImportError:                      # pragma: no cover - checked by main and run.py
    broadcast = serve = ConnectionClosed = State = None

import yardstick

PATH = '/chat'
"""Where chat's web side takes WebSocket sessions; anything else is answered 404."""

_LINE_END = re.compile('\r\n|[\r\n]')
"""What ends a line inside a message: CR LF, LF or CR, as chat's web side reads them."""

EVENTS = 'chat.events'
"""The subprotocol of a client that reads events, one JSON object a message, not lines."""

ENTERED, LEFT = ' entered the room.', ' left the room.'
"""The ends of the two notices yardstick.py's rooms broadcast."""


def select_subprotocol(connection, subprotocols):
    """chat.events if the client offers it; otherwise none, and the session reads lines."""
    return EVENTS if EVENTS in subprotocols else None


def dumps(value):
    """The UTF-8 bytes of value as compact JSON, as chat makes them (chat/events.py)."""
    return json.dumps(value, ensure_ascii=False, separators=(',', ':')).encode('utf-8')


def _send_text_to_all(websockets, data):
    """Send data, UTF-8 bytes, as a text frame to each of websockets that is open."""
    broadcast(websockets, data, text=True)


def _send_text_to_all_without_text_argument(websockets, data):
    """The same, where broadcast() has no text=: what it does for each connection (and
    no write to a transport that is closing, which asyncio would log)."""
    for websocket in websockets:
        if websocket.protocol.state is State.OPEN and not websocket.transport.is_closing():
            websocket.protocol.send_text(data)
            websocket.send_data()


if broadcast is not None and 'text' not in inspect.signature(broadcast).parameters:
    _send_text_to_all = _send_text_to_all_without_text_argument


class Transport:
    """What a yardstick Session writes to, for one WebSocket connection.

    `write(data)` sends data, UTF-8 lines ending in CR LF, as one text frame,
    at once (websockets' broadcast(): frame, then transport.write; it skips
    a connection that is no longer open). `is_closing()` is a flag, as
    asyncio's transport's is: the Session asks it for every line it sends,
    and websockets' own `protocol.state` is a property, which would cost the
    yardstick a quarter of its time in a fan-out.
    """

    __slots__ = ('websocket', 'closing')

    def __init__(self, websocket):
        self.websocket = websocket
        self.closing = False           # set by close(), and when the handler ends

    def write(self, data):
        _send_text_to_all((self.websocket,), data)

    def is_closing(self):
        return self.closing

    def close(self):
        """Close with 1000 once what is written has gone: websockets' close(), as a task."""
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().create_task(self.websocket.close())

    def get_extra_info(self, name, default=None):
        return self.websocket.transport.get_extra_info(name, default)

    def write_messages(self, messages):
        """Send each of messages, UTF-8 JSON, as a text frame of its own, all in one
        transport.write: each framed by the library (`protocol.send_text`), as broadcast()
        frames one, and the frames joined (broadcast()'s `send_data()` would make a write
        of each)."""
        websocket = self.websocket
        protocol = websocket.protocol
        if protocol.state is not State.OPEN or websocket.transport.is_closing():
            return
        for message in messages:
            protocol.send_text(message)
        websocket.transport.write(b''.join(protocol.data_to_send()))


class Chat(yardstick.Chat):
    """bench/yardstick.py's shared state; without batching, a broadcast is one library call.

    `readers` holds each room's chat.events sessions (also in `rooms`): a room with
    none broadcasts as it always has; one with some gets a line's object made once for
    all of them, its text once for the others.
    """

    def __init__(self, batch=False):
        yardstick.Chat.__init__(self, batch)
        self.readers = {name: set() for name in yardstick.ROOMS}
        self.seq = 0                                # the lines said: chat's seq
        self._dirty_readers = []                    # chat.events sessions with objects gathered

    def broadcast(self, room, line, sender=None):
        readers = self.readers[room]
        if readers:
            self.broadcast_event(room, line, sender, readers)
            return
        if self.batch:
            yardstick.Chat.broadcast(self, room, line, sender)
            return
        _send_text_to_all([session.transport.websocket for session in self.rooms[room]
                           if session is not sender], yardstick.encode(line))

    def broadcast_event(self, room, line, sender, readers):
        """Send a line to a room with chat.events members: its object, made once, to them;
        its text, encoded once, to the others."""
        data = dumps(self.event(room, line, sender))
        if self.batch:
            for session in readers:
                if session is not sender and not session.transport.is_closing():
                    self.write_event(session, data)
        else:
            _send_text_to_all([session.transport.websocket for session in readers
                               if session is not sender], data)
        if len(readers) == len(self.rooms[room]):
            return
        others = [session for session in self.rooms[room]
                  if session not in readers and session is not sender]
        if self.batch:
            data = yardstick.encode(line)
            for session in others:
                if not session.transport.is_closing():
                    self.write(session, data)
        else:
            _send_text_to_all([session.transport.websocket for session in others],
                              yardstick.encode(line))

    def event(self, room, line, sender):
        """The object of a line broadcast in room: said by sender, or a notice."""
        if sender is not None:                      # `NICK: text`, said
            self.seq += 1
            return {'type': 'say', 'text': line, 'from': sender.nick,
                    'body': line[len(sender.nick) + 2:], 'room': room, 'seq': self.seq,
                    'time': time.time()}
        what = ENTERED if line.endswith(ENTERED) else LEFT
        return {'type': 'notice', 'text': line, 'nick': line[:-len(what)],
                'event': 'enter' if what is ENTERED else 'leave'}

    def write_event(self, session, data):
        """Send a chat.events session one message: at once, or gathered until the end of
        the iteration, each message to stay a frame of its own."""
        if not self.batch:
            session.transport.write(data)
            return
        if not session.out:
            if not self._dirty_readers:
                asyncio.get_running_loop().call_soon(self.flush_events)
            self._dirty_readers.append(session)
        session.out.append(data)

    def flush(self):
        yardstick.Chat.flush(self)
        if self._dirty_readers:                     # /logout: the goodbye before the close
            self.flush_events()

    def flush_events(self):
        """Write each chat.events session's gathered messages, a frame each, in one write."""
        dirty, self._dirty_readers = self._dirty_readers, []
        for session in dirty:
            if not session.transport.is_closing():
                session.transport.write_messages(session.out)
            session.out.clear()


class Session(yardstick.Session):
    """A yardstick Session that reads WebSocket messages instead of a byte stream."""

    def message_received(self, message):
        """Handle each line of a text message."""
        for raw in _LINE_END.split(message):
            if self.transport.is_closing():
                return                              # after /logout the rest is ignored
            line = yardstick._CONTROL.sub('', raw.replace('\t', ' ')).strip()
            if line:
                self.handle(line)


class EventSession(Session):
    """A session that asked for chat.events: each reply a `line` object, in a message of
    its own; what it says, and the room's notices, as the room's objects."""

    def send(self, *lines):
        for line in lines:
            self.chat.write_event(self, dumps({'type': 'line', 'text': line}))

    def hall_command(self, cmd, arg):
        Session.hall_command(self, cmd, arg)
        if self.room is not None:
            self.chat.readers[self.room].add(self)

    def leave(self):
        if self.room is not None:
            self.chat.readers[self.room].discard(self)
        Session.leave(self)


def make_handler(chat):
    async def handler(websocket):
        session = (EventSession if websocket.subprotocol == EVENTS else Session)(chat)
        transport = Transport(websocket)
        session.connection_made(transport)
        try:
            async for message in websocket:
                if isinstance(message, bytes):
                    await websocket.close(1003, 'this chat speaks text only')
                    break
                session.message_received(message)
        except ConnectionClosed:
            pass                                    # closed without a close frame
        finally:
            transport.closing = True
            session.connection_lost(None)
    return handler


def only_the_chat_path(connection, request):
    """A WebSocket upgrade at /chat goes on; any other path is answered 404."""
    if request.path.split('?', 1)[0] != PATH:
        return connection.respond(404, 'Not Found\n')
    return None


def server(host, port, batch=False):
    """The websockets server of a new chat, to await (or use with `async with`)."""
    return serve(make_handler(Chat(batch)), host, port, process_request=only_the_chat_path,
                 select_subprotocol=select_subprotocol, compression=None,
                 ping_interval=None, backlog=socket.SOMAXCONN)


async def run(host, port, batch=False):
    """Serve until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server(host, port, batch):
        await stop.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='The chat protocol over WebSocket on asyncio and websockets (a yardstick).')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=5001)
    parser.add_argument('--batch', action='store_true',
                        help='one text frame per session per loop iteration')
    parser.add_argument('--uvloop', action='store_true', help='run on uvloop')
    args = parser.parse_args(argv)
    if serve is None:
        parser.exit(2, 'ws_yardstick.py needs websockets: pip install websockets\n')
    try:
        import resource
    except ImportError:                # Windows: no open-file limit to raise
        resource = None
    if resource is not None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.uvloop:
        import uvloop
        uvloop.run(run(args.host, args.port, args.batch))
    else:
        asyncio.run(run(args.host, args.port, args.batch))


if __name__ == '__main__':
    main()
