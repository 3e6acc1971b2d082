"""The database: what the server keeps across a restart (`--db FILE`).

The lesson must survive a restart, a crash and a school's flaky Wi-Fi. So,
with --db, the server keeps in an SQLite file (the standard library's
sqlite3, in WAL mode: no server to install, and readers never wait for the
writer) what a restart would otherwise forget:

- `said`: every line said in a room and every announcement (private
  messages never reach the disk);
- `bans` and `mutes`, the teacher's;
- `resumes`: the resume codes' hashes, with the session each stands for;
- `counters`: the last `seq` given, so that no number is given twice.

1. `Store(path)` opens the file, or refuses it with `StoreError` and leaves
   it as it was: a file another running server holds (`in use`), one that
   is not this program's database, one from a newer version, a damaged one.
   A new file gets the schema; an older one, the migrations to `VERSION`.
2. `load()` returns what the server starts from.
3. The lines said (which `Said`, the server's `recent` lines with a
   database, queues) and the other changes are written at the schedule's
   next tick, one transaction for all of a
   round's changes, before the round's output is sent: a line that anyone
   received is on disk. A write that fails (a full disk, a read-only file)
   is logged once, and the chat goes on in memory; writing resumes when it
   can, and the log says that once too.

`transcript` (chat/transcript.py) reads the file with a connection of its
own, also while the server runs.
"""

import collections
import logging
import os
import sqlite3
import time

from .events import remade

log = logging.getLogger('chat')

APPLICATION_ID = 0x63686174
"""'chat', in the database header (PRAGMA application_id): this program's file."""

VERSION = 2
"""The schema's version (PRAGMA user_version); MIGRATIONS take an older file to it."""

SCHEMA = """
CREATE TABLE said (
    seq INTEGER PRIMARY KEY,       -- the event's seq: one counter for the whole server
    time REAL NOT NULL,            -- Unix time, in seconds
    room TEXT,                     -- NULL for an announcement
    kind TEXT NOT NULL,            -- 'say', 'me' or 'announce'
    nick TEXT NOT NULL,
    body TEXT NOT NULL             -- what the user typed, cleaned
);
CREATE INDEX said_by_time ON said (time);
CREATE TABLE bans (
    address TEXT PRIMARY KEY,      -- an IPv4 address, or an IPv6 /64, as /bans lists it
    until REAL                     -- Unix time; NULL: until /unban
);
CREATE TABLE mutes (
    nick TEXT PRIMARY KEY          -- nickname_key of the muted nickname
);
CREATE TABLE resumes (
    number INTEGER PRIMARY KEY,    -- the order codes were issued in: a storm's codes go
                                   -- to the end (keyed by hash, each went anywhere)
    hash BLOB NOT NULL,            -- SHA-256 of the code; the code itself is never kept
    nick TEXT NOT NULL,
    room TEXT NOT NULL,
    operator INTEGER NOT NULL,
    entered INTEGER NOT NULL,      -- the last seq said when the session entered its room
    ended REAL                     -- Unix time the session ended; NULL: still open
);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def to_version_2(db):
    """Version 1 kept the resume codes by their hash: keep them in the order issued."""
    db.execute('ALTER TABLE resumes RENAME TO resumes_1')
    db.execute('CREATE TABLE resumes (number INTEGER PRIMARY KEY, hash BLOB NOT NULL, '
               'nick TEXT NOT NULL, room TEXT NOT NULL, operator INTEGER NOT NULL, '
               'entered INTEGER NOT NULL, ended REAL)')
    db.execute('INSERT INTO resumes (hash, nick, room, operator, entered, ended) SELECT '
               'hash, nick, room, operator, entered, ended FROM resumes_1 ORDER BY rowid')
    db.execute('DROP TABLE resumes_1')


MIGRATIONS = {2: to_version_2}
"""The version a step reaches -> a function of the connection that takes a file of the
version before to it, in the transaction open (so with `execute`, never `executescript`,
which commits first). A change to SCHEMA raises VERSION and adds the step here (its own
copy of the tables it makes: SCHEMA changes again later), tested from a file of the
version before (tests/test_store.py)."""

KEEP_DAYS = 30
"""Days a line said is kept (--keep-days); 0 keeps everything."""

LOAD_RECENT = 10000
"""Lines said that the server loads at start, for /history and for /resume's missed lines."""


class StoreError(Exception):
    """The file cannot be this server's database; the message says why, in a few words."""


class Store:
    """The server's SQLite database: opened and checked, loaded, written a round at a time."""

    def __init__(self, path, keep_days=KEEP_DAYS, clock=time.time):
        self.path = path
        self.keep_days = keep_days
        self.clock = clock
        self.lines = []                # the lines said since the last write (`Said`)
        self.written = 0               # the seq of the last line said that was written
        self.changes = {}              # the other changes since the last write: the last
                                       # for each row, (table, key) -> (statement, values)
        self.writes = Writes(self)     # the schedule's timer: writes at the next tick
        self.failing = False           # the last write failed, and the log said so
        self._lock = hold_lock(path + '.lock')
        try:
            self.db = open_checked(path)
        except BaseException:
            self._lock.close()
            raise
        self.purged = self.clock()
        self.deleted = 0               # lines deleted at start, as older than keep_days
        self.unwritable = None         # why the file could not be written at start, if so
        try:
            if keep_days:
                with self.db:
                    self.deleted = self._purge()
        except sqlite3.Error as error:  # a read-only file, say: the chat goes on in memory
            self.unwritable = str(error)
            self.failing = True

    # ---- reading, at start

    def load(self):
        """What the server starts from, as a `Loaded`."""
        db = self.db
        loaded = Loaded()
        loaded.seq = max(db.execute('SELECT coalesce(max(seq), 0) FROM said').fetchone()[0],
                         self._counter('seq'))
        loaded.lines = db.execute(
            'SELECT seq, time, room, kind, nick, body FROM (SELECT * FROM said '
            'ORDER BY seq DESC LIMIT ?) ORDER BY seq', (LOAD_RECENT,)).fetchall()
        loaded.count = db.execute('SELECT count(*) FROM said').fetchone()[0]
        loaded.bans = dict(db.execute('SELECT address, until FROM bans'))
        loaded.mutes = {nick for (nick,) in db.execute('SELECT nick FROM mutes')}
        loaded.resumes = db.execute(
            'SELECT number, hash, nick, room, operator, entered, ended FROM resumes').fetchall()
        return loaded

    def said_since(self, seq, room, most):
        """The Events of the lines said in room, and the announcements, after seq: the last
        most of them, oldest first."""
        rows = self.db.execute(
            'SELECT seq, time, room, kind, nick, body FROM said WHERE seq > ? '
            'AND (room = ? OR room IS NULL) ORDER BY seq DESC LIMIT ?', (seq, room, most))
        return [remade(*row) for row in reversed(rows.fetchall())]

    def found(self, lines, bans, mutes):
        """The log's line on what the file held at start (what load() found, and what the
        server kept of it)."""
        return 'state in %s: %s, %s, %s%s%s' % (
            self.path, counted(lines, 'line'), counted(bans, 'ban'), counted(mutes, 'mute'),
            '; %s older than %d days deleted' % (counted(self.deleted, 'line'), self.keep_days)
            if self.deleted else '',
            '; cannot write to it (%s): the chat goes on, but what is said now is not kept'
            % self.unwritable if self.unwritable else '')

    def _counter(self, name):
        row = self.db.execute('SELECT value FROM counters WHERE name = ?', (name,)).fetchone()
        return row[0] if row else 0

    # ---- writing, a round at a time

    def ban(self, key, until):
        """Keep a ban on the address key until the Unix time until (None: until /unban)."""
        self._change('bans', key, 'INSERT OR REPLACE INTO bans VALUES (?, ?)', key, until)

    def unban(self, key):
        self._change('bans', key, 'DELETE FROM bans WHERE address = ?', key)

    def mute(self, key):
        """Keep a mute on the nickname key."""
        self._change('mutes', key, 'INSERT OR IGNORE INTO mutes VALUES (?)', key)

    def unmute(self, key):
        self._change('mutes', key, 'DELETE FROM mutes WHERE nick = ?', key)

    def keep_code(self, resumable):
        """Keep what a resume code stands for (chat/resume.py), by its number."""
        self._change('resumes', resumable.number,
                     'INSERT OR REPLACE INTO resumes VALUES (?, ?, ?, ?, ?, ?, ?)',
                     resumable.number, resumable.hash, resumable.nick, resumable.room,
                     int(resumable.operator), resumable.entered, resumable.ended)

    def drop_code(self, number):
        self._change('resumes', number, 'DELETE FROM resumes WHERE number = ?', number)

    def _change(self, table, key, statement, *values):
        """Queue a change to the row of table that key names: the last one queued for a
        row is the one written (a login storm writes each resume code once a round)."""
        self.changes.pop((table, key), None)     # to the end: the order of its row's last
        self.changes[table, key] = (statement, values)

    def write(self):
        """Write the round's changes in one transaction: the lines said since the last
        write, with the seq counter, and the changes queued. On a failure, say so once and
        go on without them: the chat goes on in memory."""
        lines, self.lines = self.lines, []
        changes, self.changes = self.changes, {}
        statements = {}                # each statement once, for all its rows
        for statement, values in changes.values():
            statements.setdefault(statement, []).append(values)
        if lines:
            self.written = lines[-1].fields['seq']
        try:
            with self.db:
                self.db.executemany('INSERT OR IGNORE INTO said VALUES (?, ?, ?, ?, ?, ?)', [
                    (line.fields['seq'], line.fields['time'], line.fields.get('room'),
                     line.kind, line.fields['from'], line.fields['body'])
                    for line in lines if line.kind != 'private'])   # never on disk
                # The counter only where the said table's last seq would not say it: a
                # private message's is never kept (load() takes the larger of the two).
                if lines and lines[-1].kind == 'private':
                    self._count()
                for statement, rows in statements.items():
                    self.db.executemany(statement, rows)
                if self.keep_days and self.clock() - self.purged > 24 * 3600:
                    deleted = self._purge()
                    log.info('deleted %d lines older than %d days from %s', deleted,
                             self.keep_days, self.path)
        except sqlite3.Error as error:
            if not self.failing:
                log.error('cannot write to %s: %s; the chat goes on, but what is said '
                          'now is not kept', self.path, error)
                self.failing = True
            return
        if self.failing:
            log.info('writing to %s again', self.path)
            self.failing = False

    def _count(self):
        self.db.execute('INSERT OR REPLACE INTO counters VALUES (?, ?)', ('seq', self.written))

    def _purge(self):
        """Delete the lines older than keep_days (in the transaction open); return how many.
        The counter keeps the last seq first: the lines that said it may be among them."""
        self.purged = self.clock()
        self.db.execute("INSERT OR REPLACE INTO counters VALUES ('seq', max("
                        "(SELECT coalesce(max(seq), 0) FROM said), (SELECT coalesce(max(value), "
                        "0) FROM counters WHERE name = 'seq')))")
        return self.db.execute('DELETE FROM said WHERE time < ?',
                               (self.purged - self.keep_days * 24 * 3600,)).rowcount

    def close(self):
        """Write what is queued, and let go of the file."""
        if self.writes:
            self.write()
        self.db.close()
        self._lock.close()


class Said(collections.deque):
    """The server's last lines said (a deque of its RECENT, for /resume), which with a
    database also queues each line appended for the next write: the deque forgets the
    oldest, the database must not, however many are said in a round."""

    def __init__(self, maxlen, store):
        super().__init__(maxlen=maxlen)
        self.store = store

    def append(self, line):
        collections.deque.append(self, line)
        self.store.lines.append(line)


def counted(number, noun):
    """'1 line', '2 lines'."""
    return '%d %s%s' % (number, noun, '' if number == 1 else 's')


class Loaded:
    """What the database held at start: the seq, the last lines said, bans, mutes, codes."""

    seq = 0
    count = 0
    lines = ()
    bans = mutes = resumes = ()


class Writes:
    """A timer of the schedule's (chat/schedule.py): true while lines said or changes wait
    to be written; they are written at the next tick, before that round's output."""

    def __init__(self, store):
        self.store = store

    def __bool__(self):
        return bool(self.store.lines or self.store.changes)

    def next_due(self):
        """At once, while something waits."""
        return 0 if self else None

    def tick(self, now):
        self.store.write()


def open_checked(path):
    """Open path as this program's database, creating the schema in a new file; raise
    StoreError, with the file as it was, if it is not one."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise StoreError('cannot open it: %s' % error) from None
    application_id = None
    try:
        db.isolation_level = ''        # transactions where `with db` says, as sqlite3 begins them
        application_id = db.execute('PRAGMA application_id').fetchone()[0]
        version = db.execute('PRAGMA user_version').fetchone()[0]
        tables = db.execute('SELECT count(*) FROM sqlite_master').fetchone()[0]
        if application_id != APPLICATION_ID and (application_id or version or tables):
            raise StoreError('not a chat database')
        if version > VERSION:
            raise StoreError('written by a newer version of chat (schema %d; this one '
                             'reads %d at most)' % (version, VERSION))
        if tables and db.execute('PRAGMA quick_check').fetchone()[0] != 'ok':
            raise StoreError('damaged')
        if db.execute('PRAGMA journal_mode=WAL').fetchone()[0].lower() != 'wal':
            raise StoreError('cannot use write-ahead logging there')
        db.execute('PRAGMA synchronous=NORMAL')   # WAL: a crash keeps every commit
        if not tables:
            with db:
                db.executescript('BEGIN;' + SCHEMA)
                db.execute('PRAGMA application_id=%d' % APPLICATION_ID)
                db.execute('PRAGMA user_version=%d' % VERSION)
        while version and version < VERSION:
            try:
                with db:
                    db.execute('BEGIN')    # all of a step, or none of it
                    MIGRATIONS[version + 1](db)
                    db.execute('PRAGMA user_version=%d' % (version + 1))
            except sqlite3.OperationalError as error:    # a read-only file, a full disk
                raise StoreError('cannot take it from schema %d to %d (%s)'
                                 % (version, version + 1, error)) from None
            log.info('%s: schema %d taken to %d', path, version, version + 1)
            version += 1
    except sqlite3.DatabaseError as error:        # not SQLite at all, or damaged
        db.close()
        raise StoreError('%s (%s)' % ('damaged' if application_id == APPLICATION_ID
                                      else 'not a chat database', error)) from None
    except BaseException:
        db.close()
        raise
    return db


class _Lock:
    """An open lock file, held until close (or the process ends, kill -9 included)."""

    def __init__(self, file):
        self.file = file

    def close(self):
        self.file.close()


def hold_lock(path):
    """Take the lock beside the database, so that one server at a time uses it; StoreError
    ('in use') if another process holds it. The system lets go of it when the process
    ends, however it ends."""
    file = open(path, 'a+b')
    try:
        if os.name == 'nt':            # Windows: a lock on the file's first byte
            import msvcrt
            file.seek(0)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.close()
        raise StoreError('in use by another running chat server') from None
    return _Lock(file)
