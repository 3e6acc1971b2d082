"""chat: a multi-room telnet chat server on asyncore and asynchat.

The reference implementation of a classic design. Read it in this order:

1. chat/server.py    Server(Listener): listens, accepts each connection into
                     a ChatSession, and owns the users, the hall and the
                     three chat rooms.
2. chat/session.py   ChatSession(Channel): the design's session; one client,
                     its nickname and room, each line to its room's handler;
                     enter() moves it.
3. chat/commands.py  EndSession, and CommandHandler: "/cmd arg" runs do_cmd,
                     found by getattr; /help comes from the docstrings.
4. chat/rooms.py     Room, Hall, ChatRoom: the do_* commands users type.
5. chat/events.py    Event: a line that says what it means, which a page
                     reads as JSON (chat.events) and telnet as the line.

Beside the design:

6. chat/teacher.py   The teacher's controls: Classroom, the class's
                     passwords, bans and mutes; OperatorCommands, the
                     operators' do_* commands every room takes.
7. chat/resume.py    Resumes: the resume codes that bring a dropped
                     session back as it was (/resume).
8. chat/store.py     Store: the SQLite database (--db) that keeps the
                     lines said, the bans, the mutes and the codes.

Beneath the design:

9. chat/listener.py  Listener(asyncore.dispatcher): what both listening
                     ports share: listen, accept in batches, errors.
10. chat/channel.py  Channel(asynchat.async_chat): the machinery under
                     ChatSession: the framing, waiting input, the output
                     queue, the closes.
11. chat/framing.py  Framing: the contract between a client's bytes and the
                     design's lines, and what every framing shares (the line
                     limit, clean).
12. chat/telnet.py   Telnet(Framing), pure: telnet commands, line ends,
                     the line limit.
13. chat/schedule.py Schedule: the clock, the deadlines channels wait for,
                     the channels to flush this round.
14. chat/limits.py   Limits, and the mechanisms that keep them: TokenBucket,
                     Deadlines, Refusals, PasswordTries. Told the time.
15. chat/loop.py     The event loops over the server's socket map.
16. chat/__main__.py The command line: python -m chat, chat-server.
17. chat/transcript.py chat-server transcript: the lines a database kept.

Beside the telnet port:

18. chat/web.py      The web side: the page, and WebSession, a ChatSession
                     for a browser, on a second port.
19. chat/websocket.py WebSocket(Framing), pure: a browser's frames in, lines
                     out, as chat/telnet.py is for telnet.
20. chat/client.py   chat-client: a Tk window onto the server, for machines
                     without telnet.

docs/walkthrough.md explains the design through this code; docs/protocol.md
is the reference of what a client sees.
"""

__version__ = '1.7.0'
