"""chat: a multi-room telnet chat server on asyncore and asynchat.

The reference implementation of a classic design. Read it in this order:

1. chat/server.py    Server(asyncore.dispatcher): listens, accepts each
                     connection into a ChatSession, and owns the users, the
                     hall and the three chat rooms.
2. chat/session.py   ChatSession(Channel): the design's session; one client,
                     its nickname and room, each line to its room's handler;
                     enter() moves it.
3. chat/commands.py  EndSession, and CommandHandler: "/cmd arg" runs do_cmd,
                     found by getattr; /help comes from the docstrings.
4. chat/rooms.py     Room, Hall, ChatRoom: the do_* commands users type.

Beneath the design:

5. chat/channel.py   Channel(asynchat.async_chat): the machinery under
                     ChatSession: the framing, held input, the output queue,
                     the closes.
6. chat/limits.py    Limits, and the mechanisms that keep them: TokenBucket,
                     Deadlines, Refusals. Pure: told the time, no sockets.
7. chat/telnet.py    The telnet framing and input cleaning, pure: telnet
                     bytes, line ends, the line limit, BS/DEL, control
                     characters.
8. chat/loop.py      The event loop over the server's socket map.
9. chat/__main__.py  The command line: python -m chat, chat-server.
10. chat/client.py   chat-client: a Tk window onto the server, for machines
                     without telnet.
11. chat/web.py      The web side: the page, and WebSession, a ChatSession
                     for a browser, on a second port.
12. chat/websocket.py The WebSocket framing, pure: a browser's frames in,
                     lines out, as chat/telnet.py is for telnet.

docs/walkthrough.md explains the design through this code; docs/protocol.md
is the reference of what a client sees.
"""

__version__ = '1.2.0'
