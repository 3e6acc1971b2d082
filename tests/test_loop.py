"""Loop: run the server's map, stop at once when told, flush for a bounded time at shutdown."""

import socket
import time

from conftest import GRACE_MARGIN, Client, ServerThread

from chat.loop import GRACE


def test_stop_ends_the_loop_at_once_although_it_waits_long_in_poll():
    running = ServerThread()
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 1.0        # TICK is 30 s: the waker ended the poll


def test_shutdown_tells_every_session_and_closes_it():
    running = ServerThread()
    clients = [Client(running.port) for _ in range(3)]
    for client in clients:
        client.expect('/login')
    running.stop()
    for client in clients:
        assert 'shutting down' in client.read_to_close()[-1]
        client.close()
    assert running.server.map == {}


def test_shutdown_waits_no_longer_than_its_grace_for_a_client_that_never_reads():
    running = ServerThread(max_queue=64 * 1024 * 1024)   # not cut as a slow reader
    sluggard, talker = Client(running.port), Client(running.port)
    sluggard.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for client, name in ((sluggard, 'sluggard'), (talker, 'talker')):
        client.expect('/login')
        client.ask('/login ' + name)
        client.ask('/python')
    # More than the socket buffers hold, queued for a client that never reads.
    talker.send(('x' * 200 + '\r\n') * 40000)
    talker.sync()
    started = time.monotonic()
    running.stop()
    elapsed = time.monotonic() - started
    assert GRACE - 0.5 < elapsed < GRACE + GRACE_MARGIN
    sluggard.close()
    talker.close()
