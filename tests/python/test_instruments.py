"""The instrument clients of tworoutine (Scpi, Modbus, JsonRpc) and the
cool-down, against the in-process simulator over real sockets: synchronous
and awaited calls, and each protocol's errors as the tworoutine hierarchy."""
import asyncio

import pytest

import tworoutine


@pytest.fixture(scope="module")
def lab():
    # Short time constants, as `tw cooldown --sim`, so a cool-down takes a moment.
    with tworoutine.sim(boards=2, channels=8, scpi=1, modbus=1, tau=0.3, compressor_start=0.5, compressor_stop=0.2) as s:
        yield s


def test_sim_still_yields_the_board_list_and_the_instruments(lab):
    assert len(lab) == 2 and list(lab) == lab.boards
    assert lab[0] == lab.boards[0]
    assert len(lab.scpi) == 1 and len(lab.modbus) == 1
    assert lab.jsonrpc == [f"http://{a}/rpc" for a in lab.boards]
    with tworoutine.sim(boards=1, channels=8) as (a,):  # as before: no instruments
        assert isinstance(a, str)


# ---- SCPI ------------------------------------------------------------------------------

def test_scpi_sync(lab):
    with tworoutine.Scpi(lab.scpi[0]) as tc:
        assert tc.query("*IDN?").startswith("TWSIM,TC-372,")
        tc.write("SETP 2,12.5")
        assert tc.query_double("SETP? 2") == 12.5
        assert tc.query_int("*OPC?") == 1
        ramp = tc.query_doubles("RAMP? 2")
        assert len(ramp) == 2
        tc.wait_complete()
        assert tc.next_error() == (0, "No error")
        tc.check_error()


def test_scpi_awaited(lab):
    async def main():
        tc = tworoutine.Scpi(lab.scpi[0])
        idn = await tc.query.aio("*IDN?")
        await tc.write_checked.aio("SETP 2,7.25")
        k = await (~tc.query_double)("SETP? 2")
        await tc.close.aio()
        return idn, k

    idn, k = asyncio.run(main())
    assert idn.startswith("TWSIM,TC-372,") and k == 7.25


def test_scpi_instrument_errors_raise_protocol_error(lab):
    tc = tworoutine.Scpi(lab.scpi[0], timeout=2.0)
    # An unknown query gets no reply: the client asks SYST:ERR? and raises the instrument's error.
    with pytest.raises(tworoutine.ProtocolError, match="-113"):
        tc.query("NOSUCH?")
    # A value out of range, with the error queue checked after the write.
    with pytest.raises(tworoutine.ProtocolError, match="-222"):
        tc.write_checked("SETP 1,9999")
    assert tc.next_error() == (0, "No error")  # the queue was emptied by the reports
    assert tc.query("*IDN?").startswith("TWSIM")  # still in step


# ---- Modbus ----------------------------------------------------------------------------

def test_modbus_sync(lab):
    with tworoutine.Modbus(lab.modbus[0]) as mb:
        regs = mb.read_input_registers(0, 20)
        assert len(regs) == 20 and all(isinstance(r, int) and 0 <= r <= 65535 for r in regs)
        floats = mb.read_input_floats(2, 8)
        assert len(floats) == 8 and all(isinstance(f, float) for f in floats)
        assert mb.read_discrete_inputs(0, 3) == [bool(regs[1]), bool(regs[19] & 1), bool(regs[19] & 2)]
        mb.write_register(0, 0)
        assert mb.read_holding_registers(0, 1) == [0]
        assert mb.read_coils(0, 1) == [False]
        mb.write_registers(0, [0])
        mb.write_coil(0, False)
        mb.write_coils(0, [False])


def test_modbus_awaited(lab):
    async def main():
        mb = tworoutine.Modbus(lab.modbus[0])
        return await asyncio.gather(mb.read_input_registers.aio(0, 2), (~mb.read_holding_registers)(0, 1),
                                    mb.read_coils.aio(0, 1))

    state, command, coil = asyncio.run(main())
    assert len(state) == 2 and len(command) == 1 and len(coil) == 1


def test_modbus_errors(lab):
    mb = tworoutine.Modbus(lab.modbus[0])
    with pytest.raises(tworoutine.ProtocolError, match="illegal data address"):
        mb.read_input_registers(100, 1)
    with pytest.raises(tworoutine.ProtocolError, match="illegal data address"):
        mb.write_floats(10, [1.5])  # holding registers 10-11 are not in the map
    # Out of 0..65535: refused here, never wrapped into another address.
    with pytest.raises(tworoutine.UsageError, match="65536 is out of 0..65535"):
        mb.read_holding_registers(65536, 1)
    with pytest.raises(tworoutine.UsageError, match="out of 0..65535"):
        mb.read_coils(0, -1)
    with pytest.raises(tworoutine.UsageError, match="register value 70000"):
        mb.write_registers(0, [70000])
    with pytest.raises(tworoutine.UsageError):
        mb.read_input_registers(0, 126)  # more than one request may carry
    with pytest.raises(tworoutine.UsageError):
        tworoutine.Modbus(lab.modbus[0], unit=256)
    assert len(mb.read_input_registers(0, 1)) == 1  # still usable


# ---- JSON-RPC --------------------------------------------------------------------------

def test_jsonrpc_sync(lab):
    rpc = tworoutine.JsonRpc(lab.jsonrpc[0])
    assert rpc.url == lab.jsonrpc[0]
    rpc.call("Board.set_frequency", 3, 4.5e6)
    assert rpc.call("Board.get_frequency", 3) == 4.5e6
    assert isinstance(rpc.call("Board.get_temperature"), float)
    rpc.notify("Board.set_frequency", 2, 4.25e6)
    out = rpc.batch([("Board.get_frequency", [2]), ("Board.no_such_method", None), ("Board.get_frequency", [3])])
    assert [o["ok"] for o in out] == [True, False, True]
    assert out[0]["result"] == 4.25e6 and out[2]["result"] == 4.5e6
    assert "no_such_method" in out[1]["error"]
    assert rpc.batch([]) == []


def test_jsonrpc_awaited(lab):
    async def main():
        rpc = tworoutine.JsonRpc(lab.jsonrpc[1])
        await rpc.call.aio("Board.set_frequency", 1, 5.5e6)
        return await (~rpc.call)("Board.get_frequency", 1)

    assert asyncio.run(main()) == 5.5e6


def test_jsonrpc_errors(lab):
    rpc = tworoutine.JsonRpc(lab.jsonrpc[0])
    with pytest.raises(tworoutine.ProtocolError, match="Method not found"):
        rpc.call("Board.no_such_method")
    with pytest.raises(tworoutine.UsageError):
        rpc.call("Board.get_frequency", 1, channel=1)  # positional or named, not both
    with pytest.raises(tworoutine.UsageError):
        tworoutine.JsonRpc("not a url at all")
    with pytest.raises(tworoutine.ConnectionError):
        tworoutine.JsonRpc("http://127.0.0.1:1/rpc").call("Board.get_temperature")


# ---- the typed instruments -------------------------------------------------------------

def test_temperature_controller(lab):
    tc = tworoutine.TemperatureController(lab.scpi[0])
    assert tc.identify().startswith("TWSIM,TC-372,")
    assert 3.0 < tc.temperature(3) < 100.0  # a fixed 50 K stage
    tc.set_ramp(2, True, 5.0)
    assert tc.ramp(2) == {"enabled": True, "rate": 5.0}
    tc.set_ramp(2, False, 0.0)
    tc.set_setpoint(2, 8.0)
    assert asyncio.run(tc.setpoint.aio(2)) == 8.0
    assert 0.0 <= tc.heater(2) <= 100.0
    with pytest.raises(tworoutine.ProtocolError, match="-222"):
        tc.set_setpoint(1, 9999.0)


def test_compressor(lab):
    comp = tworoutine.Compressor(lab.modbus[0])
    s = comp.status()
    assert s["state"] in ("idle", "starting", "running", "stopping")
    assert set(s["temperatures"]) == {"coolant_in", "coolant_out", "oil", "helium"}
    assert set(s["pressures"]) == {"high", "low"}
    assert s["alarms"] == []
    assert asyncio.run(comp.state.aio()) in ("idle", "starting", "running", "stopping")
    assert isinstance(comp.is_on(), bool) and comp.hours() > 0
    assert isinstance(comp.warnings(), list)


# ---- cool-down -------------------------------------------------------------------------

def test_cooldown_reaches_the_setpoint(lab):
    r = tworoutine.cooldown(lab.scpi[0], lab.modbus[0], 10.0, deadline_s=120, tolerance=0.5, hold=0.2, poll=0.05)
    assert abs(r["final_temperature"] - 10.0) <= 0.5
    assert r["setpoint"] == 10.0 and r["alarms"] == []
    assert any("SETP 1,10" in s["what"] for s in r["steps"])
    # Awaited, the compressor already running.
    r = asyncio.run(tworoutine.cooldown.aio(lab.scpi[0], lab.modbus[0], 12.0, deadline_s=120, tolerance=0.5, hold=0.2,
                                            poll=0.05))
    assert abs(r["final_temperature"] - 12.0) <= 0.5


def test_cooldown_deadline_raises_timeout_error(lab):
    with pytest.raises(tworoutine.TimeoutError):
        tworoutine.cooldown(lab.scpi[0], lab.modbus[0], 20.0, deadline_s=0.0, hold=10.0, poll=0.05)
