"""The docs stay true: every code excerpt is still in the file it names, and every
example session, replayed against a live server, gets the answers it shows.

A block marked `<!-- original -->` on the line before its fence quotes the original
design's code, not this project's: those were checked once, by hand, against the
original, which never changes, and are not looked for in `chat/`.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))

# A code block after a blank line: an excerpt, whose paragraph before it must name its
# file as a link and end with a colon: "From [chat/rooms.py](../chat/rooms.py):".
EXCERPT = re.compile(r'\n\n```python\n(.*?)```', re.S)
SOURCE = re.compile(r'\[([\w./-]+\.py)\]\([^)]*\)\s*[:：]\s*$')
TRANSCRIPT = re.compile(r'<!-- transcript((?: [\w-]+=\S+)*) -->\n```text\n(.*?)```', re.S)
"""A transcript to replay, after the server's passwords if it has them:
<!-- transcript password=PASSWORD op-password=PASSWORD -->."""
ORIGINAL = re.compile(r'<!-- original -->\n```python\n(.*?)```', re.S)
WALKTHROUGHS = [ROOT / 'docs' / 'walkthrough.md', ROOT / 'docs' / 'walkthrough.zh-CN.md']


def squeeze(text):
    return ' '.join(text.split())


def excerpts_in(text):
    """Return (the paragraph before it, its code) for each excerpt in text."""
    return [(text[:match.start()].rsplit('\n\n', 1)[-1], match.group(1))
            for match in EXCERPT.finditer(text)]


def excerpts():
    for doc in DOCS:
        for before, code in excerpts_in(doc.read_text(encoding='utf-8')):
            yield pytest.param(doc, before, code, id='%s:%s' % (doc.name, code.split('\n')[0]))


def transcripts():
    for doc in DOCS:
        found = TRANSCRIPT.findall(doc.read_text(encoding='utf-8'))
        for number, (options, text) in enumerate(found):
            options = dict(option.split('=', 1) for option in options.split())
            yield pytest.param(options, text, id='%s#%d' % (doc.name, number + 1))


@pytest.mark.parametrize('doc, before, code', list(excerpts()))
def test_excerpt_names_its_file_and_is_still_there(doc, before, code):
    match = SOURCE.search(before.strip())
    assert match, '%s: an excerpt without its file before it:\n%s' % (doc.name, code)
    source = ROOT / match.group(1)
    assert squeeze(code) in squeeze(source.read_text(encoding='utf-8')), (
        '%s: this excerpt is no longer in %s:\n%s' % (doc.name, match.group(1), code))


def test_the_docs_have_excerpts_and_transcripts():
    assert len(list(excerpts())) >= 10
    assert len(list(transcripts())) >= 2


@pytest.mark.parametrize('doc', DOCS, ids=lambda doc: doc.name)
def test_every_python_block_is_an_excerpt_or_the_original(doc):
    text = doc.read_text(encoding='utf-8')
    fences = text.count('```python\n')
    assert fences == len(excerpts_in(text)) + len(ORIGINAL.findall(text))


def test_both_walkthroughs_show_the_same_code_and_sessions():
    english, chinese = (doc.read_text(encoding='utf-8') for doc in WALKTHROUGHS)
    for pattern in (ORIGINAL, TRANSCRIPT):
        assert pattern.findall(english) == pattern.findall(chinese)
    assert EXCERPT.findall(english) == EXCERPT.findall(chinese)


def test_the_walkthroughs_link_each_other():
    english, chinese = (doc.read_text(encoding='utf-8') for doc in WALKTHROUGHS)
    assert '(walkthrough.zh-CN.md)' in english and '(walkthrough.md)' in chinese


def steps(transcript):
    """Split a transcript into (who, line typed, [lines the reader then sees]).

    The first step is (None, None, the lines seen on connecting); who is None for
    the reader, or another user's name for "[name> line]".
    """
    result = [(None, None, [])]
    for line in transcript.splitlines():
        other = re.fullmatch(r'\[(\w+)> (.*)\]', line)
        if line.startswith('> '):
            result.append((None, line[2:], []))
        elif other:
            result.append((other.group(1), other.group(2), []))
        else:
            result[-1][2].append(line)
    return result


@pytest.mark.parametrize('options, transcript', list(transcripts()))
def test_transcript_replays_against_a_live_server(make_server, client, options, transcript):
    running = make_server(password=options.get('password'),
                          op_password=options.get('op-password'))
    reader = client(running.port)
    others = {}
    for who, typed, expected in steps(transcript):
        if who is not None:
            if who not in others:
                others[who] = client(running.port)
                others[who].expect('/login')
            others[who].send(typed)
            others[who].sync()              # handled before the reader looks
            got = reader.sync()
        elif typed is None:
            got = reader.sync()
        elif typed == '/logout':
            reader.send(typed)
            got = reader.read_to_close()
        else:
            reader.send(typed)
            got = reader.sync()
        assert got == expected, 'after %r' % typed
