#!/usr/bin/python3
"""An independent Modbus TCP server for the driver tests: Debian's
python3-pymodbus with a plain datastore in zero_mode (register N is address
N). Usage: modbus_server.py. Prints "port N" once listening on 127.0.0.1 (a
free port), then serves until killed.

Initial contents: input registers 0-3 = 7, 8, then 1.5 as a float32 (high
word first); holding registers 0-99 = 0; coils and discrete inputs 0-99 =
alternating 1, 0 (discrete) and 0 (coils).
"""
import asyncio
import struct

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server.async_io import ModbusTcpServer

hi, lo = struct.unpack(">HH", struct.pack(">f", 1.5))
store = ModbusSlaveContext(
    di=ModbusSequentialDataBlock(0, [1, 0] * 50),
    co=ModbusSequentialDataBlock(0, [0] * 100),
    hr=ModbusSequentialDataBlock(0, [0] * 100),
    ir=ModbusSequentialDataBlock(0, [7, 8, hi, lo] + [0] * 96),
    zero_mode=True,
)
context = ModbusServerContext(slaves=store, single=True)


async def main():
    server = ModbusTcpServer(context, address=("127.0.0.1", 0))
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print("port %d" % port, flush=True)
    await task


asyncio.run(main())
