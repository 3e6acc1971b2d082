"""docs/deploy.md stays true: its systemd unit is valid, and runs a command this server takes."""

import os
import pathlib
import re
import shlex
import shutil
import subprocess

import pytest
from conftest import TIMEOUT, installed_script

from chat.__main__ import parse_args

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / 'docs' / 'deploy.md'


def unit():
    """The unit file shown in docs/deploy.md."""
    match = re.search(r'<!-- systemd unit -->\n```ini\n(.*?)```', DEPLOY.read_text('utf-8'), re.S)
    assert match, 'docs/deploy.md has no systemd unit'
    return match.group(1)


def exec_start(text):
    [line] = [line for line in text.splitlines() if line.startswith('ExecStart=')]
    return shlex.split(line[len('ExecStart='):])


def test_the_unit_runs_chat_server_with_options_it_takes():
    command = exec_start(unit())
    assert os.path.basename(command[0]) == 'chat-server'
    args = parse_args(command[1:])
    assert args.host == '0.0.0.0'


@pytest.mark.skipif(shutil.which('systemd-analyze') is None,
                    reason='no systemd-analyze here: the unit is checked where systemd is')
def test_systemd_analyze_verify_finds_nothing_wrong_with_the_unit(tmp_path):
    # The unit names the server installed in /opt/chat; here it is the one beside this Python.
    server = installed_script('chat-server')
    text = unit().replace(exec_start(unit())[0], server)
    path = tmp_path / 'chat.service'
    path.write_text(text, encoding='utf-8')
    done = subprocess.run(['systemd-analyze', 'verify', '--man=no', str(path)],
                          capture_output=True, text=True, timeout=TIMEOUT * 4)
    assert done.returncode == 0, done.stderr
    assert done.stderr == '', done.stderr       # unknown keys are only warnings there
