"""Events: one thing that happened, rendered for each kind of client.

The design's rooms send lines, and a telnet user reads them. A page that reads
meaning out of lines can be fooled by them (a student who types "the server
is shutting down"), so a line the rooms send may also say what it means:

1. `Event` is a line (a str: the text every telnet user reads, exactly) that
   carries its meaning too: `kind` ('say', 'notice', ...) and `fields`. The
   rooms make one where a line means something, and send it as the design
   sends any line: `broadcast(line)`, `session.push(line)`. A plain str is
   an event of kind 'line', a reply.
2. Each framing renders what it is sent (chat/channel.py, `push_to_all`):
   a telnet or plain WebSocket client gets the line's text; a client that
   asked for `chat.events` gets `as_json(line)`, made once for all of them.
3. What only a page needs, and a telnet user never reads (the members of
   the room, the user's own state, the commands), is sent with
   `ChatSession.tell`, to `chat.events` clients only.

Only the lines that users say (say, me, private, announce) carry what a
user typed, and only in `body`; nothing a user types sets another field.
"""

import json
import time


class Event(str):
    """A line of the server's, as a telnet user reads it, that knows what it means: its
    `kind`, the type a chat.events client reads, and its other `fields`.

    Made as a str is, from its text (str's own constructor: no Python call
    on the way of every chat line); `event`, `notice` and `said` set the rest.
    """

    rendered = None                    # what the chat.events framing made of it, kept


def event(text, kind, fields):
    """Return an Event: text, its kind, and its fields (a dict the event keeps)."""
    line = Event(text)
    line.kind = kind
    line.fields = fields
    return line


def notice(text, what, **names):
    """A notice: text, what happened (`event`) and who it concerns (nick=, new=, by=)."""
    names['event'] = what
    return event(text, 'notice', names)


def said(kind, text, fields, seq):
    """Return the Event of a line a user said (say, me, private, announce): numbered seq,
    and timed now."""
    line = Event(text)
    line.kind = kind
    fields['seq'] = seq
    fields['time'] = time.time()
    line.fields = fields
    return line


TEXTS = {'say': '%s: %s', 'me': '* %s %s', 'announce': '[announcement] %s: %s'}
"""How each kind of line said reads, from its nickname and body."""


def remade(seq, time, room, kind, nick, body):
    """The Event of a line said, as the database kept it (chat/store.py)."""
    fields = {'from': nick, 'body': body}
    if room is not None:
        fields['room'] = room
    fields['seq'] = seq
    fields['time'] = time
    return event(TEXTS[kind] % (nick, body), kind, fields)


def as_json(line, replay=False):
    """The bytes of the JSON object a chat.events client reads for a line (an Event, or a
    plain reply); replay marks a line /history sends again."""
    if isinstance(line, Event):
        value = {'type': line.kind, 'text': str(line)}
        value.update(line.fields)
        if replay:
            value['replay'] = True
    else:
        value = {'type': 'line', 'text': str(line)}
    return dumps(value)


def dumps(value):
    """The UTF-8 bytes of value as compact JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
