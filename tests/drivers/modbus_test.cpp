// Modbus TCP client and compressor: against the simulator's compressor, an
// independent pymodbus server (tests/drivers/modbus_server.py), a scripted
// peer that answers out of order, and faults.
#include <tw/drivers/modbus/client.hpp>
#include <tw/drivers/modbus/compressor.hpp>

#include <tw/sim/simulator.hpp>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "drivers_test_util.hpp"

using namespace tw_drivers_test;
using ::testing::HasSubstr;

namespace {

tw::sim::config modbus_only(std::size_t n = 1, std::vector<std::string> faults = {}) {
    tw::sim::config c{.boards = 0, .scpi = 0, .modbus = n, .compressor_start = 100ms, .compressor_stop = 100ms};
    for (auto& f : faults) c.faults.push_back(tw::sim::parse_fault(f));
    return c;
}

}  // namespace

TEST(ModbusFloat, HighWordFirst) {
    auto w = tw::modbus::from_float(1.5f);
    EXPECT_EQ(w[0], 0x3fc0);
    EXPECT_EQ(w[1], 0x0000);
    EXPECT_EQ(tw::modbus::to_float(0x3fc0, 0), 1.5f);
    std::vector<std::uint16_t> regs{0x3fc0, 0, 0xc120, 0};
    EXPECT_EQ(tw::modbus::to_floats(regs), (std::vector<float>{1.5f, -10.0f}));
    EXPECT_THROW(tw::modbus::to_floats(std::span(regs).first(3)), std::invalid_argument);
}

TEST(ModbusFrames, HeadersAndPdusWithoutAConnection) {
    using namespace std::string_literals;
    auto h = tw::modbus::parse_frame_header("c:1", "\x00\x07\x00\x00\x00\x06\x01"s);
    EXPECT_EQ(h.transaction, 7);
    EXPECT_EQ(h.length, 6);
    EXPECT_THROW(tw::modbus::parse_frame_header("c:1", "\x00\x07\x00\x01\x00\x06\x01"s), tw::protocol_error);  // protocol 1
    EXPECT_THROW(tw::modbus::parse_frame_header("c:1", "\x00\x07\x00\x00\x01\x00\x01"s), tw::protocol_error);  // length 256
    EXPECT_THROW(tw::modbus::parse_frame_header("c:1", "\x00\x07"s), tw::protocol_error);
    EXPECT_EQ(tw::modbus::parse_reply_pdu("c:1", 4, "\x04\x02\x00\x01"s), "\x02\x00\x01"s);
    try {
        tw::modbus::parse_reply_pdu("c:1", 4, "\x84\x02"s);
        FAIL() << "no exception";
    } catch (const tw::protocol_error& e) {
        EXPECT_EQ(e.code(), 2);
        EXPECT_EQ(e.peer_message(), "illegal data address");
    }
    EXPECT_THROW(tw::modbus::parse_reply_pdu("c:1", 4, ""), tw::protocol_error);
    EXPECT_THROW(tw::modbus::parse_reply_pdu("c:1", 4, "\x03\x02\x00\x01"s), tw::protocol_error);
    EXPECT_EQ(tw::modbus::parse_registers("c:1", 4, 1, "\x02\x12\x34"s), (std::vector<std::uint16_t>{0x1234}));
    EXPECT_THROW(tw::modbus::parse_registers("c:1", 4, 2, "\x02\x12\x34"s), tw::protocol_error);
    EXPECT_EQ(tw::modbus::parse_bits("c:1", 1, 3, "\x01\x05"s), (std::vector<bool>{true, false, true}));
    EXPECT_THROW(tw::modbus::parse_bits("c:1", 1, 9, "\x01\x05"s), tw::protocol_error);
}

TEST(ModbusSim, RegistersExceptionsAndTheCompressor) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(modbus_only(), rt);
    clients c;
    c.call([&] {
        tw::modbus::client m(sim.modbus_addresses()[0]);
        auto regs = m.read_input_registers(0, 20);
        EXPECT_EQ(regs[0], 0);  // idle
        EXPECT_EQ(m.read_holding_registers(0, 1)[0], 0);
        try {
            m.read_input_registers(100, 2);
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_EQ(e.code(), 2);
            EXPECT_THAT(e.what(), HasSubstr("illegal data address"));
        }
        try {
            m.transact(43, std::string("\x0e\x01\x00", 3));  // not served: illegal function
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_EQ(e.code(), 1);
        }
        EXPECT_EQ(m.read_coils(0, 1), std::vector<bool>{false});  // the run coil
        EXPECT_EQ(m.read_discrete_inputs(0, 3), (std::vector<bool>{false, false, false}));  // off, no alarms
        try {
            m.read_coils(1, 1);  // one coil only
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_EQ(e.code(), 2);
        }
        EXPECT_THROW(m.write_register(0, 7), tw::protocol_error);  // exception 3
        m.read_input_registers(0, 1);  // the connection is fine after exceptions

        tw::modbus::compressor comp(sim.modbus_addresses()[0]);
        auto s = comp.status();
        EXPECT_EQ(s.state, tw::modbus::compressor_state::idle);
        EXPECT_FALSE(s.on);
        comp.start();
        while (comp.state() != tw::modbus::compressor_state::running) tw::sleep_for(10ms);
        EXPECT_TRUE(comp.is_on());
        EXPECT_GT(comp.pressures().high, comp.pressures().low);
        EXPECT_GT(comp.temperatures().helium, 0);
        EXPECT_EQ(comp.alarms(), 0);
        comp.stop();
        while (comp.state() != tw::modbus::compressor_state::idle) tw::sleep_for(10ms);
    });
}

TEST(ModbusSim, CoilAndDiscreteInputsShowRunAndAlarms) {
    // The run coil starts and stops like the command register; discrete
    // inputs 0..2 are on, overheat alarm and pressure alarm (SIMULATOR.md).
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(modbus_only(2, {"modbus/alarm:overheat@0", "modbus/alarm:pressure@1"}), rt);
    clients c;
    c.call([&] {
        for (std::size_t i = 0; i < 2; ++i) {
            tw::modbus::client m(sim.modbus_addresses()[i]);
            m.write_coil(0, true);
            EXPECT_EQ(m.read_holding_registers(0, 1)[0], 1);
            while (m.read_input_registers(0, 1)[0] != 6) tw::sleep_for(10ms);  // tripped
            EXPECT_EQ(m.read_discrete_inputs(0, 3), (std::vector<bool>{false, i == 0, i == 1}));
            EXPECT_EQ(m.read_discrete_inputs(1 + i, 1), std::vector<bool>{true});
            m.write_coils(0, {false});  // acknowledges the fault
            EXPECT_EQ(m.read_input_registers(0, 1)[0], 0);
            EXPECT_EQ(m.read_coils(0, 1), std::vector<bool>{false});
            EXPECT_EQ(m.read_discrete_inputs(0, 3), (std::vector<bool>{false, false, false}));
        }
    });
}

TEST(ModbusSim, ManyFibersShareOneConnection) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(modbus_only(1, {"modbus/latency:2ms"}), rt);
    clients c;
    c.call([&] {
        tw::modbus::client m(sim.modbus_addresses()[0]);
        std::vector<int> items(32);
        auto r = tw::fan_out(items, [&](int) {
            for (int i = 0; i < 3; ++i) {
                auto regs = m.read_input_registers(0, 20);
                EXPECT_EQ(regs.size(), 20u);
                EXPECT_EQ(m.read_holding_registers(0, 1).size(), 1u);
            }
        });
        EXPECT_TRUE(r.all_ok()) << r.summary();
    });
}

// A peer that reads N requests before it answers any, then answers in reverse
// order: it only works if the client has N requests in flight on one
// connection and hands each reply to the fiber whose transaction id it carries.
TEST(ModbusPipelining, RequestsInFlightAreAnsweredOutOfOrder) {
    constexpr int k_n = 8;
    clients c;
    c.call([&] {
        std::atomic<int> connections{0};
        scripted_server srv(c.rt(), [&](tcp::socket& sock, std::size_t) {
            ++connections;
            std::vector<std::string> reqs;
            for (int i = 0; i < k_n; ++i) {
                std::string frame(12, '\0');
                boost::asio::async_read(sock, boost::asio::buffer(frame), tw::yield);
                reqs.push_back(frame);
            }
            for (int i = k_n - 1; i >= 0; --i) {
                const auto& q = reqs[i];
                const auto addr = static_cast<std::uint16_t>((static_cast<unsigned char>(q[8]) << 8) | static_cast<unsigned char>(q[9]));
                std::string reply = q.substr(0, 4);
                reply += std::string("\x00\x05", 2);
                reply += q[6];
                reply += '\x04';
                reply += '\x02';
                reply += static_cast<char>(addr >> 8);
                reply += static_cast<char>(addr & 0xff);  // the register holds its own address
                boost::asio::async_write(sock, boost::asio::buffer(reply), tw::yield);
            }
            std::string rest(1, '\0');
            boost::asio::async_read(sock, boost::asio::buffer(rest), tw::yield);
        });
        tw::modbus::client m(srv.address());
        std::vector<std::uint16_t> addrs;
        for (int i = 0; i < k_n; ++i) addrs.push_back(static_cast<std::uint16_t>(100 + i));
        auto r = tw::fan_out(addrs, [&](std::uint16_t a) { return m.read_input_registers(a, 1)[0]; });
        ASSERT_TRUE(r.all_ok()) << r.summary();
        for (int i = 0; i < k_n; ++i) EXPECT_EQ(r.outcomes[i].value(), addrs[i]);
        EXPECT_EQ(connections.load(), 1);
    });
}

TEST(ModbusIndependent, PymodbusServer) {
    python_server py("modbus_server.py");
    ASSERT_TRUE(py.ok());
    clients c;
    c.call([&] {
        tw::modbus::client m(py.address());
        auto ir = m.read_input_registers(0, 2);
        EXPECT_EQ(ir, (std::vector<std::uint16_t>{7, 8}));
        EXPECT_EQ(m.read_input_floats(2, 1)[0], 1.5f);
        m.write_register(5, 1234);
        EXPECT_EQ(m.read_holding_registers(5, 1)[0], 1234);
        std::vector<std::uint16_t> many{1, 2, 3, 4};
        m.write_registers(10, many);
        EXPECT_EQ(m.read_holding_registers(10, 4), many);
        std::vector<float> fs{3.25f, -1e6f};
        m.write_floats(20, fs);
        EXPECT_EQ(m.read_holding_floats(20, 2), fs);
        m.write_coil(3, true);
        auto coils = m.read_coils(0, 5);
        EXPECT_EQ(coils, (std::vector<bool>{false, false, false, true, false}));
        m.write_coils(8, {true, true, false, true, true, true, true, true, true});
        EXPECT_EQ(m.read_coils(8, 9), (std::vector<bool>{true, true, false, true, true, true, true, true, true}));
        EXPECT_EQ(m.read_discrete_inputs(0, 4), (std::vector<bool>{true, false, true, false}));
        try {
            m.read_holding_registers(1000, 2);
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_EQ(e.code(), 2);
        }
        // Concurrent requests on one connection.
        std::vector<int> items(16);
        auto r = tw::fan_out(items, [&](int) { return m.read_input_registers(0, 2); });
        EXPECT_TRUE(r.all_ok()) << r.summary();
    });
}

TEST(ModbusFaults, StallTimesOutAndOtherCompressorsCarryOn) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(modbus_only(2, {"modbus/stall@0"}), rt);
    clients c;
    c.call([&] {
        auto addrs = sim.modbus_addresses();
        auto r = tw::fan_out(addrs, [](const std::string& a) {
            tw::modbus::client m(a, {.timeout = 300ms});
            const auto t0 = std::chrono::steady_clock::now();
            try {
                return m.read_input_registers(0, 2);
            } catch (const tw::timeout_error&) {
                EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
                throw;
            }
        });
        EXPECT_THROW(r.outcomes[0].value(), tw::timeout_error);
        EXPECT_TRUE(r.outcomes[1].ok());

        // Several requests in flight on one stalled connection: the reader and
        // the fibers queued behind it each time out at their own deadline.
        tw::modbus::client shared(addrs[0], {.timeout = 200ms});
        std::vector<int> items(3);
        auto all = tw::fan_out(items, [&](int) { return shared.read_input_registers(0, 1); });
        for (auto& o : all.outcomes) EXPECT_THROW(o.value(), tw::timeout_error);
    });
}

TEST(ModbusFaults, DisconnectAndGarbageFailEveryRequestInFlightThenReconnect) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(modbus_only(2, {"modbus/disconnect@0", "modbus/garbage@1"}), rt);
    clients c;
    c.call([&] {
        tw::modbus::client cut(sim.modbus_addresses()[0], {.timeout = 2s});
        std::vector<int> items(4);
        auto r = tw::fan_out(items, [&](int) { return cut.read_input_registers(0, 2); });
        for (auto& o : r.outcomes) EXPECT_THROW(o.value(), tw::connection_error);
        EXPECT_THROW(cut.read_input_registers(0, 2), tw::connection_error);  // reconnects, cut again

        tw::modbus::client junk(sim.modbus_addresses()[1], {.timeout = 2s});
        EXPECT_THROW(junk.read_input_registers(0, 2), tw::protocol_error);
        EXPECT_THROW(junk.read_input_registers(0, 2), tw::protocol_error);
    });
}

TEST(ModbusFaults, FlappingCompressorIsReachedAgainOnceBack) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(modbus_only(1, {"modbus/flap:300ms/300ms"}), rt);
    clients c;
    c.call([&] {
        tw::modbus::client m(sim.modbus_addresses()[0],
                             {.timeout = 1s, .reconnect = {.attempts = 2, .backoff = 10ms, .max_backoff = 20ms}});
        bool failed = false, back = false;
        while (!back) {
            try {
                m.read_input_registers(0, 1);
                back = failed;
            } catch (const tw::connection_error&) {
                failed = true;
            }
            tw::sleep_for(20ms);
        }
        SUCCEED();
    });
}
