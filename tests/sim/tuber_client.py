#!/usr/bin/python3
"""An independent Tuber and JSON-RPC client (Python's http.client) against one
simulated board: tuber_client.py PORT. Prints one line per check; exits 1 on the
first failure."""
import http.client
import json
import sys

PORT = int(sys.argv[1])
TIMEOUT = 20


def fail(what, got):
    print(f"FAIL {what}: got {got!r}")
    sys.exit(1)


def check(cond, what, got=None):
    if not cond:
        fail(what, got)
    print(f"ok {what}")


conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=TIMEOUT)


def post(body, headers=None, path="/tuber", c=None):
    c = c or conn
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    c.request("POST", path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    return r.status, (json.loads(raw) if raw else None), r


def call(method, *args, **kwargs):
    c = {"object": "Board", "method": method}
    if args:
        c["args"] = list(args)
    if kwargs:
        c["kwargs"] = kwargs
    return c


# Registry and describe
s, r, _ = post({})
check(s == 200 and r == {"result": {"objects": ["Board"]}}, "describe registry", r)
sock = conn.sock  # keep-alive: every later request must reuse this connection

s, r, _ = post({"object": "Board", "resolve": True})
res = r["result"]
check("set_frequency" in res["methods"], "resolve lists methods", res)
params = res["methods"]["set_frequency"]["__signature__"]["parameters"]
check([p["name"] for p in params] == ["channel", "hz"], "resolve signature", params)
check(all(p["kind"] == "POSITIONAL_OR_KEYWORD" for p in params), "parameter kind", params)
samples = res["methods"]["get_samples"]["__signature__"]["parameters"]
check(samples[1] == {"name": "n", "kind": "POSITIONAL_OR_KEYWORD", "default": 256}, "default shown", samples)
props = res["properties"]
check(props["NCHANNELS"] == 64 and props["FMIN"] == 4.0e6 and props["FMAX"] == 6.0e6, "properties", props)
check(isinstance(res["__doc__"], str), "doc")

# Property
s, r, _ = post({"object": "Board", "property": "SERIAL"})
check(r["result"] == props["SERIAL"] and r["result"].startswith("TWB-"), "property SERIAL", r)
s, r, _ = post({"object": "Board", "property": "NOPE"})
check("error" in r and "NOPE" in r["error"]["message"], "unknown property", r)

# Single calls, positional and keyword
s, r, _ = post(call("set_amplitude", 0, 0.5))
check(s == 200 and r == {"result": None}, "set_amplitude", r)
s, r, _ = post(call("get_amplitude", 0))
check(r == {"result": 0.5}, "get_amplitude", r)
s, r, _ = post(call("set_frequency", channel=1, hz=5e6))
check(r == {"result": None}, "set_frequency kwargs", r)
s, r, _ = post(call("get_frequency", 1))
check(r == {"result": 5e6}, "get_frequency", r)
s, r, _ = post(call("set_frequency", 1, hz=4.5e6))
check(r == {"result": None}, "positional and keyword mixed", r)
s, r, _ = post(call("get_temperature"))
check(20 < r["result"] < 70, "get_temperature", r)
s, r, _ = post(call("get_samples", 0, n=16))
check(set(r["result"]) == {"i", "q"} and "warnings" not in r, "get_samples", r)
s, r, _ = post(call("get_samples", 2))
check(r.get("warnings") and "amplitude 0" in r["warnings"][0], "warning at amplitude 0", r)

# Batch
s, r, _ = post([call("set_frequency", 2, 4.25e6), call("get_frequency", 2), {"object": "Board", "property": "FIRMWARE"}])
check(s == 200 and r[0] == {"result": None} and r[1] == {"result": 4.25e6} and "result" in r[2], "batch in order", r)
s, r, _ = post([])
check(r == [], "empty batch", r)

# Stop on error (default) and continue-on-error
batch = [call("get_frequency", 2), call("set_frequency", 0, 7e6), call("get_frequency", 2)]
s, r, _ = post(batch)
check(s == 200 and r[0] == {"result": 4.25e6}, "stop-on-error: first ran", r)
msg = r[1]["error"]["message"]
check("'hz'" in msg and "4000000" in msg and "6000000" in msg, "range error names argument and range", msg)
check(r[2] == {"error": {"message": "Something went wrong in a preceding call"}}, "stop-on-error: later skipped", r)
s, r, _ = post(batch, headers={"X-Tuber-Options": "continue-on-error"})
check("error" in r[1] and r[2] == {"result": 4.25e6}, "continue-on-error", r)

# Argument errors
s, r, _ = post(call("get_frequency", 64))
m = r["error"]["message"]
check("'channel'" in m and "[0, 63]" in m, "bad channel", m)
s, r, _ = post(call("set_amplitude", 0, 1.5))
m = r["error"]["message"]
check("'amplitude'" in m and "[0, 1]" in m, "bad amplitude", m)
s, r, _ = post(call("get_samples", 0, 0))
check("'n'" in r["error"]["message"], "bad n", r)
s, r, _ = post(call("get_frequency", "zero"))
check("'channel'" in r["error"]["message"], "channel of the wrong type", r)
s, r, _ = post(call("set_frequency", 0))
check("missing required argument 'hz'" in r["error"]["message"], "missing argument", r)
s, r, _ = post(call("get_frequency", 0, 1))
check("takes 1 argument" in r["error"]["message"], "too many arguments", r)
s, r, _ = post(call("get_frequency", 0, channel=0))
check("multiple values" in r["error"]["message"], "duplicate argument", r)
s, r, _ = post(call("get_frequency", chan=0))
check("unexpected keyword argument 'chan'" in r["error"]["message"], "unknown kwarg", r)
s, r, _ = post(call("explode"))
check("explode" in r["error"]["message"], "unknown method", r)
s, r, _ = post({"object": "Board", "method": "get_frequency", "args": [0], "extra": 1})
check("unknown key 'extra'" in r["error"]["message"], "unknown key", r)
s, r, _ = post({"object": "Toaster", "method": "get_frequency"})
check("Toaster" in r["error"]["message"], "unknown object", r)

# Unparsable request: one top-level error, HTTP 200
s, r, _ = post("{not json")
check(s == 200 and set(r) == {"error"} and "message" in r["error"], "top-level error", r)

# Reset
s, r, _ = post([call("reset"), call("get_amplitude", 0), call("get_frequency", 1)])
check(r[1] == {"result": 0} and r[2] == {"result": 4e6}, "reset", r)

check(conn.sock is sock, "keep-alive: one connection for everything")

# JSON-RPC 2.0 at /rpc
def rpc(body):
    s, r, resp = post(body, path="/rpc")
    return s, r


s, r = rpc({"jsonrpc": "2.0", "method": "Board.set_amplitude", "params": [3, 0.25], "id": 1})
check(r == {"jsonrpc": "2.0", "result": None, "id": 1}, "rpc positional", r)
s, r = rpc({"jsonrpc": "2.0", "method": "Board.get_amplitude", "params": {"channel": 3}, "id": "a"})
check(r == {"jsonrpc": "2.0", "result": 0.25, "id": "a"}, "rpc named", r)
s, r = rpc({"jsonrpc": "2.0", "method": "Board.set_amplitude", "params": [3, 0.75]})
check(s == 200 and r is None, "rpc notification: 200, empty body", (s, r))
s, r = rpc([{"jsonrpc": "2.0", "method": "Board.get_amplitude", "params": [3], "id": 1},
            {"jsonrpc": "2.0", "method": "Board.reset"},
            {"jsonrpc": "2.0", "method": "Board.nope", "id": 2},
            {"jsonrpc": "2.0", "method": "Board.set_frequency", "params": [0, 1], "id": 3},
            5])
check(len(r) == 4, "rpc batch: notifications get no entry", r)
check(r[0]["result"] == 0.75, "rpc batch result", r)
check(r[1]["error"]["code"] == -32601 and r[1]["id"] == 2, "rpc method not found", r)
check(r[2]["error"]["code"] == -32602 and "'hz'" in r[2]["error"]["message"] and r[2]["error"]["data"]["argument"] == "hz",
      "rpc invalid params", r)
check(r[3]["error"]["code"] == -32600 and r[3]["id"] is None, "rpc invalid request", r)
s, r = rpc("[1,")
check(r["error"]["code"] == -32700 and r["id"] is None, "rpc parse error", r)
s, r = rpc([])
check(r["error"]["code"] == -32600, "rpc empty batch", r)
s, r = rpc({"jsonrpc": "1.0", "method": "Board.reset", "id": 9})
check(r["error"]["code"] == -32600 and r["id"] == 9, "rpc wrong version", r)

# Wrong path and method
conn.request("GET", "/tuber")
resp = conn.getresponse()
body = json.loads(resp.read())
check(resp.status == 405 and "error" in body, "GET is not allowed", (resp.status, body))
s, r, _ = post({}, path="/nowhere")
check(s == 404 and "error" in r, "unknown path", (s, r))

# 413: a body over 4 MiB, then the connection is closed
big = http.client.HTTPConnection("127.0.0.1", PORT, timeout=TIMEOUT)
payload = json.dumps([call("get_frequency", 0)] * 1) + " " * (4 * 1024 * 1024)
s, r, resp = post(payload, c=big)
check(s == 413 and "error" in r and "message" in r["error"], "413 for a large body", (s, r))
check(resp.getheader("Connection", "").lower() == "close", "413 closes the connection", resp.getheaders())
big.close()

# 413: a header block over 16 KiB
big = http.client.HTTPConnection("127.0.0.1", PORT, timeout=TIMEOUT)
s, r, resp = post({}, headers={"X-Padding": "x" * (17 * 1024)}, c=big)
check(s == 413 and "error" in r, "413 for large headers", (s, r))
big.close()

# A body just under the limit is fine
ok = http.client.HTTPConnection("127.0.0.1", PORT, timeout=TIMEOUT)
payload = json.dumps(call("get_frequency", 0))
payload = payload + " " * (4 * 1024 * 1024 - len(payload))
s, r, _ = post(payload, c=ok)
check(s == 200 and r == {"result": 4e6}, "4 MiB body accepted", (s, r))
ok.close()

# HTTP/1.0 without keep-alive: one reply, then close
c10 = http.client.HTTPConnection("127.0.0.1", PORT, timeout=TIMEOUT)
c10._http_vsn = 10
c10._http_vsn_str = "HTTP/1.0"
s, r, resp = post({}, c=c10)
check(s == 200 and r == {"result": {"objects": ["Board"]}} and resp.will_close, "HTTP/1.0", (s, r))
c10.close()

print("OK")
