"""The command dispatch of the design: `EndSession` and `CommandHandler`.

Conventions, as in the standard library's cmd.Cmd:

1. A line starting with "/" is a command: "/NAME ARG" runs the method
   do_NAME(session, ARG) of the room the session is in, ARG stripped ("" when
   there is none). A room answers only its own do_* methods.
2. Any other line is chat, handed to the room's do_broadcast; in a room
   without one, to `text`, which says why nobody hears it.
3. A do_* method's docstring is its help: "USAGE: DESCRIPTION", as in
   "login <nickname>: log in under a nickname.". /help lists every do_* method
   of the room from these lines, so a new command needs no other change.
4. A command that ends the session raises EndSession.
5. A do_* method marked @operator_only is for operators: anyone else who
   types it is told so, and /help lists it to operators only.
"""


def whole_number(text):
    """The whole number text is, in ASCII digits, or None: never an exception, whatever
    the text (`'²'.isdigit()` is true, and `int('²')` raises)."""
    return int(text) if text.isascii() and text.isdigit() else None


def operator_only(method):
    """Mark a do_* method as an operators' command (see the module's convention 5)."""
    method.operator_only = True
    return method


class EndSession(Exception):
    """Raised by a command to end the session (the design's exception class)."""


class CommandHandler:
    """Dispatch each line to a do_* method found by getattr."""

    def handle(self, session, line):
        """Run one line from session: a command, or chat."""
        if not line:
            return
        if line.startswith('/'):
            cmd, _, arg = line[1:].partition(' ')
            self.command(session, cmd, arg.strip())
        else:                          # chat: the room's do_broadcast, as in the design
            getattr(self, 'do_broadcast', self.text)(session, line)

    def command(self, session, cmd, arg):
        """Run do_<cmd>, or tell the user there is no such command here."""
        meth = getattr(self, 'do_' + cmd, None)
        if meth is None:
            self.unknown(session, cmd)
            return
        if getattr(meth, 'operator_only', False) and not session.operator:
            session.push('/%s is for operators only.' % cmd)
            return
        # Called outside any try: the design's try around this call, meant
        # for a missing command, also caught every TypeError inside one.
        meth(session, arg)

    def text(self, session, line):
        """Plain text in a room without do_broadcast: nobody hears it."""
        session.push('Nobody hears you here.')

    def unknown(self, session, cmd, hint='type /help for the commands'):
        """Tell the user the command was not found (the design's `unknow`)."""
        session.push('Unknown command: /%s (%s)' % (cmd, hint))

    def usage(self, session, cmd):
        """Tell the user how to type cmd, from its docstring."""
        session.push('Usage: /%s' % self.help_entry(cmd)[0])

    def help_entry(self, cmd):
        """Return (usage, description) for cmd, from the first line of its docstring."""
        doc = (getattr(self, 'do_' + cmd).__doc__ or '').strip()
        first = doc.splitlines()[0] if doc else ''
        usage, colon, description = first.partition(': ')
        if not colon:
            return cmd, first
        return usage, description

    def commands(self, operator=False):
        """Return the names of this room's commands, in alphabetical order: an operator's
        included if operator is true."""
        return sorted(name[3:] for name in dir(self) if name.startswith('do_')
                      and (operator or not getattr(getattr(self, name), 'operator_only', False)))

    def help_lines(self, operator=False):
        """Return the lines of /help, built from the do_* docstrings once per class."""
        lines = _HELP.get((type(self), operator))
        if lines is None:
            entries = [self.help_entry(cmd) for cmd in self.commands(operator)]
            width = max(len(usage) for usage, _ in entries) + 1
            lines = ['Commands here:'] + [
                ('/%-*s %s' % (width, usage, description)).rstrip()
                for usage, description in entries]
            _HELP[type(self), operator] = lines
        return lines

    def command_list(self, operator=False):
        """Return the commands as a chat.events client reads them: a list of objects with
        name, usage and help, built once per class, as help_lines is."""
        entries = _LISTS.get((type(self), operator))
        if entries is None:
            entries = [{'name': cmd, 'usage': usage, 'help': description}
                       for cmd in self.commands(operator)
                       for usage, description in [self.help_entry(cmd)]]
            _LISTS[type(self), operator] = entries
        return entries

    def do_help(self, session, line):
        """help: list the commands of this room."""
        for help_line in self.help_lines(session.operator):
            session.push(help_line)


_HELP = {}
"""Each room class's /help lines, for others and for operators: they never change."""

_LISTS = {}
"""Each room class's commands as objects, for others and for operators."""
