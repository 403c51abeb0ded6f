#!/usr/bin/python3
"""Many concurrent SCPI connections, one outstanding query each (the shape of
`tw bench`): scpi_many.py COUNT ADDRESS[,ADDRESS...]. Connections are spread
round-robin over the addresses; every one must be an instrument of its own
and answer three rounds of MEAS?. Exits 1 on failure."""
import resource
import socket
import sys

COUNT = int(sys.argv[1])
addrs = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in sys.argv[2].split(",")]


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    return buf


soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = [socket.create_connection(addrs[i % len(addrs)], timeout=20) for i in range(COUNT)]
for s in socks:
    s.sendall(b"*IDN?\n")
ids = {read_line(s) for s in socks}
if len(ids) != COUNT:
    print(f"FAIL {len(ids)} distinct instruments for {COUNT} connections")
    sys.exit(1)
for _ in range(3):
    for s in socks:
        s.sendall(b"MEAS?\n")
    for s in socks:
        v = float(read_line(s))
        if not 3 < v < 5:
            print(f"FAIL MEAS? gave {v}")
            sys.exit(1)
print(f"OK {COUNT} connections")
