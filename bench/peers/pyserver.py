#!/usr/bin/env python3
"""Python's socketserver as a peer for `make bench`: the same handlers as
ours (thankyou, echo, poetry, menu greeting, static files over HTTP), on
ThreadingTCPServer or ForkingTCPServer, exactly as the standard library
ships them except for two settings our server also has:

- the listen backlog (request_queue_size) is socket.SOMAXCONN like ours,
  not Python's 5, which would drop SYNs under 32 concurrent clients and
  measure TCP's 1 s retransmit timer instead of the server;
- --max-children (ForkingMixIn.max_children, 40 by default like ours) is
  raised for the idle-connections workload the same way ours is;
- the HTTP handler sets StreamRequestHandler.disable_nagle_algorithm:
  http.server writes the head and the body in two sends, and with Nagle
  on, the body waits for the client's delayed ACK (40 ms on Linux), which
  would measure that timer, not the server (ours sends them in one).

  pyserver.py threading|forking HANDLER [--port N] [--delay MS]
              [--poem FILE] [--root DIR] [--max-children N]

Prints "listening on 127.0.0.1:PORT" first, like build/socketserver.
SIGTERM stops it (forked children too: they are in its process group).
"""
import argparse
import functools
import http.server
import os
import signal
import socket
import socketserver
import sys
import time

THANKS = b"Thank you for connecting\n"
# The first line of our menu10086 bot: the idle workload waits for it.
GREETING = "欢迎致电 10086,请输入1xxx,0转人工服务.\n".encode()


class ThankYou(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(THANKS)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Poetry(socketserver.BaseRequestHandler):
    """The poem a line at a time, --delay ms between lines (ours too)."""
    lines = []
    delay = 0.5

    def handle(self):
        for i, line in enumerate(self.lines):
            if i:
                time.sleep(self.delay)
            self.request.sendall(line)


class Menu(socketserver.StreamRequestHandler):
    """Greets, then reads lines until the client goes: an idle client."""
    def handle(self):
        self.wfile.write(GREETING)
        self.wfile.flush()
        for line in self.rfile:
            if line.strip() == b"exit":
                return
            self.wfile.write("请重新输入.\n".encode())


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ours and nginx
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass


HANDLERS = {"thankyou": ThankYou, "echo": Echo, "poetry": Poetry,
            "menu10086": Menu}


def server_class(kind, handler):
    mixin = (socketserver.ThreadingMixIn if kind == "threading"
             else socketserver.ForkingMixIn)
    base = (http.server.HTTPServer if handler == "http"
            else socketserver.TCPServer)
    attrs = {"request_queue_size": socket.SOMAXCONN,
             "allow_reuse_address": True, "daemon_threads": True}
    return type(kind + "_" + handler, (mixin, base), attrs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["threading", "forking"])
    p.add_argument("handler", choices=sorted(HANDLERS) + ["http"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=int, default=500)
    p.add_argument("--poem")
    p.add_argument("--root", default=".")
    p.add_argument("--max-children", type=int, default=40)
    a = p.parse_args()

    if a.handler == "http":
        handler = functools.partial(QuietFiles, directory=a.root)
    else:
        handler = HANDLERS[a.handler]
    if a.handler == "poetry":
        with open(a.poem, "rb") as f:
            Poetry.lines = f.read().splitlines(keepends=True)
        Poetry.delay = a.delay / 1000.0
    cls = server_class(a.kind, a.handler)
    cls.max_children = a.max_children
    srv = cls(("127.0.0.1", a.port), handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
