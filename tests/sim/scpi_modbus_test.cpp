// Simulated SCPI temperature controllers and Modbus compressors: independent
// clients (pyvisa-py, pymodbus) for the protocols, in-process clients for the
// thermal model, bounds and the many-connections mode.
#include <tw/sim/simulator.hpp>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include <gmock/gmock.h>
#include <fmt/core.h>
#include <gtest/gtest.h>

#include "servers.hpp"
#include "sim_test_util.hpp"

using namespace tw_sim_test;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

std::array<std::uint8_t, 7> mbap(std::uint16_t tid, std::uint16_t len, std::uint8_t unit) {
    return {static_cast<std::uint8_t>(tid >> 8), static_cast<std::uint8_t>(tid), 0, 0, static_cast<std::uint8_t>(len >> 8),
            static_cast<std::uint8_t>(len), unit};
}

// One Modbus request on a tw fiber; returns the reply PDU.
std::string modbus_request(tcp::socket& s, std::uint16_t tid, std::uint8_t unit, const std::string& pdu) {
    auto h = mbap(tid, static_cast<std::uint16_t>(pdu.size() + 1), unit);
    std::string frame(h.begin(), h.end());
    frame += pdu;
    boost::asio::async_write(s, boost::asio::buffer(frame), tw::yield);
    std::array<std::uint8_t, 7> head;
    boost::asio::async_read(s, boost::asio::buffer(head), tw::yield);
    EXPECT_EQ((head[0] << 8) | head[1], tid);
    std::string body(static_cast<std::size_t>(((head[4] << 8) | head[5]) - 1), '\0');
    boost::asio::async_read(s, boost::asio::buffer(body), tw::yield);
    return body;
}

bool closed_by_peer(tcp::socket& s) {
    boost::system::error_code ec;
    char buf[64];
    for (;;) {
        s.async_read_some(boost::asio::buffer(buf), tw::yield[ec]);
        if (ec) return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
    }
}

}  // namespace

// The controller's numbers are five digits rounded as printf rounds them
// (exactly, ties to even), though they come from scaling by a power of ten:
// checked at ties, next to ties, next to powers of ten, at the ends of the
// range, at infinities and NaNs (a model gone wrong) and at random bit patterns.
TEST(SimScpi, NumbersAreRoundedToFiveDigitsAsPrintfDoes) {
    const auto printf_nr3 = [](double v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%+.4E", v);
        return std::string(buf);
    };
    std::vector<double> vs = {0.0, -0.0, 1.0, -1.0, 4.0, 25.0, 300.0, 0.5, 9.99995, 9.999950000000001, 9.99994999999,
                              99999.5, 12345.5, 123455.0, -123465.0, 1.03125, 1.5e-5, 299.99995, 1e100, 1.23456e-100,
                              DBL_MAX, -DBL_MAX, DBL_MIN, std::nextafter(DBL_MIN, 0.0), 1.2345e-310,
                              std::numeric_limits<double>::denorm_min(), INFINITY, -INFINITY, NAN, -NAN};
    for (int e = -20; e <= 26; ++e) {  // next to powers of ten, where log10 may be one off
        const double p = std::pow(10.0, e);
        vs.insert(vs.end(), {p, std::nextafter(p, 0.0), std::nextafter(p, INFINITY), 9.99995 * p, 9.99994 * p});
    }
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        // Next to a rounding boundary: (k + 1/2) 10^e for five-digit k, and its neighbours.
        const double tie = (static_cast<double>(10000 + rng() % 90000) + 0.5) * std::pow(10.0, static_cast<int>(rng() % 40) - 24);
        vs.insert(vs.end(), {tie, std::nextafter(tie, 0.0), std::nextafter(tie, INFINITY), -tie});
        // Any finite double.
        double any;
        do {
            const std::uint64_t bits = rng();
            std::memcpy(&any, &bits, sizeof any);
        } while (!std::isfinite(any));
        vs.push_back(any);
    }
    int wrong = 0;
    for (double v : vs) {
        if (tw::sim::detail::format_nr3(v) == printf_nr3(v)) continue;
        if (++wrong <= 5) ADD_FAILURE() << fmt::format("{:.17g}: {} against printf's {}", v, tw::sim::detail::format_nr3(v), printf_nr3(v));
    }
    EXPECT_EQ(wrong, 0) << "of " << vs.size();
}

TEST(SimScpi, ServesPyvisa) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 2, .modbus = 0}, rt);
    auto r = run_python("scpi_client.py", {port_of(sim.scpi_addresses()[1])});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("\nOK\n"));
}

TEST(SimScpi, TemperatureFollowsTheSetpointWithTheTimeConstant) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 1, .modbus = 0, .tau = 100ms}, rt);
    client_runtime client;
    client.call([&] {
        line_client c(sim.scpi_addresses()[0]);
        EXPECT_NEAR(std::stod(c.query("KRDG? 1")), 4.0, 0.05);
        const auto start = std::chrono::steady_clock::now();
        c.write("SETP 1,20");
        // Wait for the event (the reading reaching the setpoint), not for time.
        double k = 0;
        while ((k = std::stod(c.query("KRDG? 1"))) < 19.5) tw::sleep_for(20ms);
        // Relaxing from 4 K toward 20 K with tau = 100 ms takes about
        // tau·ln(16/0.5) ≈ 350 ms: certainly not less than one tau.
        EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
        EXPECT_NEAR(k, 20.0, 0.5);
        EXPECT_NEAR(std::stod(c.query("KRDG? 2")), 4.0, 0.05);  // loop 2 untouched
        EXPECT_EQ(c.query("SETP? 1"), "+2.0000E+01");
        EXPECT_EQ(c.query("*OPC?"), "1");
        EXPECT_EQ(c.query("*IDN?;*OPC?"), "TWSIM,TC-372,TC00000,1.0;1");
    });
}

TEST(SimScpi, BadCommandsGiveNoReplyAndQueueErrors) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 1, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        line_client c(sim.scpi_addresses()[0]);
        c.write("FOO?");
        c.write("KRDG? x");
        c.write("SETP 1");
        c.write("SETP 1,2,3");
        EXPECT_EQ(c.query("SYST:ERR?"), "-113,\"Undefined header\"");
        EXPECT_EQ(c.query("SYST:ERR?"), "-104,\"Data type error\"");
        EXPECT_EQ(c.query("SYST:ERR?"), "-109,\"Missing parameter\"");
        EXPECT_EQ(c.query("SYST:ERR?"), "-108,\"Parameter not allowed\"");
        EXPECT_EQ(c.query("SYST:ERR?"), "0,\"No error\"");
        for (int i = 0; i < 40; ++i) c.write("NOPE");
        for (int i = 0; i < 15; ++i) EXPECT_EQ(c.query("SYST:ERR?"), "-113,\"Undefined header\"");
        EXPECT_EQ(c.query("SYST:ERR?"), "-350,\"Queue overflow\"");
        EXPECT_EQ(c.query("SYST:ERR?"), "0,\"No error\"");
    });
}

TEST(SimScpi, AnOverlongLineClosesTheConnectionOnly) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 1, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        line_client bad(sim.scpi_addresses()[0]);
        std::string huge(64 * 1024, 'A');
        boost::system::error_code ec;
        boost::asio::async_write(bad.socket(), boost::asio::buffer(huge), tw::yield[ec]);
        // A normal close (FIN) after reading what we sent, not a reset.
        EXPECT_EQ(read_until_closed(bad.socket()).end, boost::asio::error::eof);
        line_client good(sim.scpi_addresses()[0]);
        EXPECT_THAT(good.query("*IDN?"), StartsWith("TWSIM,"));
    });
}

TEST(SimScpi, ManyInstrumentsOnFewPortsOnePerConnection) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 6, .scpi_ports = 2, .modbus = 0}, rt);
    ASSERT_EQ(sim.scpi_addresses().size(), 2u);
    EXPECT_THAT(sim.startup_lines().at(0), StartsWith("scpi "));
    client_runtime client;
    client.call([&] {
        std::vector<std::unique_ptr<line_client>> conns;
        std::set<std::string> serials;
        for (int i = 0; i < 6; ++i) {
            conns.push_back(std::make_unique<line_client>(sim.scpi_addresses()[static_cast<std::size_t>(i % 2)]));
            serials.insert(conns.back()->query("*IDN?"));
        }
        EXPECT_EQ(serials.size(), 6u);  // six instruments of their own
        conns[0]->write("SETP 1,50");
        EXPECT_EQ(conns[0]->query("SETP? 1"), "+5.0000E+01");
        EXPECT_EQ(conns[2]->query("SETP? 1"), "+4.0000E+00");  // same port, another instrument
        // A seventh connection to a full port is closed at once.
        line_client extra(sim.scpi_addresses()[0]);
        EXPECT_TRUE(closed_by_peer(extra.socket()));
        // A freed slot is served again.
        conns[0].reset();
        for (;;) {
            line_client again(sim.scpi_addresses()[0]);
            boost::system::error_code ec;
            auto l = std::string("*IDN?\n");
            boost::asio::async_write(again.socket(), boost::asio::buffer(l), tw::yield[ec]);
            std::string reply;
            boost::asio::async_read_until(again.socket(), boost::asio::dynamic_buffer(reply), '\n', tw::yield[ec]);
            if (!ec) {
                EXPECT_THAT(reply, StartsWith("TWSIM,"));
                break;
            }
            tw::sleep_for(10ms);  // the server has not seen the close yet
        }
    });
}

TEST(SimModbus, ServesPymodbus) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 0, .modbus = 2, .compressor_start = 1s, .compressor_stop = 1s}, rt);
    auto r = run_python("modbus_client.py", {port_of(sim.modbus_addresses()[1])});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("\nOK\n"));
}

TEST(SimModbus, MalformedFramesCloseTheConnectionWithAFin) {
    // A normal close after reading what the client sent: with the rest of a
    // frame unread, a plain close would be a reset, which clients report as a
    // network fault.
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 0, .modbus = 1}, rt);
    client_runtime client;
    client.call([&] {
        {
            auto s = connect(sim.modbus_addresses()[0]);
            // Protocol id 7 is not Modbus.
            std::array<std::uint8_t, 12> frame{0, 1, 0, 7, 0, 6, 1, 4, 0, 0, 0, 1};
            boost::asio::async_write(s, boost::asio::buffer(frame), tw::yield);
            auto end = read_until_closed(s);
            EXPECT_EQ(end.end, boost::asio::error::eof) << end.end.message();
            EXPECT_EQ(end.bytes, "");
        }
        {
            auto s = connect(sim.modbus_addresses()[0]);
            // Length 300: longer than any Modbus frame; 300 bytes follow.
            std::array<std::uint8_t, 7> frame{0, 1, 0, 0, 0x01, 0x2c, 1};
            boost::asio::async_write(s, boost::asio::buffer(frame), tw::yield);
            boost::asio::async_write(s, boost::asio::buffer(std::string(300, '\x04')), tw::yield);
            EXPECT_EQ(read_until_closed(s).end, boost::asio::error::eof);
        }
        auto s = connect(sim.modbus_addresses()[0]);
        auto reply = modbus_request(s, 9, 1, std::string("\x04\x00\x00\x00\x02", 5));
        EXPECT_EQ(reply.substr(0, 2), std::string("\x04\x04", 2));
        // Unit ids other than 0, 1, 255: gateway exception 11.
        EXPECT_EQ(modbus_request(s, 10, 17, std::string("\x04\x00\x00\x00\x01", 5)), std::string("\x84\x0b", 2));
    });
}

TEST(SimModbus, AlarmFaultDrivesTheStateToFaultAfterStart) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 0, .modbus = 2, .faults = {tw::sim::parse_fault("modbus/alarm:overheat@1")},
                            .compressor_start = 100ms},
                           rt);
    client_runtime client;
    client.call([&] {
        auto read_state = [](tcp::socket& s) {
            auto r = modbus_request(s, 1, 1, std::string("\x04\x00\x00\x00\x14", 5));
            std::vector<int> regs;
            for (std::size_t i = 2; i + 1 < r.size(); i += 2)
                regs.push_back((static_cast<unsigned char>(r[i]) << 8) | static_cast<unsigned char>(r[i + 1]));
            return regs;
        };
        for (std::size_t unit = 0; unit < 2; ++unit) {
            auto s = connect(sim.modbus_addresses()[unit]);
            modbus_request(s, 2, 1, std::string("\x06\x00\x00\x00\x01", 5));
            auto regs = read_state(s);
            while (regs[0] == 2) {
                tw::sleep_for(20ms);
                regs = read_state(s);
            }
            if (unit == 0) {
                EXPECT_EQ(regs[0], 3);
                EXPECT_EQ(regs[19], 0);
            } else {
                EXPECT_EQ(regs[0], 6);
                EXPECT_EQ(regs[1], 0);
                EXPECT_EQ(regs[19] & 1, 1);  // overheat alarm bit
                EXPECT_EQ(regs[18] & 1, 1);
            }
        }
    });
}
