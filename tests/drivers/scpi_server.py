#!/usr/bin/python3
"""An independent SCPI instrument for the driver tests: a plain Python socket
server (no code shared with the simulator). Usage: scpi_server.py
Prints "port N" once listening on 127.0.0.1 (a free port), then serves until
killed. Commands end in "\\n"; a query gets one reply line, a set command
none; an unknown command or bad argument gets no reply and queues an error
(read with SYST:ERR?), as real instruments do.

  *IDN?            PYSCPI,TEST-1,0001,0.1
  *RST / *CLS      reset setpoints / clear the error queue
  *OPC?            1
  MEAS?            +1.2345E+00
  LIST?            +1.0000E+00,+2.0000E+00,+3.0000E+00
  VOLT <v>         set a voltage, 0..10 (else -222)
  VOLT?            the voltage, %+.4E
  COUNT?           how many commands this connection has sent (an integer)
  SYST:ERR?        oldest error, 0,"No error" when none
"""
import socketserver
import sys
import threading

lock = threading.Lock()
state = {"volt": 0.0}
errors = []


def push(code, msg):
    with lock:
        errors.append((code, msg))


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        count = 0
        for raw in self.rfile:
            count += 1
            line = raw.decode("ascii", "replace").strip()
            head, _, arg = line.partition(" ")
            head = head.upper()
            reply = None
            if head == "*IDN?":
                reply = "PYSCPI,TEST-1,0001,0.1"
            elif head == "*RST":
                with lock:
                    state["volt"] = 0.0
            elif head == "*CLS":
                with lock:
                    errors.clear()
            elif head == "*OPC?":
                reply = "1"
            elif head == "MEAS?":
                reply = "+1.2345E+00"
            elif head == "LIST?":
                reply = "+1.0000E+00,+2.0000E+00,+3.0000E+00"
            elif head == "COUNT?":
                reply = str(count)
            elif head == "VOLT":
                try:
                    v = float(arg)
                except ValueError:
                    push(-104, "Data type error")
                    continue
                if not 0 <= v <= 10:
                    push(-222, "Data out of range")
                    continue
                with lock:
                    state["volt"] = v
            elif head == "VOLT?":
                with lock:
                    reply = "%+.4E" % state["volt"]
            elif head in ("SYST:ERR?", "SYSTEM:ERROR?"):
                with lock:
                    code, msg = errors.pop(0) if errors else (0, "No error")
                reply = '%d,"%s"' % (code, msg)
            else:
                push(-113, "Undefined header")
            if reply is not None:
                self.wfile.write((reply + "\n").encode("ascii"))
                self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
print("port %d" % srv.server_address[1], flush=True)
srv.serve_forever()
