// The transport under every driver: addresses, connecting with retries,
// reads under deadlines that lose nothing, bounded lines, the command log.
#include <tw/drivers/http.hpp>
#include <tw/drivers/tcp_stream.hpp>

#include <tw/drivers/errors.hpp>
#include <tw/drivers/scpi/client.hpp>
#include <tw/sim/simulator.hpp>

#include <sstream>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "drivers_test_util.hpp"

using namespace tw_drivers_test;
using ::testing::HasSubstr;

TEST(Address, Forms) {
    auto a = tw::parse_address("127.0.0.1:5025");
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 5025);
    auto b = tw::parse_address("[::1]:9000");
    EXPECT_EQ(b.host, "::1");
    EXPECT_EQ(b.port, 9000);
    EXPECT_EQ(tw::parse_address("localhost:1").host, "localhost");
    EXPECT_THROW(tw::parse_address("127.0.0.1"), std::invalid_argument);
    EXPECT_THROW(tw::parse_address("::1:80"), std::invalid_argument);
    EXPECT_THROW(tw::parse_address("h:0"), std::invalid_argument);
    EXPECT_THROW(tw::parse_address("h:70000"), std::invalid_argument);
}

TEST(HttpReply, ParsedFromBytes) {
    auto r = tw::parse_http_reply("b:1", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.reason, "OK");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, "{}");
    // HTTP/1.0 without a length: the body runs to the end of the stream.
    EXPECT_EQ(tw::parse_http_reply("b:1", "HTTP/1.0 200 OK\r\n\r\nabc").body, "abc");
    EXPECT_THROW(tw::parse_http_reply("b:1", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"), tw::connection_error);
    EXPECT_THROW(tw::parse_http_reply("b:1", "\x80\x81 garbage\r\n\r\n"), tw::protocol_error);
    try {
        tw::parse_http_reply("b:1", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 1024, 10);
        FAIL() << "no exception";
    } catch (const tw::protocol_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("reply body larger than 10 bytes"));
    }
}

TEST(TcpStream, RefusedConnectionsAreRetriedThenReported) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 1, .modbus = 0, .faults = {tw::sim::parse_fault("scpi/refuse")}}, rt);
    clients c;
    c.call([&] {
        std::ostringstream out;
        auto logger = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
        logger->set_level(spdlog::level::debug);
        try {
            tw::tcp_stream::connect(sim.scpi_addresses()[0], tw::reconnect_policy{.attempts = 3, .backoff = 5ms},
                                    tw::command_log(logger));
            ADD_FAILURE() << "connected";
        } catch (const tw::connection_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused);
            EXPECT_THAT(e.what(), HasSubstr("3 attempts"));
            EXPECT_EQ(e.address(), sim.scpi_addresses()[0]);
        }
        EXPECT_THAT(out.str(), HasSubstr("retrying in 5ms"));
        EXPECT_THAT(out.str(), HasSubstr("retrying in 10ms"));
        EXPECT_THROW(tw::tcp_stream::connect("127.0.0.1:bad"), tw::connection_error);
    });
}

TEST(TcpStream, ATimedOutReadLosesNothing) {
    clients c;
    c.call([&] {
        auto go = std::make_shared<tw::semaphore>(0);
        scripted_server srv(c.rt(), [go](tcp::socket& sock, std::size_t) {
            boost::asio::async_write(sock, boost::asio::buffer(std::string("first half, ")), tw::yield);
            go->acquire();
            boost::asio::async_write(sock, boost::asio::buffer(std::string("second half\nnext\n")), tw::yield);
            std::string buf;
            boost::asio::async_read_until(sock, boost::asio::dynamic_buffer(buf), "never", tw::yield);
        });
        auto s = tw::tcp_stream::connect(srv.address());
        {
            tw::deadline_scope d(100ms);
            const auto t0 = std::chrono::steady_clock::now();
            EXPECT_THROW(s.read_line(), tw::timeout_error);
            EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
        }
        go->release();
        EXPECT_EQ(s.read_line(), "first half, second half");
        EXPECT_EQ(s.read_line(), "next");
    });
}

TEST(TcpStream, ALineOverTheLimitIsAProtocolErrorAndCloses) {
    clients c;
    c.call([&] {
        scripted_server srv(c.rt(), [](tcp::socket& sock, std::size_t) {
            boost::asio::async_write(sock, boost::asio::buffer(std::string(5000, 'x') + "\nok\n"), tw::yield);
            std::string buf;
            boost::asio::async_read_until(sock, boost::asio::dynamic_buffer(buf), "never", tw::yield);
        });
        auto s = tw::tcp_stream::connect(srv.address());
        EXPECT_THROW(s.read_line(1000), tw::protocol_error);
        EXPECT_FALSE(s.is_open());
        EXPECT_THROW(s.read_line(), tw::connection_error);
    });
}

TEST(CommandLog, RecordsBoardDirectionAndText) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim({.boards = 0, .scpi = 1, .modbus = 0}, rt);
    clients c;
    std::ostringstream out;
    auto logger = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_level(spdlog::level::info);
    logger->set_pattern("%H:%M:%S.%e %v");
    c.call([&] {
        tw::scpi::client s(sim.scpi_addresses()[0], {.log = tw::command_log(logger, tw::command_log::level::info)});
        s.query("*IDN?");
    });
    const auto addr = sim.scpi_addresses()[0];
    EXPECT_THAT(out.str(), HasSubstr(addr + " - connected"));
    EXPECT_THAT(out.str(), HasSubstr(addr + " > *IDN?"));
    EXPECT_THAT(out.str(), HasSubstr(addr + " < TWSIM,TC-372"));
    EXPECT_THAT(out.str(), ::testing::ContainsRegex("[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\\.[0-9]+ "));
}
