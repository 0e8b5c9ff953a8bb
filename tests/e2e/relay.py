"""`python relay.py HOST PORT`: copy stdin to HOST:PORT and HOST:PORT to stdout until both
sides close. QEMU's guestfwd starts one for each connection the guest opens (see
tests/e2e/vm.py guestfwd()). Standard library only: it starts fast."""

from __future__ import annotations

import os
import select
import socket
import sys


def relay(host: str, port: int) -> int:
    """Copy stdin -> host:port and host:port -> stdout until both sides close."""
    sock = socket.create_connection((host, port))
    fds = [0, sock.fileno()]
    while fds:
        for fd in select.select(fds, [], [])[0]:
            data = os.read(fd, 65536) if fd == 0 else sock.recv(65536)
            if not data:
                if fd == 0:
                    sock.shutdown(socket.SHUT_WR)
                    fds.remove(0)
                else:
                    return 0
            elif fd == 0:
                sock.sendall(data)
            else:
                while data:
                    data = data[os.write(1, data):]
    return 0


if __name__ == "__main__":
    sys.exit(relay(sys.argv[1], int(sys.argv[2])))
