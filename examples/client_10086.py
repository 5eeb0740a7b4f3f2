#!/usr/bin/env python3
"""Seed 003's client for the 10086 bot, ported to Python 3.

The article shows it for Python 2 (raw_input, str sockets); this is the
same program: it prints what the server says, asks for input, sends what
was typed with sendall and no line end, and stops after "exit".  The
address may be given as HOST PORT (default 127.0.0.1 8002, as the seed).

    python3 examples/client_10086.py 127.0.0.1 8002
"""
import socket
import sys

ip_port = (sys.argv[1] if len(sys.argv) > 1 else '127.0.0.1',
           int(sys.argv[2]) if len(sys.argv) > 2 else 8002)
sk = socket.socket()
sk.connect(ip_port)
sk.settimeout(5)

while True:
    data = sk.recv(1024)
    print('receive:', data.decode('utf-8', 'replace'))
    inp = input('please input:')
    sk.sendall(inp.encode('utf-8'))
    if inp == 'exit':
        break

sk.close()
