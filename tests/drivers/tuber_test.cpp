// Tuber client and typed board: against simulated boards, scripted HTTP peers
// (oversized reply, a reply cut once) and faults.
#include <tw/drivers/tuber/board.hpp>
#include <tw/drivers/tuber/client.hpp>

#include <tw/sim/simulator.hpp>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "drivers_test_util.hpp"

using namespace tw_drivers_test;
namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

tw::sim::config boards(std::size_t n, std::vector<std::string> faults = {}) {
    tw::sim::config c{.boards = n, .channels = 8, .scpi = 0, .modbus = 0};
    for (auto& f : faults) c.faults.push_back(tw::sim::parse_fault(f));
    return c;
}

}  // namespace

TEST(TuberSignature, ObjectAndStringForms) {
    auto obj = json::parse(R"({"parameters": [{"name": "channel", "kind": "POSITIONAL_OR_KEYWORD"},
                                                {"name": "n", "kind": "POSITIONAL_OR_KEYWORD", "default": 256}]})");
    auto a = tw::tuber::parse_signature(obj);
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].name, "channel");
    EXPECT_FALSE(a[0].default_value);
    EXPECT_EQ(a[1].default_value->as_int64(), 256);
    EXPECT_EQ(tw::tuber::format_signature(a), "(channel, n=256)");

    auto b = tw::tuber::parse_signature(json::string("(self, channel: int, n=256, *, name='x', flag=True, **kw) -> dict"));
    ASSERT_EQ(b.size(), 5u);
    EXPECT_EQ(b[0].name, "channel");
    EXPECT_EQ(b[1].default_value->as_int64(), 256);
    EXPECT_EQ(b[2].default_value->as_string(), "x");
    EXPECT_TRUE(b[3].default_value->as_bool());
    EXPECT_EQ(b[4].kind, "VAR_KEYWORD");
    EXPECT_TRUE(tw::tuber::parse_signature(json::string("()")).empty());
}

TEST(TuberReplies, ParsedWithoutAConnection) {
    const std::string a = "b:1";
    EXPECT_EQ(tw::tuber::parse_reply(a, {.status = 200, .body = R"({"result":1})"}).as_object().at("result"), 1);
    EXPECT_THROW(tw::tuber::parse_reply(a, {.status = 200, .body = "<html>"}), tw::protocol_error);
    try {
        tw::tuber::parse_reply(a, {.status = 500, .reason = "Internal", .body = R"({"error":{"message":"boom"}})"});
        FAIL() << "no exception";
    } catch (const tw::protocol_error& e) {
        EXPECT_EQ(e.code(), 500);
        EXPECT_EQ(e.peer_message(), "boom");
    }
    auto r = tw::tuber::parse_result(a, "Board.x", json::parse(R"({"result":2,"warnings":["w"]})"));
    EXPECT_EQ(r.value(), 2);
    EXPECT_EQ(r.warnings(), std::vector<std::string>{"w"});
    EXPECT_FALSE(tw::tuber::parse_result(a, "Board.x", json::parse("[]")).ok());
    auto rs = tw::tuber::parse_batch_reply(a, {"Board.a", "Board.b"}, json::parse(R"({"error":"refused"})"));
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_THAT(rs[1].error_message(), HasSubstr("Board.b: refused"));
    EXPECT_THROW(tw::tuber::parse_batch_reply(a, {"Board.a", "Board.b"}, json::parse(R"([{"result":1}])")), tw::protocol_error);
    {
        // A result's value is the caller's: copied out of the reply's storage.
        json::monotonic_resource arena;
        const auto entry = json::parse(R"({"result":{"i":[1,2]}})", &arena);
        r = tw::tuber::parse_result(a, "Board.x", entry);
    }
    EXPECT_EQ(r.value().storage().get(), json::storage_ptr().get());
    EXPECT_EQ(r.value(), json::parse(R"({"i":[1,2]})"));
    auto info = tw::tuber::parse_description(
        a, "Board", json::parse(R"j({"__doc__":"d","methods":{"m":{"__signature__":"(self, n=2)"}},"properties":{"P":1}})j"));
    EXPECT_EQ(info.doc, "d");
    EXPECT_EQ(info.methods.at("m").signature, "(n=2)");
    EXPECT_EQ(info.properties.at("P"), 1);
    EXPECT_THROW(tw::tuber::parse_description(a, "Board", json::value(3)), tw::protocol_error);
}

TEST(TuberSim, CallsPropertiesResolveAndErrors) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1), rt);
    clients c;
    c.call([&] {
        tw::tuber::client t(sim.tuber_addresses()[0]);
        EXPECT_EQ(t.objects(), std::vector<std::string>{"Board"});
        EXPECT_EQ(t.property("Board", "SERIAL").as_string(), sim.boards()[0].serial);
        EXPECT_EQ(t.property("Board", "NCHANNELS").to_number<int>(), 8);
        t.call("Board", "set_frequency", {1, 4.5e6});
        EXPECT_DOUBLE_EQ(t.call("Board", "get_frequency", {1}).to_number<double>(), 4.5e6);
        t.call("Board", "set_amplitude", json::array{1}, json::object{{"amplitude", 0.25}});
        EXPECT_DOUBLE_EQ(t.call("Board", "get_amplitude", {1}).to_number<double>(), 0.25);

        const auto& info = t.resolve("Board");
        ASSERT_TRUE(info.methods.count("get_samples"));
        EXPECT_EQ(info.methods.at("get_samples").signature, "(channel, n=256)");
        EXPECT_EQ(info.properties.at("NCHANNELS").to_number<int>(), 8);
        EXPECT_EQ(&t.resolve("Board"), &info);  // cached

        try {
            t.call("Board", "set_frequency", {99, 4.5e6});
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_THAT(e.peer_message(), HasSubstr("channel"));
        }
        EXPECT_THROW(t.call("Board", "no_such_method"), tw::protocol_error);
        EXPECT_THROW(t.property("Nothing", "X"), tw::protocol_error);
        EXPECT_EQ(t.property("Board", "FIRMWARE").is_string(), true);  // still usable
    });
}

TEST(TuberSim, WarningsAreSurfaced) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1), rt);
    clients c;
    c.call([&] {
        std::vector<std::string> seen;
        tw::tuber::client t(sim.tuber_addresses()[0],
                            {.on_warning = [&](const std::string&, const std::string& call, const std::string& w) {
                                seen.push_back(call + ": " + w);
                            }});
        t.call("Board", "set_amplitude", {0, 0.0});
        auto r = t.call_with_warnings("Board", "get_samples", {0, 16});
        ASSERT_EQ(r.warnings.size(), 1u);
        EXPECT_THAT(r.warnings[0], HasSubstr("amplitude 0"));
        EXPECT_TRUE(seen.empty());  // returned, not reported twice
        t.call("Board", "get_samples", {0});
        ASSERT_EQ(seen.size(), 1u);
        EXPECT_THAT(seen[0], StartsWith("Board.get_samples: "));
    });
}

TEST(TuberSim, BatchResultsInOrderWithAnErrorPerFailedCall) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1), rt);
    clients c;
    c.call([&] {
        tw::tuber::client t(sim.tuber_addresses()[0]);
        tw::tuber::batch b(t);
        for (int ch = 0; ch < 4; ++ch) b.call("Board", "set_frequency", {ch, 4.1e6 + ch * 1e5});
        for (int ch = 0; ch < 4; ++ch) b.call("Board", "get_frequency", {ch});
        b.property("Board", "SERIAL");
        auto r = b.execute();
        ASSERT_EQ(r.size(), 9u);
        for (int ch = 0; ch < 4; ++ch) EXPECT_DOUBLE_EQ(r[4 + ch].value().to_number<double>(), 4.1e6 + ch * 1e5);
        EXPECT_EQ(r[8].value().as_string(), sim.boards()[0].serial);
        EXPECT_TRUE(b.empty());

        // Default: the first failure stops the batch.
        b.call("Board", "get_frequency", {0});
        b.call("Board", "get_frequency", {99});
        b.call("Board", "get_frequency", {1});
        r = b.execute();
        EXPECT_TRUE(r[0].ok());
        EXPECT_THROW(r[1].value(), tw::protocol_error);
        EXPECT_THAT(r[2].error_message(), HasSubstr("preceding"));

        tw::tuber::batch go_on(t, true);  // X-Tuber-Options: continue-on-error
        go_on.call("Board", "get_frequency", {99});
        go_on.call("Board", "get_frequency", {1});
        r = go_on.execute();
        EXPECT_FALSE(r[0].ok());
        EXPECT_DOUBLE_EQ(r[1].value().to_number<double>(), 4.2e6);
    });
}

TEST(TuberBatch, SendsNamesThatNeedEscapingAsJsonAndItsResultsOutliveIt) {
    clients c;
    c.call([&] {
        std::vector<std::string> bodies;
        scripted_server srv(c.rt(), [&](tcp::socket& sock, std::size_t) {
            std::string buf;
            for (;;) {
                bodies.push_back(read_http_request(sock, buf));
                const auto reply = http_ok(R"([{"result":{"i":1.5,"q":-2}},{"result":"x"},{"result":[1,{"a":null}]}])");
                boost::asio::async_write(sock, boost::asio::buffer(reply), tw::yield);
            }
        });
        tw::tuber::client t(srv.address());
        std::vector<tw::tuber::result> results;
        {
            tw::tuber::batch b(t);
            b.call("Bo\"ard\\", "get_\n\xc3\xa9\x01", {0, 2.5, "s"}, {{"n", 16}});
            b.property("Board", "SER\"IAL");
            b.call("Board", "get");
            EXPECT_EQ(b.size(), 3u);
            results = b.execute();
            EXPECT_TRUE(b.empty());
        }
        ASSERT_EQ(bodies.size(), 1u);
        EXPECT_EQ(json::parse(bodies[0]), json::parse(R"([
            {"object": "Bo\"ard\\", "method": "get_\n\u00e9\u0001", "args": [0, 2.5, "s"], "kwargs": {"n": 16}},
            {"object": "Board", "property": "SER\"IAL"},
            {"object": "Board", "method": "get", "args": [], "kwargs": {}}])"));
        ASSERT_EQ(results.size(), 3u);
        EXPECT_EQ(results[0].value(), json::parse(R"({"i":1.5,"q":-2})"));
        EXPECT_EQ(results[1].value(), "x");
        json::value kept = results[2].value();
        results.clear();
        EXPECT_EQ(kept, json::parse(R"([1,{"a":null}])"));
    });
}

TEST(TuberSim, TypedBoard) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1), rt);
    clients c;
    c.call([&] {
        tw::tuber::board b(sim.tuber_addresses()[0]);
        EXPECT_EQ(b.serial(), sim.boards()[0].serial);
        EXPECT_FALSE(b.firmware().empty());
        EXPECT_EQ(b.nchannels(), 8);
        EXPECT_DOUBLE_EQ(b.fmin(), 4.0e6);
        EXPECT_DOUBLE_EQ(b.fmax(), 6.0e6);
        b.set_amplitude(2, 0.5);
        b.set_frequency(2, 5.0e6);
        EXPECT_DOUBLE_EQ(b.get_frequency(2), 5.0e6);
        EXPECT_DOUBLE_EQ(b.get_amplitude(2), 0.5);
        auto s = b.get_samples(2, 1024);
        EXPECT_GT(std::abs(s), 0.0);
        EXPECT_LE(std::abs(s), 0.6);
        auto t = b.get_temperature();
        EXPECT_GT(t, 0);
        EXPECT_LT(t, 150);
        b.reset();
        EXPECT_DOUBLE_EQ(b.get_amplitude(2), 0.0);
        EXPECT_THROW(b.set_amplitude(2, 7), tw::protocol_error);
    });
}

TEST(TuberSim, ConcurrentFibersOnOneClientNeverInterleave) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1), rt);
    clients c;
    c.call([&] {
        tw::tuber::board b(sim.tuber_addresses()[0]);
        std::vector<int> channels{0, 1, 2, 3, 4, 5, 6, 7};
        auto r = tw::fan_out(channels, [&](int ch) {
            for (int i = 0; i < 10; ++i) {
                const double f = 4.1e6 + ch * 1e5 + i;
                b.set_frequency(ch, f);
                EXPECT_DOUBLE_EQ(b.get_frequency(ch), f);
            }
        });
        EXPECT_TRUE(r.all_ok()) << r.summary();
    });
}

TEST(TuberFaults, StalledBoardTimesOutAtItsDeadlineWhileOthersCarryOn) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(4, {"stall@2"}), rt);
    clients c;
    c.call([&] {
        auto addrs = sim.tuber_addresses();
        auto r = tw::fan_out(addrs, [](const std::string& a) {
            tw::tuber::board b(a, {.timeout = 300ms});
            const auto t0 = std::chrono::steady_clock::now();
            try {
                return b.get_temperature();
            } catch (const tw::timeout_error&) {
                EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
                throw;
            }
        });
        EXPECT_EQ(r.succeeded, 3u);
        EXPECT_THROW(r.outcomes[2].value(), tw::timeout_error);
    });
}

TEST(TuberFaults, DisconnectMidReplyThenTheNextCallReconnects) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1, {"disconnect"}), rt);
    clients c;
    c.call([&] {
        tw::tuber::client t(sim.tuber_addresses()[0], {.timeout = 2s});
        EXPECT_THROW(t.property("Board", "SERIAL"), tw::connection_error);
        EXPECT_THROW(t.property("Board", "SERIAL"), tw::connection_error);
    });
    c.call([&] {
        const std::string body = R"({"result": "SN-1"})";
        const std::string ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
        scripted_server srv(c.rt(), [&](tcp::socket& sock, std::size_t n) {
            std::string buf;
            for (;;) {
                read_http_request(sock, buf);
                if (n == 0) {
                    boost::asio::async_write(sock, boost::asio::buffer(ok.substr(0, ok.size() / 2)), tw::yield);
                    return;  // cut mid-reply
                }
                boost::asio::async_write(sock, boost::asio::buffer(ok), tw::yield);
            }
        });
        tw::tuber::client t(srv.address(), {.timeout = 2s});
        EXPECT_THROW(t.property("Board", "SERIAL"), tw::connection_error);
        EXPECT_EQ(t.property("Board", "SERIAL").as_string(), "SN-1");
        EXPECT_EQ(t.property("Board", "SERIAL").as_string(), "SN-1");  // kept alive
    });
}

TEST(TuberFaults, GarbageIsAProtocolError) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1, {"garbage"}), rt);
    clients c;
    c.call([&] {
        tw::tuber::client t(sim.tuber_addresses()[0], {.timeout = 2s});
        EXPECT_THROW(t.property("Board", "SERIAL"), tw::protocol_error);
        EXPECT_THROW(t.resolve("Board"), tw::protocol_error);
    });
}

TEST(TuberFaults, OversizedRepliesAreRejectedWithBoundedMemory) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1), rt);
    clients c;
    c.call([&] {
        // A real reply over a small limit.
        tw::tuber::client small(sim.tuber_addresses()[0], {.max_reply = 256});
        try {
            small.resolve("Board");
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("larger than 256"));
        }
        EXPECT_EQ(small.property("Board", "NCHANNELS").to_number<int>(), 8);  // small replies still fine

        // A peer that announces 1 TiB and streams zeros: rejected at the header.
        scripted_server srv(c.rt(), [&](tcp::socket& sock, std::size_t) {
            std::string buf;
            read_http_request(sock, buf);
            std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n";
            boost::asio::async_write(sock, boost::asio::buffer(head), tw::yield);
            std::string chunk(64 * 1024, '0');
            for (;;) boost::asio::async_write(sock, boost::asio::buffer(chunk), tw::yield);
        });
        tw::tuber::client t(srv.address());
        EXPECT_THROW(t.property("Board", "SERIAL"), tw::protocol_error);

        // Endless headers: rejected at the header limit.
        scripted_server hdr(c.rt(), [&](tcp::socket& sock, std::size_t) {
            std::string buf;
            read_http_request(sock, buf);
            std::string head = "HTTP/1.1 200 OK\r\n";
            boost::asio::async_write(sock, boost::asio::buffer(head), tw::yield);
            std::string line = "X-Filler: " + std::string(1000, 'a') + "\r\n";
            for (;;) boost::asio::async_write(sock, boost::asio::buffer(line), tw::yield);
        });
        tw::tuber::client h(hdr.address(), {.max_header = 16 * 1024});
        try {
            h.property("Board", "SERIAL");
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("header"));
        }
    });
}

TEST(TuberFaults, FlappingBoardIsReachedAgainOnceBack) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1, {"flap:300ms/300ms"}), rt);
    clients c;
    c.call([&] {
        tw::tuber::board b(sim.tuber_addresses()[0],
                           {.timeout = 1s, .reconnect = {.attempts = 2, .backoff = 10ms, .max_backoff = 20ms}});
        bool failed = false, back = false;
        while (!back) {
            try {
                b.get_temperature();
                back = failed;
            } catch (const tw::connection_error&) {
                failed = true;
            }
            tw::sleep_for(20ms);
        }
        SUCCEED();
    });
}

// Issue "Hostile peers and faults" #8: NCHANNELS 20000000 grew `tw tune` to
// 4 GiB, 1e10 or -5 made the board "ok" with 0 channels (an undefined
// static_cast<int>(double)), FMAX 1e308 overflowed a size_t cast.
TEST(TuberBoardProperties, OutOfRangeValuesAreProtocolErrorsNamingPropertyValueAndRange) {
    struct bad {
        std::string reply;
        std::string message;
    };
    const std::vector<bad> cases{
        {board_properties_reply("20000000"), "Board.NCHANNELS is 20000000, outside the range [1, 4096]"},
        {board_properties_reply("1e10"), "Board.NCHANNELS is 10000000000, outside the range [1, 4096]"},
        {board_properties_reply("-5"), "Board.NCHANNELS is -5, outside the range [1, 4096]"},
        {board_properties_reply("2.5"), "Board.NCHANNELS is 2.5, not an integer in the range [1, 4096]"},
        {board_properties_reply(R"("abc")"), R"(Board.NCHANNELS is "abc", not a number in the range [1, 4096])"},
        {board_properties_reply("0"), "Board.NCHANNELS is 0, outside the range [1, 4096]"},
        {board_properties_reply("18446744073709551615"), "Board.NCHANNELS is 18446744073709551615, outside the range [1, 4096]"},
        {board_properties_reply("64", "4e6", "1e308"), "Board.FMAX is 1e+308, outside the range [0, 10000000000]"},
        // JSON has no NaN; Boost.JSON reads an overflowing exponent as infinity.
        {board_properties_reply("64", "4e6", "1e999"), "Board.FMAX is inf, not a finite number in the range [0, 10000000000]"},
        {board_properties_reply("64", "-1e999", "6e6"), "Board.FMIN is -inf, not a finite number in the range [0, 10000000000]"},
        {board_properties_reply("64", "4e6", R"("NaN")"), R"(Board.FMAX is "NaN", not a number in the range [0, 10000000000])"},
        {board_properties_reply("64", "-4e6", "6e6"), "Board.FMIN is -4000000, outside the range [0, 10000000000]"},
        {board_properties_reply("64", "7e6", "6e6"), "Board.FMIN is 7000000, not below Board.FMAX = 6000000"},
    };
    clients c;
    c.call([&] {
        for (const auto& k : cases) {
            SCOPED_TRACE(k.reply);
            json_peer peer(c.rt(), k.reply);
            tw::tuber::board b(peer.address(), {.timeout = 5s});
            try {
                b.nchannels();
                ADD_FAILURE() << "no error";
            } catch (const tw::protocol_error& e) {
                EXPECT_EQ(std::string(e.what()), peer.address() + ": " + k.message);
                EXPECT_EQ(e.code(), 0);
            }
            EXPECT_THROW(b.fmax(), tw::protocol_error);  // nothing half-cached
        }
    });
}

TEST(TuberBoardProperties, ValuesAtTheEdgesOfTheirRangesAreAccepted) {
    clients c;
    c.call([&] {
        {
            json_peer peer(c.rt(), board_properties_reply("4096", "0", "1e10"));
            tw::tuber::board b(peer.address());
            EXPECT_EQ(b.nchannels(), 4096);
            EXPECT_EQ(b.fmin(), 0.0);
            EXPECT_EQ(b.fmax(), 1e10);
        }
        {
            json_peer peer(c.rt(), board_properties_reply("1.0", "4e6", "4.000001e6"));  // a whole number as a float
            tw::tuber::board b(peer.address());
            EXPECT_EQ(b.nchannels(), 1);
        }
    });
}

TEST(TuberBoardReadings, OutOfRangeReadingsAreProtocolErrors) {
    clients c;
    c.call([&] {
        json_peer temp(c.rt(), R"({"result": 1e999})");
        tw::tuber::board t(temp.address());
        try {
            t.get_temperature();
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("Board.get_temperature is inf, not a finite number in the range [-273.15, 1000]"));
        }
        json_peer samples(c.rt(), R"({"result": {"i": 1e300, "q": 0}})");
        tw::tuber::board s(samples.address());
        try {
            s.get_samples(0);
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("Board.get_samples.i is 1e+300, outside the range [-1000000000000, 1000000000000]"));
        }
    });
}

// Issue "Hostile peers and faults" #9: with one 300 ms-latency board,
// `tw tune --channel-concurrency 8 --timeout 2s` timed out ("no complete reply
// in time") although each exchange took 0.3 s: the wait in the board's queue
// counted against the request timeout.
TEST(TuberQueue, RequestTimeoutCoversTheExchangeNotTheWaitForTheBoard) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1, {"latency:300ms@0"}), rt);
    clients c;
    c.call([&] {
        // Eight exchanges of 0.3 s queue for 2.4 s: the last ones waited far
        // longer than the 1.5 s timeout, each exchange takes a fifth of it.
        tw::tuber::client t(sim.tuber_addresses()[0], {.timeout = 1500ms});
        std::vector<int> requests(8);
        auto r = tw::fan_out(requests, [&](int) { return std::string(t.property("Board", "SERIAL").as_string()); });
        EXPECT_TRUE(r.all_ok()) << r.summary();
    });
}

TEST(TuberQueue, CallersDeadlineBoundsTheWaitForTheBoardAndIsNamed) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1, {"latency:300ms@0"}), rt);
    clients c;
    c.call([&] {
        tw::tuber::client t(sim.tuber_addresses()[0], {.timeout = 10s});
        std::vector<int> requests(8);
        // The fan-out's deadline is each request's caller deadline. The 8th
        // request queues behind 7 exchanges of 0.3 s: it cannot reach the
        // board within 1 s.
        auto r = tw::fan_out(
            requests, [&](int) { return std::string(t.property("Board", "SERIAL").as_string()); }, {.deadline = 1s});
        try {
            r.outcomes[7].value();
            ADD_FAILURE() << "no error";
        } catch (const tw::timeout_error& e) {
            EXPECT_THAT(e.what(), HasSubstr(": POST /tuber: the caller's deadline passed while waiting for the board ("));
            EXPECT_THAT(e.what(), HasSubstr(" requests queued)"));
        }
        for (const auto& o : r.outcomes) {
            if (!o.ok()) {
                EXPECT_THAT(o.error_message(), ::testing::Not(HasSubstr("request timeout")));
            }
        }
    });
}

TEST(TuberQueue, RequestTimeoutIsNamedWhenItFires) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim(boards(1, {"stall@0"}), rt);
    clients c;
    c.call([&] {
        tw::tuber::client t(sim.tuber_addresses()[0], {.timeout = 200ms});
        try {
            t.property("Board", "SERIAL");
            ADD_FAILURE() << "no error";
        } catch (const tw::timeout_error& e) {
            EXPECT_THAT(e.what(), HasSubstr(": POST /tuber: no reply within the request timeout of 200ms"));
        }
    });
}
