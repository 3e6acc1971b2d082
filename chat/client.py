"""chat-client: a window onto the chat server, for machines with no telnet.

    chat-client [HOST] [PORT]          (or: python -m chat.client)

macOS has shipped without telnet since 10.13, and Windows ships its Telnet
Client turned off, so this is what a learner opens instead. It needs only the
standard library's tkinter, and is shaped like the client of the tutorial the
design comes from (wxPython, with telnetlib inside: neither runs today): a
form asks for the host, the port and a nickname; then the window shows the
conversation, sends a line on Enter, has a button for each command of the
room the user is in, and a status line that reports a lost connection and
offers to reconnect.

One thread does everything. Tk's `after` runs `poll` every POLL_MS
milliseconds: it asks select() whether the socket has data, without waiting,
and shows each complete line. The other usual design, a thread that reads
the socket and hands lines to Tk through a queue, needs a thread, a queue and
care that only one thread calls Tk; this one needs none of them, and it is
the server's own idea at a small scale: never wait, ask what is ready. It
costs a line up to POLL_MS of delay.

The buttons come from the server. Whenever it sends the list of a room's
commands (the block /help prints, also sent after login), the buttons are
made again from it, so a command a teacher adds to a room appears here with
no change to the client. On entering a room the client asks for that list,
and again when /op makes the user an operator, whose list is longer: /kick,
/mute, /ban... become buttons too.

The login waits for the server's welcome, which says how to log in. When the
class has a password the welcome says so, and only then does a login bar
appear above the input line: the nickname, the class password (shown as
stars) and a Log in button. The form cannot ask for it, as it is filled in
before the client knows whether the class has a password, and a field that is
there for nothing puzzles the classes that have none. The same bar serves a
retry: a wrong password is shown as the server says it, and the bar stays
for the next try (the third wrong one closes the connection; Reconnect opens
another). A password is never shown: the input line shows stars while a
/login or /op line is typed, from the space that starts the password; the
echo of such a line, typed or sent by the bar, has stars in its place; and
nothing is logged. The class password last sent is kept in memory, for
Reconnect to log in with again.

A dropped connection comes back by itself. Once logged in, the client asks
the server for its resume code (/resume, the reply not shown) and keeps it in
memory only, as it keeps the password. When the connection ends without the
server saying why it ends it (a /logout, a kick, a ban, a shutdown), the
client connects again on its own, after about 1, 2, 4... up to 30 seconds
(each wait a little random, so that a class whose Wi-Fi dropped at once does
not come back at once), for as long as the server said the code holds; and
on the welcome it sends /resume CODE instead of /login. The server then puts
the user back as they were: the same nickname, room and operator status; the
window says it is connected again and asks for the new code. The telnet side
numbers no lines, so the client cannot say which it saw last (/resume CODE
SEQ): what was said while it was away is not replayed, and /history shows it.
A code the server no longer knows (it restarted with no --db, say) is
answered as a wrong password is, and the client logs in as it did before; a
nickname someone took meanwhile is told, and the user picks another. After
a shutdown the window does not knock by itself, but it keeps the code: a
server restarted with --db knows it still, and Reconnect resumes with it.

What the client learns from the server's words is in the patterns below,
each named: the server has no other way to tell a line client what a line
means.
"""

import argparse
import random
import re
import select
import socket
import sys
import time

try:
    import tkinter as tk
    from tkinter import scrolledtext
except ImportError:                    # a Python built without Tk
    tk = None

NO_TKINTER = ('chat-client needs tkinter, which this Python lacks: apt install python3-tk '
              "(Debian, Ubuntu), brew install python-tk (macOS), or the installer's tcl/tk "
              'option (Windows); or chat with: nc HOST PORT')

POLL_MS = 50
"""Milliseconds between two looks at the socket."""

READS_PER_POLL = 8
"""recv() calls per look at most, so a flood of lines cannot freeze the window."""

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the server to answer a connection, and for a send to go out."""

HELP_HEADING = 'Commands here:'
"""The line before the list of a room's commands."""

ENTERED = re.compile(r'You are in the (?:room (?P<room>[^.\s]+)|hall)\b')
"""The server's reply on entering a room or the hall."""

WELCOME = re.compile(r'Welcome, (?P<nickname>\S+)! You are in the hall\.|'
                     r'Welcome back, (?P<back>\S+)!$|'
                     r'You are now (?P<renamed>\S+)\.$')
"""The server's reply to a login, a /resume CODE or a /nick that worked."""

LOGIN_USAGE = '/login <nickname>'
"""In the welcome: the client logs in when it sees it; with the word password
in the line as well, the class has a password."""

WRONG_PASSWORD = 'Wrong password'
"""The server's reply to a wrong password (the third also says goodbye)."""

OPERATOR = 'You are an operator now'
"""The server's reply to an /op that worked: the commands have changed."""

SECRET = re.compile(r'(?P<shown>/(?:login\s+\S+|op|resume))\s+(?P<secret>\S.*)',
                    re.IGNORECASE)
"""A line that carries a secret: /login NICKNAME PASSWORD, /op PASSWORD, /resume CODE."""

TYPING_SECRET = re.compile(r'/(?:login\s+\S+|op|resume)\s', re.IGNORECASE)
"""The start of such a line: from there on, the input line shows stars as it is typed."""

MASK = '******'
"""What the conversation shows for a password, whatever its length."""

RESUME_CODE = re.compile(r'Your resume code: (?P<code>[\w-]+)\. .* for (?P<seconds>\d+) seconds')
"""The server's reply to /resume: the code, and how long after a drop it holds."""

RESUME_REFUSED = re.compile(r'(?P<expired>That resume code is unknown or expired)|'
                            r'The nickname \S+ is taken now')
"""The server's reply to a /resume CODE that did not work: the code is void, or someone
else has the nickname now."""

ENDED = re.compile(r'(?P<shutdown>The server is shutting down)|Goodbye!|You were kicked by |'
                   r'You are banned from |Sorry, your address is banned')
"""The server's last line when it ends a connection on purpose: a /logout, a kick or a ban
(the code is void: the window stays out), or a shutdown (it stays out too, but a server
restarted with --db knows the code still, for Reconnect)."""

RETRY_FIRST = 1.0
RETRY_MOST = 30.0
"""Seconds before the first try to connect again after a drop, and the most between two
tries: the wait doubles from one to the next."""

RETRY_JITTER = 0.25
"""Each wait is up to this fraction longer or shorter, at random."""

BUTTONS_PER_ROW = 6


def masked(line):
    """line as the conversation may show it: a password in it as MASK."""
    secret = SECRET.match(line)
    return '%s %s' % (secret.group('shown'), MASK) if secret else line


class ChatClient:
    """The connect form, then the conversation, in one Tk window."""

    def __init__(self, root, host='localhost', port=5000):
        self.root = root
        self.sock = None
        self.received = b''            # bytes after the last complete line
        self.address = None            # (host, port) of the connection
        self.nickname = ''
        self.password = ''             # the class password last sent: in memory only
        self._welcomed = False         # the welcome's login line has come
        self.room = None               # the room, None before login
        self.commands = []             # [(name, takes an argument)], one button each
        self._listing = None           # the command list being received, or None
        self._quiet = False            # that list was asked for by the client: not shown
        self._asked = 0                # lists asked for by the client, still to come
        self._after = None             # the scheduled poll
        self._last_line = ''           # the server's last line on this connection
        self.resume_code = None        # to come back as we are after a drop: in memory only
        self._resume_seconds = 0       # how long after a drop the server keeps it
        self._code_asked = 0           # /resume asked by the client, reply still to come
        self._resuming = False         # this connection is to resume with the code
        self._wants_password = False   # the welcome asked for the class password
        self._retry = None             # the scheduled try to connect again
        self._tries = 0                # tries to connect again since the drop
        self._give_up = None           # time.monotonic() after which no more tries
        root.title('chat')
        root.protocol('WM_DELETE_WINDOW', self.quit)
        self._make_form(host, port)
        self._make_conversation()
        self.form.pack(padx=12, pady=12)

    # ---- the window

    def _make_form(self, host, port):
        self.form = tk.Frame(self.root)
        self.host = tk.StringVar(value=host)
        self.port = tk.StringVar(value=str(port))
        self.nick = tk.StringVar()
        self.form_message = tk.StringVar()
        for row, (label, variable) in enumerate(
                (('Host', self.host), ('Port', self.port), ('Nickname', self.nick))):
            tk.Label(self.form, text=label).grid(row=row, column=0, sticky='e', pady=2)
            entry = tk.Entry(self.form, textvariable=variable, width=28)
            entry.grid(row=row, column=1, pady=2)
            entry.bind('<Return>', lambda event: self.connect())
        self.nick_entry = entry
        self.connect_button = tk.Button(self.form, text='Connect', command=self.connect)
        self.connect_button.grid(row=3, column=1, sticky='e', pady=(8, 0))
        tk.Label(self.form, textvariable=self.form_message, fg='firebrick',
                 wraplength=320, justify='left').grid(row=4, column=0, columnspan=2)
        self.nick_entry.focus_set()

    def _make_conversation(self):
        self.chat = tk.Frame(self.root)
        self.conversation = scrolledtext.ScrolledText(
            self.chat, width=80, height=20, wrap='word', state='disabled')
        self.conversation.tag_configure('mine', foreground='navy')
        self.conversation.tag_configure('note', foreground='gray40')
        self.conversation.pack(fill='both', expand=True)
        self.button_bar = tk.Frame(self.chat)
        self.button_bar.pack(fill='x', pady=4)
        self.buttons = {}              # '/name' -> its button
        self.login_bar = tk.Frame(self.chat)       # packed when the class password is asked
        tk.Label(self.login_bar, text='Nickname').pack(side='left')
        nick_entry = tk.Entry(self.login_bar, textvariable=self.nick, width=16)
        nick_entry.pack(side='left', padx=(4, 12))
        tk.Label(self.login_bar, text='Class password').pack(side='left')
        self.password_entry = tk.Entry(self.login_bar, show='*', width=16)
        self.password_entry.pack(side='left', padx=4)
        for entry in (nick_entry, self.password_entry):
            entry.bind('<Return>', lambda event: self.log_in())
        self.login_button = tk.Button(self.login_bar, text='Log in', command=self.log_in)
        self.login_button.pack(side='left')
        self.input_line = tk.Frame(self.chat)
        self.input_line.pack(fill='x')
        self.line = tk.StringVar()
        self.line.trace_add('write', self._mask_line)
        self.entry = tk.Entry(self.input_line, textvariable=self.line)
        self.entry.pack(side='left', fill='x', expand=True)
        self.entry.bind('<Return>', lambda event: self.send_typed())
        tk.Button(self.input_line, text='Send', command=self.send_typed).pack(
            side='left', padx=(4, 0))
        bottom = tk.Frame(self.chat)
        bottom.pack(fill='x', pady=(4, 0))
        self.status = tk.StringVar()
        tk.Label(bottom, textvariable=self.status, anchor='w').pack(
            side='left', fill='x', expand=True)
        self.reconnect_button = tk.Button(bottom, text='Reconnect', command=self.reconnect)

    def show(self, text, tag=None):
        """Add a line to the conversation, and scroll to it."""
        self.conversation.configure(state='normal')
        self.conversation.insert('end', text + '\n', tag)
        self.conversation.configure(state='disabled')
        self.conversation.see('end')

    def _set_buttons(self, commands):
        """Make one button per command: it sends the command, or starts typing it."""
        if commands == self.commands:
            return
        self.commands = list(commands)     # a copy: the list being received may grow
        for button in self.buttons.values():
            button.destroy()
        self.buttons = {}
        for number, (name, takes_argument) in enumerate(commands):
            command = '/' + name
            button = tk.Button(self.button_bar, text=command,
                               command=lambda c=command, a=takes_argument: self.click(c, a))
            button.grid(row=number // BUTTONS_PER_ROW, column=number % BUTTONS_PER_ROW,
                        sticky='we', padx=1, pady=1)
            self.buttons[command] = button

    def click(self, command, takes_argument):
        """A command button: send it, or put it in the input line to be finished."""
        if takes_argument:
            self.entry.delete(0, 'end')
            self.entry.insert(0, command + ' ')
            self.entry.focus_set()
        else:
            self.send(command, echo=True)

    def _ask_password(self):
        """Show the login bar, the cursor in its password field."""
        if not self.login_bar.winfo_manager():
            self.login_bar.pack(fill='x', pady=(0, 4), before=self.input_line)
        self.password_entry.focus_set()

    def _hide_login_bar(self):
        if self.login_bar.winfo_manager():
            self.login_bar.pack_forget()
            self.entry.focus_set()

    def log_in(self):
        """The login bar's Log in: /login NICKNAME PASSWORD, echoed with the password masked."""
        nickname = self.nick.get().strip()
        password = self.password_entry.get().strip()
        if not nickname or not password:
            self.status.set('Please fill in a nickname and the class password.')
            return
        self.password_entry.delete(0, 'end')
        self.nickname = nickname
        self._title()
        self.send('/login %s %s' % (nickname, password), echo=True)

    def _title(self):
        where = ' in %s' % self.room if self.room else ''
        self.root.title('chat: %s%s' % (self.nickname, where))

    # ---- the connection

    def connect(self):
        """The form's Connect: open the connection, show the conversation, log in."""
        host = self.host.get().strip()
        nickname = self.nick.get().strip()
        try:
            port = int(self.port.get())
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            self.form_message.set('The port is a number from 1 to 65535.')
            return
        if not host or not nickname:
            self.form_message.set('Please fill in the host and a nickname.')
            return
        self.form_message.set('Connecting to %s port %d...' % (host, port))
        self.root.update_idletasks()
        if not self._open(host, port):
            self.form_message.set(self.status.get())
            return
        self.nickname = nickname
        self.form.pack_forget()
        self.chat.pack(fill='both', expand=True, padx=8, pady=8)
        self._title()
        self.entry.focus_set()         # the login goes when the welcome comes

    def reconnect(self):
        """The status line's Reconnect: the same server, the same nickname; resuming, with
        a code kept."""
        self._cancel_retry()
        self.reconnect_button.pack_forget()
        if self._open(*self.address):
            self.show('(connected again)', 'note')     # the welcome brings the login
        else:
            self.reconnect_button.pack(side='right')

    def _retry_later(self):
        """After a drop: try to connect again in a while, the waits doubling; or, once the
        code has surely expired, stop and leave it to Reconnect."""
        if time.monotonic() >= self._give_up:
            self.status.set(self.status.get() + ' Press Reconnect to try again.')
            return False
        wait = min(RETRY_MOST, RETRY_FIRST * 2 ** self._tries)
        wait *= random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
        self._tries += 1
        self.status.set(self.status.get() + ' Connecting again in %d s...' % max(1, wait))
        self._retry = self.root.after(int(wait * 1000), self._try_again)
        return True

    def _try_again(self):
        self._retry = None
        if self._open(*self.address):
            self.reconnect_button.pack_forget()
        else:
            self._retry_later()

    def _cancel_retry(self):
        if self._retry is not None:
            self.root.after_cancel(self._retry)
            self._retry = None

    def _open(self, host, port):
        """Connect to host:port; say in the status line how it went."""
        try:
            self.sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as error:
            self.status.set('Cannot connect to %s port %d: %s'
                            % (host, port, error.strerror or error))
            return False
        self.address = (host, port)
        self.received = b''
        self.room = None
        self._welcomed = False
        self._asked = 0
        self._code_asked = 0
        self._last_line = ''
        self._resuming = self.resume_code is not None
        self._title()
        self.status.set('Connected to %s port %d.' % (host, port))
        self._after = self.root.after(POLL_MS, self.poll)
        return True

    def poll(self):
        """Read what the server has sent, without waiting; show each complete line."""
        self._after = None
        ended = None
        try:
            for _ in range(READS_PER_POLL):
                if not select.select([self.sock], [], [], 0)[0]:
                    break
                data = self.sock.recv(65536)
                if not data:
                    ended = 'the server closed the connection.'
                    break
                self.received += data
        except OSError as error:
            ended = error.strerror or str(error)
        *lines, self.received = self.received.split(b'\r\n')
        for data in lines:
            self.receive(data.decode('utf-8', 'replace'))
        if self._listing:
            self._set_buttons(self._listing)     # the list may go on in the next read
        if ended:
            self.lost(ended)
        elif self.sock is not None:
            self._after = self.root.after(POLL_MS, self.poll)

    def receive(self, line):
        """Show a line from the server, and learn the room and its commands from it."""
        self._last_line = line
        if self._listing is not None:
            if line.startswith('/'):
                usage = line.split()
                self._listing.append((usage[0][1:], len(usage) > 1 and usage[1][0] == '<'))
                if self._quiet:
                    return
            else:
                self._set_buttons(self._listing)
                self._listing = None
        if line == HELP_HEADING:
            self._listing = []
            self._quiet = self._asked > 0
            if self._quiet:
                self._asked -= 1
                return
        code = RESUME_CODE.match(line)
        if code:
            self.resume_code = code.group('code')
            self._resume_seconds = int(code.group('seconds'))
            if self._code_asked:       # asked by the client: not shown
                self._code_asked -= 1
                return
        self.show(line)
        welcome = WELCOME.match(line)
        if welcome:
            back = welcome.group('back')
            self.nickname = welcome.group('nickname') or welcome.group('renamed') or back
            self.room = self.room if welcome.group('renamed') else 'hall'
            self._title()
            self._hide_login_bar()
            if not welcome.group('renamed'):       # logged in: a code, for a drop
                self._logged_in(back)
        elif self.room is None:
            self._before_login(line)
        entered = ENTERED.match(line)
        if entered:
            self.room = entered.group('room') or 'hall'
            self._title()
        if entered or line.startswith(OPERATOR):
            self._asked += 1
            self.send('/help')         # the commands now, for the buttons only

    def _logged_in(self, back):
        """Logged in, or back after a drop: ask for the resume code, quietly."""
        self._resuming = False
        self._tries = 0
        self._give_up = None
        self._code_asked += 1
        self.send('/resume')
        if back:
            self.status.set('Connected again to %s port %d as %s.'
                            % (self.address[0], self.address[1], back))
            self.show('(connected again as %s)' % back, 'note')

    def _before_login(self, line):
        """Log in when the welcome asks, or resume; show the login bar when a password is
        wanted."""
        wants_password = 'password' in line.lower()
        if LOGIN_USAGE in line and not self._welcomed:
            self._welcomed = True
            self._wants_password = wants_password
            if self._resuming:
                self.send('/resume ' + self.resume_code)
                return
            if self._log_in_again(wants_password):
                return
        refused = RESUME_REFUSED.match(line) if self._resuming else None
        if refused:                    # as before resume codes: log in, or ask
            self._resuming = False
            self.resume_code = None
            if refused.group('expired') and self._log_in_again(self._wants_password):
                return
            wants_password = self._wants_password
        if line.startswith(WRONG_PASSWORD):
            self.password = ''
        if wants_password:
            self._ask_password()

    def _log_in_again(self, wants_password):
        """Log in with the nickname, and the class password if one is wanted and known;
        whether it could."""
        if not wants_password:
            self.send('/login ' + self.nickname)
        elif self.password:            # Reconnect: the password sent before
            self.send('/login %s %s' % (self.nickname, self.password))
        else:
            return False
        return True

    def send(self, line, echo=False):
        """Send a line to the server; show it in the conversation if echo."""
        if self.sock is None:
            self.status.set('Not connected: press Reconnect first.')
            return
        secret = SECRET.match(line)
        if secret and secret.group('shown').lower().startswith('/login'):
            self.password = secret.group('secret').strip()
        if echo:
            self.show('> ' + masked(line), 'mine')
        try:
            self.sock.sendall((line + '\r\n').encode('utf-8'))
        except OSError as error:
            self.lost(error.strerror or str(error))

    def _mask_line(self, *trace):
        """Stars in the input line while it carries a password: a class may see the screen."""
        self.entry.configure(show='*' if TYPING_SECRET.match(self.line.get()) else '')

    def send_typed(self):
        """Enter or Send: send what was typed, a line at a time."""
        for line in self.entry.get().splitlines():
            if line.strip():
                self.send(line, echo=True)
        self.entry.delete(0, 'end')

    def lost(self, reason):
        """The connection is over: say why, and offer to reconnect; after a drop, try to
        resume by itself."""
        if self.sock is None:
            return                     # said already
        self._close()
        self._listing = None
        self._resuming = False
        self._hide_login_bar()
        self.status.set('Connection lost: %s.' % reason.rstrip('.'))
        self.show('(connection lost: %s)' % reason, 'note')
        self.reconnect_button.pack(side='right')
        ended = ENDED.match(self._last_line)
        if ended and not ended.group('shutdown'):
            self.resume_code = None    # put out, or logged out: the code is void
        if self.resume_code is None or ended:
            return
        if self._give_up is None:      # the first try since the drop
            self._give_up = time.monotonic() + self._resume_seconds
        self._retry_later()

    def _close(self):
        if self._after is not None:
            self.root.after_cancel(self._after)
            self._after = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def quit(self):
        """The window is closed: close the connection too."""
        self._cancel_retry()
        self._close()
        self.root.destroy()


def _port(text):
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(text)
    return port


_port.__name__ = 'port number'


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='chat-client', description='A window onto the chat server, for machines '
                                        'without telnet.')
    parser.add_argument('host', nargs='?', default='localhost',
                        help='the server (default: %(default)s)')
    parser.add_argument('port', nargs='?', type=_port, default=5000,
                        help='its port (default: %(default)s)')
    args = parser.parse_args(argv)
    if tk is None:
        print(NO_TKINTER, file=sys.stderr)
        return 1
    try:
        root = tk.Tk()
    except tk.TclError as error:       # no display to open a window on
        print('chat-client: cannot open a window: %s' % error, file=sys.stderr)
        return 1
    ChatClient(root, args.host, args.port)
    root.mainloop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
