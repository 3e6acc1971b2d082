"""The telnet framing: what a telnet client or nc sends, made into plain lines.

`Telnet` is the framing (chat/framing.py) of the telnet port. It knows
nothing of sockets: the channel feeds it every byte a client sends and hands
asynchat the lines it returns. `feed` removes telnet command sequences
(RFC 854), answers option requests with a refusal, turns every line end
(CR LF, LF, CR NUL, bare CR) into one LF, and cuts a line that grows past the
limit. What the server sends passes as it is: lines of UTF-8 ending in CR LF.

The design reads lines ending in CR LF and passes on whatever they contain;
see docs/walkthrough.md for why this project does more.
"""

import re

from .framing import MAX_LINE, TOO_LONG, Framing

# RFC 854 command bytes, each after IAC.
SE = 240      # end of subnegotiation
EC = 247      # erase character
EL = 248      # erase line
AYT = 246     # are you there?
SB = 250      # start of subnegotiation
WILL = 251
WONT = 252
DO = 253
DONT = 254
IAC = 255     # interpret as command

CR, LF, NUL, BS = 13, 10, 0, 8
IAC_BYTE = bytes((IAC,))

AYT_REPLY = b'\r\n[chat: yes, I am here]\r\n'
"""The visible answer to IAC AYT."""

# What `feed` is doing with the next byte.
_DATA = 'data'            # in a line
_CR = 'cr'                # after a CR: an LF or NUL here belongs to it
_IAC = 'iac'              # after IAC: a command byte
_OPTION = 'option'        # after IAC WILL/WONT/DO/DONT: the option byte
_SB = 'sb'                # inside IAC SB ... IAC SE: discarded
_SB_IAC = 'sb-iac'        # after IAC inside a subnegotiation

_SPECIAL = re.compile(b'[\r\n\xff]')

_REFUSAL = {DO: WONT, WILL: DONT}
"""The answer to each request: this server enables no option."""


class Telnet(Framing):
    """Turn received bytes into LF-ended lines, as a telnet server's NVT reads them.

    `feed(data)` returns the complete lines that `data` finished, each ending
    in LF, and leaves any unfinished line in the reader. Answers owed to the
    client (option refusals, the AYT reply) collect in `answers`; the caller
    sends and clears them. Memory is bounded: the unfinished line never holds
    more than `max_line` bytes, and a subnegotiation is discarded as it comes.
    """

    def __init__(self, max_line=MAX_LINE):
        Framing.__init__(self, max_line)
        self._too_long = re.compile(b'[^\n]{%d}' % (max_line + 1))   # a line over the limit
        self._state = _DATA
        self._verb = None            # WILL/WONT/DO/DONT awaiting its option byte
        self._line = bytearray()     # the unfinished line's data bytes
        self._received = 0           # bytes of the unfinished line, sequences included
        self._cut = False            # the unfinished line passed the limit: discard it

    def feed(self, data):
        """Take bytes received from the client; return the lines they finished."""
        if self._state is _DATA and not self._received and IAC_BYTE not in data:
            # Fast path: whole lines of plain text, as nc (LF) and telnet (CR LF) send them,
            # none over the limit: nothing to remove or count. What follows the last line
            # end, the start of a line, takes the long way.
            end = data.rfind(b'\n') + 1
            lines = data[:end] if end < len(data) else data
            if b'\r' in lines:
                lines = lines.replace(b'\r\n', b'\n')
            # A read no longer than the limit holds no line over it: the search is skipped.
            if b'\r' not in lines and (len(lines) <= self.max_line
                                       or not self._too_long.search(lines)):
                return lines + self._read(data[end:]) if end < len(data) else lines
        return self._read(data)

    def _read(self, data):
        """feed's long way: the telnet state machine, byte by special byte."""
        out = []
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state is _DATA:
                # Fast path: copy everything up to the next CR, LF or IAC at once.
                match = _SPECIAL.search(data, pos)
                stop = match.start() if match else end
                if stop > pos:
                    self._take(data[pos:stop], out)
                if match is None:
                    break
                byte = data[stop]
                pos = stop + 1
                if byte == IAC:
                    self._count(1, out)
                    self._state = _IAC
                else:
                    self._end_line(out)
                    if byte == CR:
                        self._state = _CR
                continue
            byte = data[pos]
            pos += 1
            if state is _CR:
                self._state = _DATA
                if byte not in (LF, NUL):
                    pos -= 1         # not part of the line end: read it as data
                continue
            self._count(1, out)
            state = self._state          # passing the limit abandons a subnegotiation
            if state is _IAC:
                self._command(byte, out)
            elif state is _OPTION:
                refusal = _REFUSAL.get(self._verb)
                if refusal is not None:
                    self.answers += bytes((IAC, refusal, byte))
                self._state = _DATA
            elif state is _SB:
                if byte == IAC:
                    self._state = _SB_IAC
            elif state is _SB_IAC:
                if byte == IAC:
                    self._state = _SB        # IAC IAC: a data byte of the subnegotiation
                else:
                    self._command(byte, out)   # IAC SE, or any other command, ends it
        return b''.join(out)

    def finish(self):
        """The client sent its last byte: return its unfinished line, if any, as a line."""
        out = []
        if self._line and not self._cut:
            self._end_line(out)
        self._state = _DATA
        return b''.join(out)

    def _command(self, byte, out):
        """Act on the byte after IAC. A command (not IAC IAC, a data byte) costs what an
        empty line costs: out gets one, for the line rate to count."""
        self._state = _DATA
        if byte == IAC:
            self._add(b'\xff')               # IAC IAC stands for the data byte 0xFF
            return
        out.append(b'\n')
        if byte in (WILL, WONT, DO, DONT):
            self._verb = byte
            self._state = _OPTION
        elif byte == SB and not self._cut:   # a line being discarded hides no line end
            self._state = _SB
        elif byte == EC:
            self._add(b'\b')                 # `clean` erases the character before it
        elif byte == EL:
            self._line.clear()
        elif byte == AYT:
            self.answers += AYT_REPLY
        # Every other command (NOP, DM, BRK, IP, AO, GA, SE) and any byte that
        # is no command is dropped.

    def _take(self, chunk, out):
        """Count data bytes received, and add them to the unfinished line."""
        self._count(len(chunk), out)
        self._add(chunk)

    def _add(self, data):
        """Add data bytes to the unfinished line, unless it is being discarded."""
        if not self._cut:
            self._line += data

    def _count(self, n, out):
        """Count n more received bytes; cut the line the moment it passes the limit."""
        self._received += n
        if self._received > self.max_line and not self._cut:
            self._cut = True
            self._line.clear()
            out.append(TOO_LONG + b'\n')
            if self._state in (_SB, _SB_IAC):
                self._state = _DATA      # so the next line end ends the discarded line

    def _end_line(self, out):
        if not self._cut:
            out.append(bytes(self._line) + b'\n')
        self._line.clear()
        self._received = 0
        self._cut = False
