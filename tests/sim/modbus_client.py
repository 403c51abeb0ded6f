#!/usr/bin/python3
"""An independent Modbus TCP client (pymodbus) against one simulated
compressor: modbus_client.py PORT. The simulator runs with a short start-up
(compressor_start) so the start/stop sequence is quick. Prints one line per
check; exits 1 on the first failure."""
import socket
import struct
import sys
import time

from pymodbus.client import ModbusTcpClient

PORT = int(sys.argv[1])
GUARD = 20


def check(cond, what, got=None):
    if not cond:
        print(f"FAIL {what}: got {got!r}")
        sys.exit(1)
    print(f"ok {what}")


def f32(regs, at):
    return struct.unpack(">f", struct.pack(">HH", regs[at], regs[at + 1]))[0]


c = ModbusTcpClient("127.0.0.1", port=PORT, timeout=GUARD)
check(c.connect(), "connect")

rr = c.read_input_registers(0, 20, slave=1)
check(not rr.isError(), "read 20 input registers", rr)
regs = rr.registers
check(regs[0] == 0 and regs[1] == 0, "idle at start", regs[:2])
check(15 < f32(regs, 2) < 25, "coolant in (float32, high word first)", f32(regs, 2))
check(150 < f32(regs, 10) < 250, "high side pressure while idle", f32(regs, 10))
check(f32(regs, 16) > 1000, "hours of operation", f32(regs, 16))
check(regs[18] == 0 and regs[19] == 0, "no warnings or alarms", regs[18:])

rr = c.read_input_registers(2, 2, slave=1)
check(not rr.isError() and len(rr.registers) == 2, "read one float pair", rr)

for unit in (0, 255):
    rr = c.read_input_registers(0, 1, slave=unit)
    check(not rr.isError(), f"unit id {unit} answered", rr)

# Exception code 2: addresses outside the map
rr = c.read_input_registers(19, 2, slave=1)
check(rr.isError() and rr.exception_code == 2, "input register 20 does not exist", rr)
rr = c.read_holding_registers(1, 1, slave=1)
check(rr.isError() and rr.exception_code == 2, "holding register 1 does not exist", rr)
rr = c.read_coils(1, 1, slave=1)
check(rr.isError() and rr.exception_code == 2, "one coil only (0: run)", rr)
rr = c.read_discrete_inputs(0, 4, slave=1)
check(rr.isError() and rr.exception_code == 2, "three discrete inputs only", rr)
rr = c.read_coils(0, 1, slave=1)
check(not rr.isError() and rr.bits[0] is False, "run coil off at start", rr)
rr = c.read_discrete_inputs(0, 3, slave=1)
check(not rr.isError() and rr.bits[:3] == [False, False, False], "off, no alarms", rr)
rr = c.write_coil(1, True, slave=1)
check(rr.isError() and rr.exception_code == 2, "write a coil outside the map", rr)
rr = c.write_register(7, 1, slave=1)
check(rr.isError() and rr.exception_code == 2, "write outside the map", rr)
rr = c.write_register(0, 9, slave=1)
check(rr.isError() and rr.exception_code == 3, "command value other than 0/1", rr)

# Start: state 2 (starting), then 3 (running) with the compressor on
rr = c.write_register(0, 1, slave=1)
check(not rr.isError(), "start (fn 6)", rr)
rr = c.read_holding_registers(0, 1, slave=1)
check(not rr.isError() and rr.registers == [1], "command register reads back", rr)
regs = c.read_input_registers(0, 20, slave=1).registers
check(regs[0] == 2 and regs[1] == 1, "starting", regs[:2])
deadline = time.monotonic() + GUARD
while regs[0] != 3 and time.monotonic() < deadline:
    regs = c.read_input_registers(0, 20, slave=1).registers
check(regs[0] == 3 and regs[1] == 1, "running", regs[:2])
check(f32(regs, 14) > 1, "motor current while running", f32(regs, 14))

# The run coil (fn 1) reads the command; discrete input 0 says it is on
rr = c.read_coils(0, 1, slave=1)
check(not rr.isError() and rr.bits[0] is True, "run coil follows the command register", rr)
rr = c.read_discrete_inputs(0, 3, slave=1)
check(not rr.isError() and rr.bits[:3] == [True, False, False], "on, no alarms", rr)

# Stop with fn 5 (run coil off), start again with fn 15 (coils 0..0 = 1)
rr = c.write_coil(0, False, slave=1)
check(not rr.isError(), "stop (fn 5)", rr)
regs = c.read_input_registers(0, 2, slave=1).registers
check(regs[0] == 5 and regs[1] == 0, "stopping after the run coil went off", regs)
rr = c.write_coils(0, [True], slave=1)
check(not rr.isError(), "start (fn 15)", rr)
regs = c.read_input_registers(0, 2, slave=1).registers
check(regs[0] == 2 and regs[1] == 1, "starting after the run coil went on", regs)
deadline = time.monotonic() + GUARD
while regs[0] != 3 and time.monotonic() < deadline:
    regs = c.read_input_registers(0, 2, slave=1).registers
check(regs[0] == 3, "running again", regs)

# Stop with fn 16: state 5 (stopping), then 0
rr = c.write_registers(0, [0], slave=1)
check(not rr.isError(), "stop (fn 16)", rr)
regs = c.read_input_registers(0, 2, slave=1).registers
check(regs[0] == 5 and regs[1] == 0, "stopping", regs)
deadline = time.monotonic() + GUARD
while regs[0] != 0 and time.monotonic() < deadline:
    regs = c.read_input_registers(0, 2, slave=1).registers
check(regs[0] == 0, "idle again", regs)
c.close()

# Raw frames: exception 1 for an unsupported function, transaction ids echoed
s = socket.create_connection(("127.0.0.1", PORT), timeout=GUARD)


def raw(tid, unit, pdu):
    s.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)
    head = b""
    while len(head) < 7:
        head += s.recv(7 - len(head))
    t, p, n, u = struct.unpack(">HHHB", head)
    body = b""
    while len(body) < n - 1:
        body += s.recv(n - 1 - len(body))
    return t, u, body


t, u, body = raw(0x1234, 1, bytes([0x2B, 0x0E, 0x01, 0x00]))
check(t == 0x1234 and body == bytes([0xAB, 0x01]), "exception 1 for an unsupported function", (t, body))
t, u, body = raw(7, 1, bytes([0x04, 0x00, 0x00, 0x00, 0x00]))
check(body == bytes([0x84, 0x03]), "exception 3 for quantity 0", body)
s.close()
print("OK")
