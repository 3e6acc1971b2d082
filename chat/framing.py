"""`Framing`: what lies between a client's bytes and the design's lines.

The design reads lines that end in CR LF, and writes lines that end in CR LF.
Real clients send more than lines (telnet's commands, a browser's frames),
and a browser reads frames, not lines. A framing stands between the two, in
the channel beneath ChatSession (chat/channel.py), and knows nothing of
sockets: it is fed bytes and gives bytes back.

    bytes from the client -> feed() -> lines ending in LF -> asynchat's terminator
    lines of the server   -> wrap() -> what the client reads

Three framings subclass `Framing`: `Telnet` (chat/telnet.py) for telnet and
nc, `WebSocket` (chat/websocket.py) for a browser's chat, and `RequestHead`
(chat/web.py) for the request a browser sends first. What they all share is
here: the line limit, the mark of a line cut at it, the cleaning of a line
once it is text, and why a session ends.
"""

import re

MAX_LINE = 4096
"""Bytes a line may have before its line end, telnet sequences included."""

TOO_LONG = b'\r'
"""What a framing gives, then LF, for a line cut at its limit.

No other CR ever reaches a framing's output (every CR is a line end), so a
line that is exactly this cannot be anything a client typed.
"""

# Why the server ends a session, as `goodbye` is told it. The numbers are WebSocket's
# close codes (RFC 6455, 7.4.1), which a browser reads; a telnet client reads the last line.
ENDED = 1000
"""The session is over as the design ends one: /logout, a timeout, the client's own end."""
SHUTTING_DOWN = 1001
"""The server is stopping."""
PUT_OUT = 1008
"""The server put the client out: a kick, a ban, too many wrong passwords."""


class Framing:
    """Turn a client's bytes into lines, and the server's lines into the client's bytes.

    The contract every framing keeps, as the channel uses it:

    1. `feed(data)` takes bytes received from the client and returns the
       lines they completed, each ending in LF, and nothing else; it keeps an
       unfinished line for the next call. Input that ends no line (a
       WebSocket frame, a telnet command) comes out as an empty line too: it
       costs what a line costs against the line rate, and no more. A line
       that passes `max_line` bytes comes out as TOO_LONG (then LF) the
       moment it passes, and the rest of it is dropped as it comes, so a
       framing never holds more than about `max_line` bytes of input.
    2. `finish()` is called once the client has ended its input, and returns
       the lines that end completed (an unfinished last line, for telnet).
    3. `answers`: bytes owed to the client because of what it sent (a
       telnet option refused, a WebSocket pong or close), which the channel
       sends after its replies to the same read, then clears.
    4. `ended`: true once the framing takes no more input (a WebSocket
       close): to the channel, the end of the client's input.
    5. `wrap`: None, or a function that frames what the server sends (a
       WebSocket's text frame), called once for each send, not each line.
    6. `render(line, replay=False)`: the bytes a line of the server's is
       sent as, before `wrap`: its text, encoded; a framing for chat.events
       renders the line's event instead (chat/events.py).
    7. `goodbye(why)`: the bytes that end a session the server ends, sent
       after everything else; why is ENDED, SHUTTING_DOWN or PUT_OUT.

    This base class passes bytes through unchanged and owes nothing, which
    is what a framing that leaves the lines to asynchat's own terminator needs.
    """

    ended = False
    wrap = None
    events = False                     # lines go out as events (chat.events), not text

    def __init__(self, max_line=MAX_LINE):
        self.max_line = max_line
        self.answers = bytearray()

    def feed(self, data):
        """Take bytes received from the client; return the lines they completed."""
        return data

    def finish(self):
        """The client has ended its input: return the lines that completed."""
        return b''

    def render(self, line, replay=False):
        """Return the bytes that carry a line of the server's: its text, as encode makes it."""
        return encode(line)

    def goodbye(self, why=ENDED):
        """Return the bytes that end a session the server ends (none: its last line says it)."""
        return b''


def encode(line):
    """Return a line of text as the bytes a client receives: UTF-8 ending in CR LF."""
    return (line + '\r\n').encode('utf-8')


# C0 controls but TAB, DEL, C1 controls, and the bidirectional embedding,
# override and isolate characters: none may reach another user's terminal.
_CONTROLS = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0a, 0x20), *range(0x7f, 0xa0),
     *range(0x202a, 0x202f), *range(0x2066, 0x206a)])
_CONTROLS[ord('\t')] = ' '

_ERASE = re.compile('[\b\x7f]')


def clean(line):
    """Return a line of text as a person meant it: edited, safe to show, stripped.

    BS and DEL erase the character before them, as a terminal's line editor
    would; then control and bidirectional formatting characters are removed
    (a TAB becomes a space) and white space at both ends is stripped.
    """
    if _ERASE.search(line):
        kept = []
        for char in line:
            if char in '\b\x7f':
                if kept:
                    kept.pop()
            else:
                kept.append(char)
        line = ''.join(kept)
    return line.translate(_CONTROLS).strip()
