"""The WebSocket framing (RFC 6455): a browser's frames in, lines out, and back.

`WebSocket` is a framing (chat/framing.py says what one is), as `Telnet`
is, and it takes telnet's place beneath asynchat for a browser's session
(chat/web.py makes the session). It knows nothing of sockets:

1. `WebSocket.feed` reads the client's frames, unmasks them, answers pings,
   and turns each text message into lines ending in LF: CR LF, LF and CR
   between lines, and the end of the message ends a line too. A line that
   grows past the limit comes out as TOO_LONG, as telnet's does, and the rest
   of it is dropped as it comes. Memory is bounded whatever a frame declares:
   a header, a control frame's 125 bytes, three bytes of an unfinished UTF-8
   character and the unfinished line.
2. A close from the client, or a frame that breaks the protocol, ends the
   input (`ended`): the answer, a close frame carrying the code, is owed to
   the client, and what follows is ignored.
3. `wrap` makes a text frame of what the server sends; `goodbye` is the close
   frame that ends a session the server ends.
4. `EventSocket`, for a client that asked for chat.events, sends each line
   as its event instead: one JSON object in a frame of its own.

A server's frames are never masked, so one frame holds the same bytes for
every reader.
"""

import base64
import codecs
import hashlib
import re
import struct

from .events import Event, as_json, dumps
from .framing import ENDED, MAX_LINE, TOO_LONG, Framing

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
"""The RFC's constant, hashed with the client's key to prove the server read the upgrade."""

# Close codes (RFC 6455, 7.4.1): 1000, 1001 and 1008 are why the server ends a session
# (chat/framing.py: ENDED, SHUTTING_DOWN, PUT_OUT); these are why a client's input broke.
PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
INVALID_DATA = 1007

# Opcodes (5.2).
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CONTROL = (CLOSE, PING, PONG)

MAX_CONTROL = 125
"""Bytes a control frame's payload may have (5.5)."""

_LINE_END = re.compile(b'[\r\n]')

_EXTENDED = {126: 2, 127: 8}
"""Bytes of the extended payload length, by the 7-bit length that announces one (5.2)."""


def accept_key(key):
    """Return the Sec-WebSocket-Accept value that answers a Sec-WebSocket-Key (4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode('ascii') + GUID).digest()).decode('ascii')


def frame(payload, opcode=TEXT):
    """Return one whole, unmasked frame of payload: a server's frame (5.2)."""
    size = len(payload)
    if size < 126:
        header = struct.pack('!BB', 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack('!BBH', 0x80 | opcode, 126, size)
    else:
        header = struct.pack('!BBQ', 0x80 | opcode, 127, size)
    return header + payload


def close_frame(code):
    """Return a close frame carrying code, with no reason."""
    return frame(struct.pack('!H', code), CLOSE)


def valid_close_code(code):
    """Whether a close frame may carry code (7.4): the RFC's own, or 3000-4999."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def unmask(data, mask, offset):
    """Return data XOR the 4-byte mask, starting offset bytes into the mask's cycle."""
    if not data:
        return data
    key = (mask[offset % 4:] + mask[:offset % 4]) * (len(data) // 4 + 1)
    size = len(data)
    return (int.from_bytes(data, 'big')
            ^ int.from_bytes(key[:size], 'big')).to_bytes(size, 'big')


class WebSocket(Framing):
    """Read a client's frames into LF-ended lines, as `Telnet` reads a telnet client's bytes.

    `feed(data)` returns the lines that data completed. Frames owed to the
    client (pongs, and the close once the input has ended) collect in
    `answers`; the caller sends and clears them. `ended` is true once a close
    arrived or the protocol was broken, and `code` is then the code the close
    frame in `answers` carries.
    """

    def __init__(self, max_line=MAX_LINE):
        Framing.__init__(self, max_line)
        self.ended = False
        self.code = None
        self._header = bytearray()   # the frame header read so far
        self._opcode = None          # the opcode of the frame being read, once its header is
        self._fin = False
        self._mask = b''
        self._left = 0               # payload bytes of the frame still to come
        self._offset = 0             # payload bytes of the frame read so far
        self._control = bytearray()  # a control frame's payload, read so far
        self._in_message = False     # a text message is open: continuations belong to it
        self._decoder = codecs.getincrementaldecoder('utf-8')()   # strict: a bad byte is 1007
        self._line = bytearray()     # the unfinished line
        self._cut = False            # the unfinished line passed the limit: discard it
        self._after_cr = False       # the message's last byte so far was CR: an LF is its pair
        self._ended_a_line = False   # the frame being read has ended a line

    # ---- input

    def feed(self, data):
        """Take bytes received from the client; return the lines they completed."""
        out = []
        pos, end = 0, len(data)
        while pos < end and not self.ended:
            if self._opcode is None:
                pos = self._read_header(data, pos, out)
                continue
            take = min(self._left, end - pos)
            payload = unmask(data[pos:pos + take], self._mask, self._offset)
            pos += take
            self._offset += take
            self._left -= take
            if self._opcode in _CONTROL:
                self._control += payload
            else:
                self._text(payload, out)
            if not self._left and not self.ended:
                self._end_frame(out)
        return b''.join(out)

    def finish(self):
        """The connection ended without a close: an unfinished message is dropped."""
        self.ended = True
        return b''

    def _read_header(self, data, pos, out):
        """Read header bytes from data at pos; act on the header once it is whole."""
        need = self._header_size()
        take = min(need - len(self._header), len(data) - pos)
        self._header += data[pos:pos + take]
        pos += take
        if len(self._header) == need and need == self._header_size():
            self._start_frame(out)
        return pos

    def _header_size(self):
        """Bytes of the header being read, as far as its first bytes tell."""
        if len(self._header) < 2:
            return 2
        return 2 + _EXTENDED.get(self._header[1] & 0x7F, 0) + (4 if self._header[1] & 0x80 else 0)

    def _start_frame(self, out):
        first, second = self._header[0], self._header[1]
        opcode, length = first & 0x0F, second & 0x7F
        extended = _EXTENDED.get(length, 0)
        if extended:
            length = int.from_bytes(self._header[2:2 + extended], 'big')
        self._fin = bool(first & 0x80)
        self._mask = bytes(self._header[-4:]) if second & 0x80 else b''
        self._header.clear()
        if first & 0x70 or not self._mask or opcode not in (CONTINUATION, TEXT, BINARY) + _CONTROL:
            self._fail(PROTOCOL_ERROR)          # reserved bits, an unmasked or unknown frame
        elif length >= 1 << 63:
            self._fail(PROTOCOL_ERROR)          # a 64-bit length's first bit must be 0
        elif opcode in _CONTROL and (length > MAX_CONTROL or not self._fin):
            self._fail(PROTOCOL_ERROR)          # control frames are small and whole (5.5)
        elif opcode == BINARY:
            self._fail(UNSUPPORTED_DATA)        # this chat speaks text only
        elif (opcode == CONTINUATION) != self._in_message and opcode not in _CONTROL:
            self._fail(PROTOCOL_ERROR)          # a continuation of nothing, or a message in one
        else:
            self._opcode, self._left, self._offset = opcode, length, 0
            self._ended_a_line = False
            if opcode == TEXT:
                self._in_message = True
            if not length:
                self._end_frame(out)

    def _text(self, payload, out):
        """Take a piece of a text message: check its UTF-8, and cut it into lines."""
        try:
            self._decoder.decode(payload)
        except UnicodeDecodeError:
            self._fail(INVALID_DATA)
            return
        pos = 0
        if self._after_cr and payload[:1] == b'\n':
            pos = 1                             # the LF of a CR LF split between frames
        self._after_cr = False
        while True:
            match = _LINE_END.search(payload, pos)
            stop = match.start() if match else len(payload)
            self._add(payload[pos:stop], out)
            if match is None:
                return
            self._end_line(out)
            pos = stop + 1
            if payload[stop:stop + 1] == b'\r':
                if pos == len(payload):
                    self._after_cr = True
                elif payload[pos:pos + 1] == b'\n':
                    pos += 1

    def _add(self, data, out):
        """Add data to the unfinished line; cut the line the moment it passes the limit."""
        if self._cut or not data:
            return
        if len(self._line) + len(data) > self.max_line:
            self._cut = True
            self._line.clear()
            out.append(TOO_LONG + b'\n')
            self._ended_a_line = True
        else:
            self._line += data

    def _end_line(self, out):
        if not self._cut and self._line:
            out.append(bytes(self._line) + b'\n')
            self._ended_a_line = True
        self._line.clear()
        self._cut = False

    def _end_frame(self, out):
        """The frame's payload is all here: act on a control frame, or end a message."""
        opcode, self._opcode = self._opcode, None
        if opcode in _CONTROL and opcode != CLOSE:
            out.append(b'\n')          # a ping or a pong costs what an empty line costs
        if opcode in _CONTROL:
            payload, self._control = bytes(self._control), bytearray()
            if opcode == PING:
                self.answers += frame(payload, PONG)
            elif opcode == CLOSE:
                self._closed_by_client(payload)
            return
        if not self._fin:
            if not self._ended_a_line:
                out.append(b'\n')      # a fragment that ends no line costs as an empty one
            return                              # more of the message is to come
        self._in_message = False
        self._after_cr = False
        try:
            self._decoder.decode(b'', final=True)
        except UnicodeDecodeError:
            self._decoder.reset()
            self._fail(INVALID_DATA)            # the message ended inside a character
            return
        self._end_line(out)                     # the end of a message ends its last line
        if not self._ended_a_line:
            out.append(b'\n')          # an empty message costs as an empty line

    def _closed_by_client(self, payload):
        """Answer a close: with the client's own code, or with the one its frame deserves."""
        if not payload:
            self._end(ENDED)
        elif len(payload) == 1 or not valid_close_code(struct.unpack('!H', payload[:2])[0]):
            self._fail(PROTOCOL_ERROR)
        else:
            try:
                payload[2:].decode('utf-8')
            except UnicodeDecodeError:
                self._fail(INVALID_DATA)
                return
            self._end(struct.unpack('!H', payload[:2])[0])

    def _fail(self, code):
        """The client broke the protocol: close with code, and read nothing more."""
        self._end(code)

    def _end(self, code):
        self.ended = True
        self.code = code
        self.answers += close_frame(code)
        self._line.clear()

    # ---- output

    def wrap(self, data):
        """Return the frame that carries data, lines the server sends, to the client."""
        return frame(data)

    def goodbye(self, why=ENDED):
        """Return the close frame that ends a session the server ends, carrying why as its
        code, unless one was sent already."""
        if self.ended:
            return b''
        self.ended = True
        self.code = why
        return close_frame(why)


class EventSocket(WebSocket):
    """The WebSocket framing of a chat.events client: each line the server sends goes
    as its event, one JSON object to a text message (chat/events.py)."""

    wrap = None                        # render frames each message itself
    events = True

    def render(self, line, replay=False):
        """Return the frame of a line's event: made once, for every chat.events reader."""
        if replay or not isinstance(line, Event):
            return frame(as_json(line, replay))
        if line.rendered is None:
            line.rendered = frame(as_json(line))
        return line.rendered

    @staticmethod
    def message(value):
        """Return the frame of an object that is not a line (a room's members, say)."""
        return frame(dumps(value))
