#!/usr/bin/python3
"""An independent JSON-RPC 2.0 server for the driver tests: Debian's
python3-jsonrpclib-pelix SimpleJSONRPCServer, which serves "/" (and "/RPC2")
over HTTP/1.0 and closes the connection after every reply. Usage:
jsonrpc_server.py. Prints "port N" once listening on 127.0.0.1 (a free port),
then serves until killed.

Methods: add(a, b), echo(x), greet(name="world"), fail() (raises
ValueError), count() (calls so far), note(x) (records x; for notifications),
notes() (what was recorded).
"""
from jsonrpclib.SimpleJSONRPCServer import SimpleJSONRPCServer

calls = {"n": 0}
recorded = []


def counted(f):
    def g(*a, **k):
        calls["n"] += 1
        return f(*a, **k)
    g.__name__ = f.__name__
    return g


def fail():
    raise ValueError("this method always fails")


def note(x):
    recorded.append(x)


server = SimpleJSONRPCServer(("127.0.0.1", 0), logRequests=False)
server.register_function(counted(lambda a, b: a + b), "add")
server.register_function(counted(lambda x: x), "echo")
server.register_function(counted(lambda name="world": "hello " + name), "greet")
server.register_function(counted(fail), "fail")
server.register_function(lambda: calls["n"], "count")
server.register_function(note, "note")
server.register_function(lambda: recorded, "notes")
print("port %d" % server.server_address[1], flush=True)
server.serve_forever()
