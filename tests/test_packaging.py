"""Where asyncore and asynchat come from: the standard library to 3.11, the backports after."""

import asynchat
import asyncore
import os
import sys
import sysconfig

from chat.server import Server
from chat.session import ChatSession


def _from_stdlib(module):
    stdlib = os.path.realpath(sysconfig.get_paths()['stdlib'])
    return os.path.realpath(module.__file__).startswith(stdlib + os.sep)


def test_modules_come_from_the_standard_library_or_the_backports():
    from_stdlib = sys.version_info < (3, 12)
    assert _from_stdlib(asyncore) is from_stdlib
    assert _from_stdlib(asynchat) is from_stdlib


def test_the_design_classes_stand_on_those_modules():
    assert issubclass(Server, asyncore.dispatcher)
    assert issubclass(ChatSession, asynchat.async_chat)
