"""Nicknames: what may be one, when two are the same, and what is shown.

The rules hold for /login and /nick alike: case and width do not make a
name new, lookalikes and blanks are refused, the name shown is as typed.
"""

import pytest

from chat.rooms import IGNORABLE


@pytest.mark.parametrize('nickname', [
    'x' * 21, 'two words', 'col:on', '/slash', 'bad\ufffd', 'no\u3000space'])
def test_bad_nickname_gets_the_rule(connect, nickname):
    client = connect()
    [reply] = client.ask('/login ' + nickname)
    assert '1 to 20 characters' in reply
    assert 'log in' in client.ask('/python')[0]        # still not logged in


@pytest.mark.parametrize('nickname', ['x' * 20, '小明', 'Zoë', 'a', 'R2-D2'])
def test_good_nickname_is_taken(connect, nickname):
    [reply, *_] = connect().ask('/login ' + nickname)
    assert reply == 'Welcome, %s! You are in the hall.' % nickname


def test_nickname_is_normalised_to_nfc(login, connect):
    login('Zo\u00eb')                                       # composed
    [reply] = connect().ask('/login Zoe\u0308')            # decomposed: the same name
    assert 'taken' in reply


def test_nickname_in_use_is_taken_whatever_its_case(login, connect):
    login('Alice')
    [reply] = connect().ask('/login aLICE')
    assert 'taken' in reply


def test_nick_follows_the_nickname_rules_and_taken(login):
    alice, bob = login('alice'), login('bob')
    assert 'is taken' in alice.ask('/nick BOB')[0]
    assert 'is taken' in alice.ask('/nick ｂｏｂ')[0]         # fullwidth
    assert alice.ask('/nick two words')[0].startswith('A nickname is 1 to 20 characters')
    assert alice.ask('/nick') == ['Usage: /nick <nickname>']
    assert bob.ask('/msg alice still me?') == ['To alice, privately: still me?']


def test_nick_to_your_own_name_in_another_case_is_allowed(login):
    alice = login('alice')
    assert alice.ask('/nick Alice') == ['You are now Alice.']
    assert alice.ask('/nick Alice') == ['You are Alice already.']
    assert alice.ask('/who')[1] == 'Alice in hall'


@pytest.mark.parametrize('lookalike', ['ALICE', 'ａｌｉｃｅ', 'Ａlice', 'ＡＬＩＣＥ'])
def test_a_nickname_in_another_case_or_width_is_taken(login, connect, lookalike):
    login('alice')
    [reply] = connect().ask('/login ' + lookalike)
    assert reply == 'The nickname %s is taken; please choose another.' % lookalike


def test_the_name_shown_is_the_one_typed(login):
    alice = login('Ａlice')                                       # fullwidth A
    assert alice.ask('/who')[1] == 'Ａlice in hall'
    bob = login('bob')
    assert bob.ask('/msg alice hi') == ['To Ａlice, privately: hi']


@pytest.mark.parametrize('name', ['teach\u0435r', '\u3164', '\u0301\u0301', 'p\u0430ypal',
                                  '\u2800'])
def test_a_nickname_that_passes_for_another_or_shows_as_nothing_is_refused(connect, name):
    assert connect().ask('/login ' + name)[0].startswith('A nickname is')


@pytest.mark.parametrize('code', sorted({code for first, last in IGNORABLE
                                          for code in (first, (first + last) // 2, last)}))
def test_a_nickname_with_an_ignorable_code_point_is_refused(connect, code):
    """teacher with one of them after it shows as teacher: an operator's look-alike. (The
    bidirectional controls among them never reach the command: every line is cleaned of
    them first, and the nickname is then teacher itself.)"""
    reply = connect().ask('/login teacher' + chr(code))[0]
    assert reply.startswith(('A nickname is', 'Welcome, teacher! '))


@pytest.mark.parametrize('name', ['a\u0301', 'Zo\u0308e', '\u0e01\u0e31\u0e49',
                                  '\u0915\u093f', 'x\u0301\u0302\u0303'])
def test_marks_on_a_letter_are_a_nickname(connect, name):
    assert connect().ask('/login ' + name)[0].startswith('Welcome, ')


@pytest.mark.parametrize('name', ['-\u0301', 'ab \u0301', 'x\u0301\u0302\u0303\u0304',
                                  '\u2605\u20dd', '!\u0338'])
def test_a_mark_on_no_letter_or_digit_or_a_stack_of_them_is_refused(connect, name):
    assert connect().ask('/login ' + name)[0].startswith('A nickname is')


@pytest.mark.parametrize('name', ['[announcement]', '[private]'])
def test_a_nickname_may_not_look_like_the_servers_own_lines(connect, name):
    assert connect().ask('/login ' + name)[0].startswith('A nickname is')
