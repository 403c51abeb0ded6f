// Hostile and broken clients: the simulator bounds what one connection can
// take — calls per batch, bytes per reply, time to send a request or to take a
// reply, connections per port — and keeps serving everyone else meanwhile.
// Assertions are about events (who was answered, who was closed and how),
// never about speed; the configured timeouts are small so the tests are quick.
#include <tw/sim/simulator.hpp>

#include <functional>
#include <memory>
#include <stdexcept>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim_test_util.hpp"

using namespace tw_sim_test;
using ::testing::HasSubstr;
namespace json = boost::json;

namespace {

constexpr double k_fmin = 4.0e6;  // the boards' default FMIN

json::object call(const char* method, json::array args) {
    return json::object{{"object", "Board"}, {"method", method}, {"args", std::move(args)}};
}

// n calls setting channel 0 to FMIN + 1, FMIN + 2, ..., FMIN + n Hz.
std::string frequency_batch(std::size_t n) {
    json::array b;
    b.reserve(n);
    for (std::size_t i = 0; i < n; ++i) b.push_back(call("set_frequency", {0, k_fmin + static_cast<double>(i + 1)}));
    return json::serialize(b);
}

double frequency(http_client& c) {
    auto r = c.post("/tuber", json::serialize(call("get_frequency", {0})));
    return json::parse(r.body).at("result").to_number<double>();
}

std::string message_of(const json::value& v) { return json::value_to<std::string>(v.at("error").at("message")); }

// A complete HTTP request for POST /tuber, as raw bytes.
std::string raw_post(const std::string& body, const std::string& extra_headers = "") {
    return "POST /tuber HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + extra_headers + "\r\n" + body;
}

// n describe calls, each answered with the whole description of Board.
std::string describe_batch(std::size_t n) {
    json::array b;
    for (std::size_t i = 0; i < n; ++i) b.push_back(json::object{{"object", "Board"}, {"resolve", true}});
    return json::serialize(b);
}

}  // namespace

TEST(SimLimits, DefaultsBoundEveryConnection) {
    const tw::sim::config c;
    EXPECT_EQ(c.idle_timeout, 60s);
    EXPECT_EQ(c.request_timeout, 10s);
    EXPECT_EQ(c.max_connections, 256u);
    EXPECT_EQ(tw::sim::k_max_batch, 16384u);  // docs/WIRE_FORMATS.md, Tuber
    EXPECT_THROW(tw::sim::validate(tw::sim::config{.idle_timeout = -1s}), std::invalid_argument);
    EXPECT_THROW(tw::sim::validate(tw::sim::config{.request_timeout = -1s}), std::invalid_argument);
}

TEST(SimLimits, TuberBatchOverTheCapGetsOneErrorAndRunsNothing) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        http_client c(sim.tuber_addresses()[0]);
        auto r = c.post("/tuber", frequency_batch(tw::sim::k_max_batch + 1));
        EXPECT_EQ(r.status, 200);
        auto v = json::parse(r.body);
        ASSERT_TRUE(v.is_object()) << r.body.substr(0, 200);
        EXPECT_THAT(message_of(v), HasSubstr("at most 16384 calls"));
        EXPECT_EQ(frequency(c), k_fmin);  // nothing ran
        // A batch at the cap runs, every call of it.
        auto full = json::parse(c.post("/tuber", frequency_batch(tw::sim::k_max_batch)).body);
        EXPECT_EQ(full.as_array().size(), tw::sim::k_max_batch);
        EXPECT_EQ(frequency(c), k_fmin + static_cast<double>(tw::sim::k_max_batch));
    });
}

TEST(SimLimits, JsonRpcBatchOverTheCapIsOneInvalidRequestError) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        http_client c(sim.tuber_addresses()[0]);
        json::array batch;
        for (std::size_t i = 0; i <= tw::sim::k_max_batch; ++i)
            batch.push_back(json::object{{"jsonrpc", "2.0"}, {"method", "Board.set_frequency"}, {"params", {0, 5e6}}, {"id", i}});
        auto r = c.post("/rpc", json::serialize(batch));
        EXPECT_EQ(r.status, 200);
        auto v = json::parse(r.body);
        ASSERT_TRUE(v.is_object()) << r.body.substr(0, 200);  // one error object, not an array
        EXPECT_EQ(v.at("error").at("code").to_number<int>(), -32600);
        EXPECT_TRUE(v.at("id").is_null());
        EXPECT_EQ(frequency(c), k_fmin);  // nothing ran
    });
}

TEST(SimLimits, ReplyToABatchStopsGrowingAtTheBudget) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        http_client c(sim.tuber_addresses()[0]);
        // Within the cap, but the descriptions alone would be far over the budget.
        auto r = c.post("/tuber", describe_batch(tw::sim::k_max_batch));
        EXPECT_EQ(r.status, 200);
        EXPECT_LT(r.body.size(), tw::sim::k_reply_budget + 200 * tw::sim::k_max_batch);
        auto v = json::parse(r.body);
        const auto& a = v.as_array();
        ASSERT_EQ(a.size(), tw::sim::k_max_batch);  // one entry per call, as ever
        EXPECT_TRUE(a.front().as_object().contains("result"));
        EXPECT_THAT(message_of(a.back()), HasSubstr("not run"));
    });
}

TEST(SimLimits, ABatchDoesNotStallOtherBoardsOnItsWorker) {
    // One worker serves both boards. While board 0 runs a batch (at the cap)
    // that walks channel 0 through FMIN+1 … FMIN+n, a second connection to
    // board 0 sees a frequency strictly inside that walk — the batch is
    // running — then board 1 answers, then board 0 is still inside the walk:
    // board 1 was served in the middle of the batch. Without pauses in a batch
    // every other request waits for its end. Event order, not timing; a round
    // that happens to see the batch end in between is repeated.
    sim_runtime rt(1);
    tw::sim::simulator sim({.boards = 2, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        const std::size_t n = tw::sim::k_max_batch;
        const double last = k_fmin + static_cast<double>(n);
        const std::string batch = frequency_batch(n);
        http_client a(sim.tuber_addresses()[0]), observer(sim.tuber_addresses()[0]), other(sim.tuber_addresses()[1]);
        bool seen = false;
        for (int round = 0; round < 50 && !seen; ++round) {
            observer.post("/tuber", json::serialize(call("set_frequency", {0, k_fmin})));
            a.send("/tuber", batch);
            double f1 = k_fmin;
            while (f1 == k_fmin) f1 = frequency(observer);  // until the batch has started
            if (f1 != last) {
                EXPECT_EQ(other.post("/tuber", json::serialize(call("get_temperature", {}))).status, 200);
                const double f2 = frequency(observer);
                seen = f2 != last;
                EXPECT_GE(f2, f1);  // the batch runs in order
            }
            EXPECT_EQ(json::parse(a.receive().body).as_array().size(), n);
        }
        EXPECT_TRUE(seen) << "board 1 was never answered while board 0 ran a batch";
    });
}

TEST(SimLimits, AClientThatNeverReadsIsDisconnected) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0, .idle_timeout = 300ms}, rt);
    client_runtime client;
    client.call([&] {
        EXPECT_EQ(sim.open_connections(), 0u);
        // Requests whose replies (about 3 MB each) fill every buffer on the
        // way: the server's write then waits on us, for at most the idle
        // timeout, and drops us with our requests unread (a reset).
        const std::string request = raw_post(describe_batch(2000));
        auto s = connect(sim.tuber_addresses()[0]);
        boost::system::error_code ec;
        for (int i = 0; i < 10000 && !ec; ++i) boost::asio::async_write(s, boost::asio::buffer(request), tw::yield[ec]);
        EXPECT_TRUE(ec == boost::asio::error::connection_reset || ec == boost::asio::error::broken_pipe) << ec.message();
        wait_until([&] { return sim.open_connections() == 0; });
        http_client next(sim.tuber_addresses()[0]);
        EXPECT_EQ(next.post("/tuber", "{}").status, 200);
        EXPECT_EQ(sim.open_connections(), 1u);
    });
}

TEST(SimLimits, ConnectionsBeyondThePortCapAreClosedWhileTheFirstOnesWork) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 1, .modbus = 0, .max_connections = 3}, rt);
    client_runtime client;
    client.call([&] {
        // Tuber: three connections served, the fourth closed without a reply.
        std::vector<std::unique_ptr<http_client>> boards;
        for (int i = 0; i < 3; ++i) {
            boards.push_back(std::make_unique<http_client>(sim.tuber_addresses()[0]));
            EXPECT_EQ(boards.back()->post("/tuber", "{}").status, 200);
        }
        {
            auto extra = connect(sim.tuber_addresses()[0]);
            boost::asio::async_write(extra, boost::asio::buffer(raw_post("{}", "Connection: close\r\n")), tw::yield);
            auto end = read_until_closed(extra);
            EXPECT_EQ(end.bytes, "");
        }
        for (auto& c : boards) EXPECT_EQ(c->post("/tuber", "{}").status, 200);
        // A connection that closes makes room for the next.
        boards.pop_back();
        wait_until([&] { return sim.open_connections() == 2; });
        http_client next(sim.tuber_addresses()[0]);
        EXPECT_EQ(next.post("/tuber", "{}").status, 200);

        // SCPI, likewise.
        std::vector<std::unique_ptr<line_client>> tcs;
        for (int i = 0; i < 3; ++i) {
            tcs.push_back(std::make_unique<line_client>(sim.scpi_addresses()[0]));
            EXPECT_THAT(tcs.back()->query("*IDN?"), ::testing::StartsWith("TWSIM"));
        }
        line_client extra(sim.scpi_addresses()[0]);
        extra.write("*IDN?");
        EXPECT_EQ(read_until_closed(extra.socket()).bytes, "");
        for (auto& c : tcs) EXPECT_THAT(c->query("*IDN?"), ::testing::StartsWith("TWSIM"));
    });
}

TEST(SimLimits, ClientsTricklingARequestAreClosedAfterTheRequestTimeout) {
    // Slowloris: a byte every 20 ms keeps a connection far from idle (60 s by
    // default) but never completes a request; the request timeout ends it.
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 1, .modbus = 1, .request_timeout = 300ms}, rt);
    client_runtime client;
    client.call([&] {
        const std::string header = "POST /tuber HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        const std::string frame("\x00\x01\x00\x00\x00\x06\x01\x04\x00\x00\x00\x02", 12);  // read input registers 0-1
        struct trickle {
            std::string address;
            std::function<char(std::size_t)> byte;  // the i-th byte sent
            std::chrono::milliseconds pace;
        };
        const trickle clients[] = {
            // A header that never ends.
            {sim.tuber_addresses()[0], [&](std::size_t i) { return i < header.size() ? header[i] : 'a'; }, 20ms},
            // A line that never ends.
            {sim.scpi_addresses()[0], [](std::size_t i) { return i == 0 ? '*' : 'A'; }, 20ms},
            // Valid frames, each taking 12 × 50 ms: more than the request timeout.
            {sim.modbus_addresses()[0], [&](std::size_t i) { return frame[i % frame.size()]; }, 50ms},
        };
        for (const auto& c : clients) {
            auto s = connect(c.address);
            boost::system::error_code ec;
            for (std::size_t i = 0; i < 1000 && !ec; ++i) {
                const char byte = c.byte(i);
                boost::asio::async_write(s, boost::asio::buffer(&byte, 1), tw::yield[ec]);
                if (!ec) tw::sleep_for(c.pace);  // the client's pace, not a wait for the server
            }
            // The server closed first: our writes then fail (a reset answers
            // the first one after its FIN).
            EXPECT_TRUE(ec) << c.address;
        }
        wait_until([&] { return sim.open_connections() == 0; });
    });
}
