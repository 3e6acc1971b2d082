"""`chat-server transcript`: the lesson, as the database kept it.

    chat-server transcript --db FILE [--room NAME] [--since TIME] [--until TIME]
                           [--format text|csv|json]

(also `python -m chat transcript ...`) writes the lines said in the rooms,
and the announcements, to standard output, oldest first. It reads the file
with a read-only connection of its own, so it is safe while the server runs
(SQLite's WAL mode lets a reader and the writer go on together). TIME is
YYYY-MM-DD, YYYY-MM-DD HH:MM, or HH:MM (today), in local time.

- text: `[YYYY-MM-DD HH:MM] NICK: TEXT`; `* NICK TEXT` for /me;
  `[announcement] NICK: TEXT`.
- csv: a header row `seq,time,room,kind,nick,text`, where time is Unix
  time and text what the user typed.
- json: one object a line with those keys.

A bad argument is one line on standard error and exit 2; a file that cannot
be read as the database, one line and exit 1, as the server's start does.
"""

import argparse
import csv
import datetime
import json
import sqlite3
import sys
import time
import urllib.parse

from .store import APPLICATION_ID

PROG = 'chat-server transcript'

TIME_FORMATS = ('%Y-%m-%d %H:%M', '%Y-%m-%d', '%H:%M')


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """Report a bad argument in one line, then exit 2."""
        self.exit(2, '%s: %s (see --help)\n' % (self.prog, message))


def when(text):
    """Unix time of TIME, in local time: YYYY-MM-DD, YYYY-MM-DD HH:MM, or HH:MM today."""
    for form in TIME_FORMATS:
        try:
            parsed = datetime.datetime.strptime(text.strip(), form)
        except ValueError:
            continue
        if form == '%H:%M':
            parsed = datetime.datetime.combine(datetime.date.today(), parsed.time())
        return time.mktime(parsed.timetuple())
    raise ValueError(text)


when.__name__ = 'time (YYYY-MM-DD, YYYY-MM-DD HH:MM or HH:MM)'


def parse_args(argv):
    parser = _Parser(prog=PROG, description='Write the lines said, as the database kept '
                                            'them, oldest first.')
    parser.add_argument('--db', required=True, metavar='FILE', help="the server's database")
    parser.add_argument('--room', metavar='NAME', help='only this room (and no announcements)')
    parser.add_argument('--since', type=when, metavar='TIME', help='only lines from TIME on')
    parser.add_argument('--until', type=when, metavar='TIME', help='only lines before TIME')
    parser.add_argument('--format', choices=('text', 'csv', 'json'), default='text',
                        help='how to write them (default: %(default)s)')
    return parser.parse_args(argv)


def rows(path, room=None, since=None, until=None):
    """The kept lines, oldest first: (seq, time, room, kind, nick, text) tuples. Raises
    sqlite3.Error, or ValueError if the file is not a chat database."""
    uri = 'file:%s?mode=ro' % urllib.parse.quote(path)
    db = sqlite3.connect(uri, uri=True)
    try:
        if db.execute('PRAGMA application_id').fetchone()[0] != APPLICATION_ID:
            raise ValueError('not a chat database')
        where, values = [], []
        for clause, value in (('room = ?', room), ('time >= ?', since), ('time < ?', until)):
            if value is not None:
                where.append(clause)
                values.append(value)
        yield from db.execute(
            'SELECT seq, time, room, kind, nick, body FROM said%s ORDER BY seq'
            % (' WHERE ' + ' AND '.join(where) if where else ''), values)
    finally:
        db.close()


def as_text(seq, at, room, kind, nick, text):
    """One line of the text format."""
    stamp = time.strftime('%Y-%m-%d %H:%M', time.localtime(at))
    said = {'say': '%s: %s', 'me': '* %s %s', 'announce': '[announcement] %s: %s'}[kind]
    return '[%s] %s' % (stamp, said % (nick, text))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = sys.stdout
    writer = csv.writer(out, lineterminator='\n')
    if args.format == 'csv':
        writer.writerow(['seq', 'time', 'room', 'kind', 'nick', 'text'])
    try:
        for row in rows(args.db, args.room, args.since, args.until):
            if args.format == 'text':
                out.write(as_text(*row) + '\n')
            elif args.format == 'csv':
                writer.writerow(row)
            else:
                out.write(json.dumps(dict(zip(('seq', 'time', 'room', 'kind', 'nick', 'text'),
                                              row)), ensure_ascii=False) + '\n')
    except (sqlite3.Error, ValueError) as error:
        print('%s: cannot read %s: %s' % (PROG, args.db, error), file=sys.stderr)
        return 1
    except BrokenPipeError:            # | head: the reader has what it wanted
        sys.stderr.close()
        return 0
    return 0
