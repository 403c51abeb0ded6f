#!/usr/bin/python3
"""An independent SCPI client (pyvisa with the pyvisa-py backend, raw socket
resource) against one simulated temperature controller: scpi_client.py PORT.
Prints one line per check; exits 1 on the first failure."""
import sys

import pyvisa

PORT = int(sys.argv[1])


def check(cond, what, got=None):
    if not cond:
        print(f"FAIL {what}: got {got!r}")
        sys.exit(1)
    print(f"ok {what}")


rm = pyvisa.ResourceManager("@py")
inst = rm.open_resource(f"TCPIP::127.0.0.1::{PORT}::SOCKET", read_termination="\n", write_termination="\n",
                        timeout=20000)

idn = inst.query("*IDN?")
parts = idn.split(",")
check(len(parts) == 4 and parts[0] == "TWSIM" and parts[1] == "TC-372" and parts[3] == "1.0", "*IDN?", idn)
check(inst.query("SYST:ERR?") == '0,"No error"', "empty error queue")

inst.write("SETP 1,10.5")
sp = inst.query("SETP? 1")
check(float(sp) == 10.5 and sp == "+1.0500E+01", "setpoint round trip", sp)
check(inst.query("*OPC?") == "1", "*OPC?")

k = float(inst.query("KRDG? 8"))
check(abs(k - 300) < 3, "fixed stage sensor 8 near 300 K", k)
m = float(inst.query("MEAS?"))
check(0 < m < 20, "MEAS?", m)

inst.write("BOGUS 1")
err = inst.query("SYST:ERR?")
check(err == '-113,"Undefined header"', "SYST:ERR? after a bad command", err)
check(inst.query("SYST:ERR?") == '0,"No error"', "error consumed")

# A bad query gets no reply: the next reply is the error, not a stale answer.
inst.write("KRDG? 9")
err = inst.query("SYST:ERR?")
check(err == '-222,"Data out of range"', "no reply to a bad query", err)

inst.write("SETP 1,1000")
check(inst.query("SYST:ERR?").startswith("-222"), "setpoint out of range")
check(float(inst.query("SETP? 1")) == 10.5, "setpoint unchanged after an error")

inst.write("RAMP 1,1,5")
ramp = inst.query("RAMP? 1")
check(ramp == "1,+5.0000E+00", "RAMP?", ramp)
htr = float(inst.query("HTR? 1"))
check(0 <= htr <= 100, "HTR?", htr)

inst.write("*CLS")
inst.write("SETP 3,1")
inst.write("*CLS")
check(inst.query("SYST:ERR?") == '0,"No error"', "*CLS clears the queue")

inst.close()
rm.close()
print("OK")
