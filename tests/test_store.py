"""The database (--db): what a restart, a crash and a full disk do to the lesson.

Every test runs the real program on a real SQLite file in a temporary folder;
a crash is a real SIGKILL (`Program.kill`), and a full disk is the system's
own limit on the size of the files a process writes (RLIMIT_FSIZE), which
makes SQLite's writes fail as a full disk does, and which the test lifts
again from outside (`resource.prlimit`): no filesystem needs mounting.
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import TIMEOUT, log_in, needs_other_loopbacks

from chat.resume import digest
from chat.store import APPLICATION_ID, VERSION, Store, StoreError

try:
    import resource
except ImportError:                    # Windows: no file size limits to set
    resource = None

pytestmark = pytest.mark.skipif(sys.platform == 'win32', reason='POSIX signals and limits')


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / 'chat.db')


def start(program, db, *args, **options):
    """The program on db, on a free port, telnet only; returns (it, its port)."""
    server = program('--port', '0', '--no-web', '--db', db, '--line-rate', '0', *args,
                     **options)
    return server, server.port()


def transcript(db, *args):
    """chat-server transcript --db db ARGS: (exit code, standard output, standard error)."""
    done = subprocess.run([sys.executable, '-m', 'chat', 'transcript', '--db', db, *args],
                          capture_output=True, text=True, timeout=TIMEOUT)
    return done.returncode, done.stdout, done.stderr


def test_a_crash_in_a_burst_keeps_every_line_a_client_received_once(program, client, db):
    server, port = start(program, db)
    reader = log_in(client(port), 'reader', 'python')
    talker = log_in(client(port), 'talker', 'python')
    reader.sync()
    talker.send(''.join('line %d\r\n' % n for n in range(3000)))
    received = [reader.line() for _ in range(1000)]     # the burst is still going on
    server.kill()                                        # SIGKILL: nothing is flushed
    received += reader.read_to_close()
    received = [line for line in received if line.startswith('talker: ')]
    assert len(received) >= 1000
    server, port = start(program, db)
    found = server.expect(r'state in \S+chat\.db: (\d+) lines, 0 bans, 0 mutes')
    kept = int(found.group(1))
    assert kept >= len(received)
    code, out, _ = transcript(db, '--format', 'json')
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    said = ['talker: ' + row['text'] for row in rows]
    assert said[:len(received)] == received                  # all of them, in order, once
    assert len({row['seq'] for row in rows}) == len(rows) == kept
    late = log_in(client(port), 'late', 'python')
    assert late.ask('/history')[-1] == said[-1]
    late.ask('one more')
    code, out, _ = transcript(db, '--format', 'json')
    assert json.loads(out.splitlines()[-1])['seq'] == max(row['seq'] for row in rows) + 1


@needs_other_loopbacks
def test_bans_and_mutes_hold_across_a_restart(program, client, db, tmp_path):
    ops = tmp_path / 'ops'
    ops.write_text('sesame\n')
    server, port = start(program, db, '--op-password-file', str(ops))
    teacher = log_in(client(port), 'teacher')
    teacher.ask('/op sesame')
    log_in(client(port), 'mallory')
    log_in(client(port, source='127.0.0.2'), 'eve')
    teacher.ask('/mute mallory')
    assert 'banned' in teacher.ask('/ban eve 30')[-1]
    teacher.ask('/unmute nobody')
    server.stop()
    assert server.finish()[0] == 0
    server, port = start(program, db, '--op-password-file', str(ops))
    server.expect(r'state in \S+: \d+ lines?, 1 ban, 1 mute')
    assert 'banned' in client(port, source='127.0.0.2').read_to_close()[-1]
    mallory = log_in(client(port), 'Mallory', 'python')
    assert 'muted' in mallory.ask('hello?')[-1]
    teacher = log_in(client(port), 'teacher')
    teacher.ask('/op sesame')
    assert teacher.ask('/bans')[-1].startswith('127.0.0.2 for 30 more minutes')
    assert teacher.ask('/unban 127.0.0.2')[-1] == '127.0.0.2 may come back.'
    teacher.ask('/unmute mallory')
    server.stop()
    server.finish()
    server, port = start(program, db)
    server.expect(r'state in \S+: \d+ lines?, 0 bans, 0 mutes')


def test_a_second_server_on_the_same_file_is_refused(program, db):
    first, _ = start(program, db)
    second = program('--port', '0', '--no-web', '--db', db)
    code, log = second.finish()
    assert code == 1
    assert log.count('\n') == 1 and 'in use' in log and db in log
    first.stop()
    assert first.finish()[0] == 0


def refused_untouched(program, db, reason):
    """The program refuses db in one line carrying reason, and leaves it byte for byte."""
    with open(db, 'rb') as file:
        before = file.read()
    refused = program('--port', '0', '--no-web', '--db', db)
    code, log = refused.finish()
    assert code == 1 and log.count('\n') == 1 and db in log and reason in log, log
    with open(db, 'rb') as file:
        assert file.read() == before
    # Nothing written: SQLite, reading a file it may not write, leaves an empty WAL beside it.
    assert not os.path.exists(db + '-wal') or os.path.getsize(db + '-wal') == 0


def test_another_programs_database_is_refused_untouched(program, db):
    other = sqlite3.connect(db)
    other.execute('CREATE TABLE notes (text TEXT)')
    other.execute("INSERT INTO notes VALUES ('mine')")
    other.commit()
    other.close()
    refused_untouched(program, db, 'not a chat database')


def test_a_file_that_is_not_sqlite_is_refused_untouched(program, db):
    with open(db, 'w') as file:
        file.write('a shopping list\n' * 200)
    refused_untouched(program, db, 'not a chat database')


def test_a_newer_versions_database_is_refused_untouched(program, db):
    Store(db).close()
    newer = sqlite3.connect(db)
    newer.execute('PRAGMA journal_mode=DELETE')
    newer.execute('PRAGMA user_version=%d' % (VERSION + 1))
    newer.close()
    refused_untouched(program, db, 'newer version')


def test_a_damaged_database_is_refused_untouched(program, db):
    store = Store(db)
    store.db.execute('PRAGMA journal_mode=DELETE')
    with store.db:
        store.db.executemany('INSERT INTO said VALUES (?, ?, ?, ?, ?, ?)', [
            (n, 1.0 * n, 'python', 'say', 'bob', 'x' * 500) for n in range(1, 200)])
    store.close()
    with open(db, 'r+b') as file:    # scribble over the headers of pages 2 to 11
        for page in range(1, 11):
            file.seek(page * 4096)
            file.write(b'\xff' * 16)
    refused_untouched(program, db, 'damaged')


@pytest.mark.parametrize('kind', ['directory', 'fifo', 'unreadable'])
def test_a_path_that_is_no_database_file_is_one_line_and_exit_1(program, db, kind):
    if kind == 'directory':
        os.mkdir(db)
    elif kind == 'fifo':
        if not hasattr(os, 'mkfifo'):
            pytest.skip('no FIFOs here')
        os.mkfifo(db)
    else:
        if not hasattr(os, 'geteuid') or os.geteuid() == 0:
            pytest.skip('root reads a file whatever its mode')
        with open(db, 'w'):
            pass
        os.chmod(db, 0)
    refused = program('--port', '0', '--no-web', '--db', db)
    code, log = refused.finish()
    assert code == 1 and log.count('\n') == 1 and db in log and 'Traceback' not in log, log


def test_a_new_file_gets_this_programs_schema_and_version(db):
    Store(db).close()
    check = sqlite3.connect(db)
    assert check.execute('PRAGMA application_id').fetchone()[0] == APPLICATION_ID
    assert check.execute('PRAGMA user_version').fetchone()[0] == VERSION
    assert check.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
    check.close()
    first = Store(db)
    try:
        with pytest.raises(StoreError, match='in use'):
            Store(db)
    finally:
        first.close()


def kept_again(server, talker, reader):
    """Once the file can be written again: a line said is kept, the log says writing goes
    on, and the server stops cleanly; return its log."""
    talker.send('kept again')
    reader.expect('kept again')
    server.expect('writing to .*chat.db again')
    server.stop()
    code, log = server.finish()
    assert code == 0 and 'Traceback' not in log
    return log


@pytest.mark.skipif(resource is None or not hasattr(resource, 'prlimit'),
                    reason='Linux: prlimit sets another process limit')
def test_a_full_disk_is_said_once_the_chat_goes_on_and_writing_resumes(program, client, db):
    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails, only
        resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, resource.RLIM_INFINITY))

    server, port = start(program, db, preexec_fn=limited)
    reader = log_in(client(port), 'reader', 'python')
    talker = log_in(client(port), 'talker', 'python')
    reader.sync()
    for n in range(60):                 # 60 KB a batch: the WAL passes 200 KB soon
        talker.send(''.join('%d %s\r\n' % (n, 'x' * 1000) for _ in range(60)))
        assert reader.expect('talker: %d ' % n)
    server.expect('cannot write to .*chat.db')
    talker.send('still chatting')
    assert reader.expect('still chatting')[-1] == 'talker: still chatting'
    resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE,
                     (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    log = kept_again(server, talker, reader)
    # Once for each time writing stops, once for each time it works again: a write that
    # fits in pages the file has may work in between, and is said as it happens.
    said = re.findall(r'cannot write to|writing to \S+ again', log)
    assert said[0] == 'cannot write to' and said[-1].startswith('writing to')
    assert all(a != b for a, b in zip(said, said[1:]))
    assert transcript(db)[1].splitlines()[-1].endswith('talker: kept again')


def read_only(path, yes=True):
    """Make a file read-only for the server, and writable again: for root, whom file modes
    do not stop, the immutable flag (chattr +i), which also stops writes to a file already
    open; for anyone else, its mode, which stops only the writes of files opened after."""
    if os.geteuid() == 0:
        subprocess.run(['chattr', '+i' if yes else '-i', path], check=True)
    else:
        os.chmod(path, 0o444 if yes else 0o644)


CHATTR = sys.platform.startswith('linux') and hasattr(os, 'geteuid') and os.geteuid() == 0 \
    and shutil.which('chattr') is not None


needs_read_only = pytest.mark.skipif(
    os.name != 'posix' or (hasattr(os, 'geteuid') and os.geteuid() == 0 and not CHATTR),
    reason='file modes (chattr +i for root, on Linux)')
"""For a test that makes a file read-only for the server (read_only)."""


@needs_read_only
def test_a_read_only_file_is_said_at_start_and_the_chat_goes_on(program, client, db):
    Store(db).close()
    read_only(db)
    try:
        server, port = start(program, db)
        server.expect(r'state in \S+: 0 lines, 0 bans, 0 mutes; cannot write to it')
        reader = log_in(client(port), 'reader', 'python')
        talker = log_in(client(port), 'talker', 'python')
        reader.sync()
        talker.send('said, but not kept')
        assert reader.expect('said, but not kept')[-1] == 'talker: said, but not kept'
        server.stop()
        code, log = server.finish()
    finally:
        read_only(db, False)
    assert code == 0 and 'Traceback' not in log
    assert transcript(db)[1] == ''


@pytest.mark.skipif(not CHATTR, reason='root on Linux: chattr +i stops writes to an open file')
def test_a_file_made_read_only_is_said_once_the_chat_goes_on_and_writing_resumes(
        program, client, db):
    server, port = start(program, db)
    reader = log_in(client(port), 'reader', 'python')
    talker = log_in(client(port), 'talker', 'python')
    reader.sync()
    talker.send('kept first')
    reader.expect('kept first')
    # The file and its WAL; not the -shm, SQLite's index shared in memory, which the server
    # has mapped: a mapped page of an immutable file faults (SIGBUS) when written.
    files = [db, db + '-wal']
    for each in files:
        read_only(each)
    try:
        for n in range(3):
            talker.send('not kept %d' % n)
            assert reader.expect('not kept %d' % n)[-1] == 'talker: not kept %d' % n
        server.expect('cannot write to .*chat.db')
    finally:
        for each in files:
            read_only(each, False)
    log = kept_again(server, talker, reader)
    assert len(re.findall('cannot write to', log)) == 1
    kept = transcript(db)[1]
    assert 'talker: kept first' in kept and kept.splitlines()[-1].endswith('talker: kept again')


VERSION_1 = """
CREATE TABLE said (seq INTEGER PRIMARY KEY, time REAL NOT NULL, room TEXT,
                   kind TEXT NOT NULL, nick TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX said_by_time ON said (time);
CREATE TABLE bans (address TEXT PRIMARY KEY, until REAL);
CREATE TABLE mutes (nick TEXT PRIMARY KEY);
CREATE TABLE resumes (hash BLOB PRIMARY KEY, nick TEXT NOT NULL, room TEXT NOT NULL,
                      operator INTEGER NOT NULL, entered INTEGER NOT NULL, ended REAL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
"""The schema of version 1 (chat 1.5.0 and 1.6.0), as a file of that version has it."""


def version_1_file(db, code):
    """A file as version 1 left it: a line said, a ban, and two resume codes, alice's
    (code) for a session that ended, carol's for one still open when the server stopped."""
    old = sqlite3.connect(db)
    old.execute('PRAGMA journal_mode=WAL')
    old.executescript(VERSION_1)
    old.execute('PRAGMA application_id=%d' % APPLICATION_ID)
    old.execute('PRAGMA user_version=1')
    old.execute("INSERT INTO said VALUES (7, ?, 'python', 'say', 'bob', 'before the upgrade')",
                (time.time() - 60,))
    old.execute("INSERT INTO resumes VALUES (?, 'alice', 'python', 0, 0, ?)",
                (digest(code), time.time() - 30))
    old.execute("INSERT INTO resumes VALUES (?, 'carol', 'write', 0, 0, NULL)",
                (digest('carols-code'),))
    old.execute("INSERT INTO bans VALUES ('10.0.0.9', NULL)")
    old.commit()
    old.close()


def test_a_version_1_file_is_taken_to_this_version_with_all_it_kept(program, client, db):
    code = 'kept-by-version-1-abcdefg'
    version_1_file(db, code)
    server, port = start(program, db)
    server.expect(r'schema 1 taken to 2')
    server.expect(r'state in \S+: 1 line, 1 ban, 0 mutes')
    back = client(port)
    back.expect('/login')
    reply = back.ask('/resume %s 0' % code)
    assert reply[:2] == ['Welcome back, alice!', 'bob: before the upgrade']
    back.ask('after the upgrade')      # seq 8: the counter goes on from the file's
    server.stop()
    assert server.finish()[0] == 0
    check = sqlite3.connect(db)
    assert check.execute('PRAGMA user_version').fetchone()[0] == VERSION
    assert check.execute('SELECT max(seq) FROM said').fetchone()[0] == 8
    assert check.execute('SELECT address FROM bans').fetchall() == [('10.0.0.9',)]
    # alice's code of version 1 was number 1, and used; carol's, number 2, is kept, ended
    # at the start; the one alice's resume gave is number 3.
    assert check.execute('SELECT number, nick, ended IS NOT NULL FROM resumes '
                         'ORDER BY number').fetchall() == [(2, 'carol', 1), (3, 'alice', 1)]
    check.close()


@needs_read_only
def test_a_version_1_file_that_cannot_be_written_is_refused_untouched(program, db):
    version_1_file(db, 'a-code-of-version-1')
    read_only(db)
    try:
        refused_untouched(program, db, 'cannot take it from schema 1 to 2')
    finally:
        read_only(db, False)


def test_keep_days_deletes_the_old_lines_at_start(program, db):
    store = Store(db)
    with store.db:
        store.db.execute("INSERT INTO said VALUES (1, 1000.0, 'python', 'say', 'old', 'x')")
        store.db.execute("INSERT INTO said VALUES (2, 4e9, 'python', 'say', 'new', 'y')")
    store.close()
    server, _ = start(program, db, '--keep-days', '30')
    server.expect(r'state in \S+: 1 line, ')
    server.stop()
    server.finish()
    assert [line.split('] ', 1)[1] for line in transcript(db)[1].splitlines()] == ['new: y']


def test_the_transcript_formats_filters_and_errors(program, client, db):
    _, port = start(program, db)
    alice = log_in(client(port), 'alice', 'python')
    bob = log_in(client(port), 'bob', 'write')
    alice.ask('hello, "python"')
    alice.ask('/me waves')
    bob.ask('in write')
    alice.sync()
    code, out, _ = transcript(db)                        # while the server runs
    assert code == 0
    assert [line.split('] ', 1)[1] for line in out.splitlines()] == [
        'alice: hello, "python"', '* alice waves', 'bob: in write']
    assert all(line.startswith('[20') for line in out.splitlines())
    code, out, _ = transcript(db, '--format', 'csv', '--room', 'python')
    lines = out.splitlines()
    assert lines[0] == 'seq,time,room,kind,nick,text'
    assert lines[1].endswith(',python,say,alice,"hello, ""python"""')
    assert lines[2].endswith(',python,me,alice,waves') and len(lines) == 3
    assert transcript(db, '--since', '2999-01-01')[1] == ''
    assert transcript(db, '--until', '00:00', '--since', '2000-01-01 00:00')[0] == 0
    code, _, err = transcript(db, '--since', 'yesterday')
    assert code == 2 and err.count('\n') == 1
    code, _, err = transcript(db + '.missing')
    assert code == 1 and err.count('\n') == 1


def test_every_line_of_a_crowded_round_is_kept(program, client, db):
    """40 talkers send 40 lines each at once, 1600 lines, more than the server keeps in
    memory (RECENT): each is written, whatever rounds they fall in."""
    server, port = start(program, db)
    reader = log_in(client(port), 'reader', 'python')
    talkers = [log_in(client(port), 'talker%d' % n, 'python') for n in range(40)]
    reader.sync()
    for n, talker in enumerate(talkers):
        talker.send(''.join('%d.%d\r\n' % (n, line) for line in range(40)))
    reader.expect_all(*('talker%d: %d.39' % (n, n) for n in range(40)))
    server.stop()
    assert server.finish()[0] == 0
    assert len(transcript(db)[1].splitlines()) == 1600
