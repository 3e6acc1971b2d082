"""Make docs/client.png: chat-client's real window, in a conversation, on an X display.

    xvfb-run -a -s '-screen 0 1024x768x24' python tools/screenshot.py docs/client.png

(`make screenshot` runs that.) A server runs in this process; two users on
sockets chat with the window's user, who types as a person would. The picture
is taken of the window alone, with Pillow. Chinese needs a font that has it
(Debian: fonts-wqy-microhei).
"""

import os
import socket
import sys
import threading
import time

from PIL import ImageGrab

from chat.client import ChatClient, tk
from chat.limits import Limits
from chat.loop import LOOPS, capacity, make_loop
from chat.server import Server


def pump(root, seconds):
    """Let the window run for a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        root.update()
        time.sleep(0.01)


def user(port, nickname, room):
    """A socket client, logged in and in room."""
    sock = socket.create_connection(('127.0.0.1', port))
    sock.sendall(('/login %s\r\n/%s\r\n' % (nickname, room)).encode('utf-8'))
    return sock


def say(sock, text):
    sock.sendall((text + '\r\n').encode('utf-8'))


def main(path):
    server = Server(0, '127.0.0.1', limits=Limits().capped(capacity(LOOPS[0])))
    port = server.socket.getsockname()[1]
    loop = make_loop(server, LOOPS[0])
    threading.Thread(target=loop.run, daemon=True).start()

    root = tk.Tk()
    app = ChatClient(root, '127.0.0.1', port)
    pump(root, 0.3)
    app.nick.set('alice')
    app.connect_button.invoke()
    pump(root, 0.5)
    app.buttons['/python'].invoke()
    pump(root, 0.5)
    bob = user(port, 'bob', 'python')
    ming = user(port, '小明', 'python')
    pump(root, 0.5)
    say(bob, 'hi alice! is the walkthrough worth reading?')
    pump(root, 0.3)
    app.entry.insert('end', 'it is: every class of the design, beside its code')
    app.send_typed()
    pump(root, 0.3)
    say(ming, '我在读中文版，很清楚。')
    pump(root, 0.3)
    say(bob, '/msg alice want to try the exercise together?')
    pump(root, 0.3)
    app.buttons['/online'].invoke()
    pump(root, 0.5)
    app.entry.insert('end', '/msg bob yes: /rooms first, then /who')
    pump(root, 0.5)

    x, y = root.winfo_rootx(), root.winfo_rooty()
    box = (x, y, x + root.winfo_width(), y + root.winfo_height())
    ImageGrab.grab(bbox=box, xdisplay=os.environ['DISPLAY']).save(path)
    print('wrote %s (%dx%d)' % (path, box[2] - box[0], box[3] - box[1]))
    for sock in (bob, ming):
        sock.close()
    app.quit()
    loop.stop()


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'docs/client.png')
