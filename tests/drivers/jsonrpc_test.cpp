// JSON-RPC 2.0 client: against the simulated boards' /rpc and Debian's
// python3-jsonrpclib-pelix server (HTTP/1.0, closes after every reply).
#include <tw/drivers/jsonrpc/client.hpp>

#include <tw/sim/simulator.hpp>

#include <boost/json/parse.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "drivers_test_util.hpp"

using namespace tw_drivers_test;
namespace json = boost::json;
using ::testing::HasSubstr;

TEST(JsonRpcUrl, Forms) {
    auto u = tw::jsonrpc::parse_url("http://127.0.0.1:9000/rpc");
    EXPECT_EQ(u.address, "127.0.0.1:9000");
    EXPECT_EQ(u.target, "/rpc");
    EXPECT_EQ(tw::jsonrpc::parse_url("127.0.0.1:9000").target, "/");
    EXPECT_EQ(tw::jsonrpc::parse_url("http://[::1]:8080/a/b").address, "[::1]:8080");
    EXPECT_EQ(tw::jsonrpc::parse_url("http://localhost/").address, "localhost:80");
    EXPECT_THROW(tw::jsonrpc::parse_url("https://x:1/"), std::invalid_argument);
    EXPECT_THROW(tw::jsonrpc::parse_url("x/rpc"), std::invalid_argument);
}

TEST(JsonRpcReplies, ParsedWithoutAConnection) {
    const std::string a = "b:1";
    EXPECT_TRUE(tw::jsonrpc::parse_reply(a, {.status = 200, .body = " \r\n"}).is_null());
    EXPECT_THROW(tw::jsonrpc::parse_reply(a, {.status = 200, .body = "{"}), tw::protocol_error);
    EXPECT_THROW(tw::jsonrpc::parse_reply(a, {.status = 500, .reason = "Oops", .body = "x"}), tw::protocol_error);
    // A JSON-RPC error with a non-2xx status is the reply.
    auto err = tw::jsonrpc::parse_reply(a, {.status = 400, .body = R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})"});
    try {
        tw::jsonrpc::parse_call_reply(a, "m", 1, err).value();
        FAIL() << "no exception";
    } catch (const tw::protocol_error& e) {
        EXPECT_EQ(e.code(), -32700);
    }
    EXPECT_EQ(tw::jsonrpc::parse_call_reply(a, "m", 1, json::parse(R"({"jsonrpc":"2.0","result":4,"id":1})")).value(), 4);
    EXPECT_THROW(tw::jsonrpc::parse_call_reply(a, "m", 1, json::parse(R"({"jsonrpc":"2.0","result":4,"id":2})")),
                 tw::protocol_error);
    auto rs = tw::jsonrpc::parse_batch_reply(a, {1, 2, 3}, {"a", "b", "c"},
                                             json::parse(R"([{"jsonrpc":"2.0","result":"B","id":2},{"jsonrpc":"2.0","result":"A","id":1}])"));
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[0].value(), "A");
    EXPECT_EQ(rs[1].value(), "B");
    EXPECT_THAT(rs[2].error_message(), HasSubstr("c: no response in the batch reply"));
    EXPECT_THROW(tw::jsonrpc::parse_batch_reply(a, {1}, {"a"}, json::parse("{}")), tw::protocol_error);
}

TEST(JsonRpcSim, CallsNotificationsBatchesAndErrorObjects) {
    tw_sim_test::sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .channels = 4, .scpi = 0, .modbus = 0}, rt);
    clients c;
    c.call([&] {
        tw::jsonrpc::client rpc("http://" + sim.tuber_addresses()[0] + "/rpc");
        rpc.call("Board.set_frequency", json::array{0, 4.5e6});
        EXPECT_DOUBLE_EQ(rpc.call("Board.get_frequency", json::array{0}).to_number<double>(), 4.5e6);
        rpc.call("Board.set_amplitude", json::object{{"channel", 1}, {"amplitude", 0.5}});
        EXPECT_DOUBLE_EQ(rpc.call("Board.get_amplitude", json::object{{"channel", 1}}).to_number<double>(), 0.5);
        EXPECT_TRUE(rpc.call("Board.get_temperature").is_number());
        try {
            rpc.call("Board.set_frequency", json::array{77, 4.5e6});
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_EQ(e.code(), -32602);
            EXPECT_THAT(e.data(), HasSubstr("channel"));
        }
        try {
            rpc.call("Board.nope");
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_EQ(e.code(), -32601);
        }
        rpc.notify("Board.set_frequency", json::array{2, 5.5e6});
        EXPECT_DOUBLE_EQ(rpc.call("Board.get_frequency", json::array{2}).to_number<double>(), 5.5e6);

        tw::jsonrpc::batch b(rpc);
        b.call("Board.get_frequency", json::array{0});
        b.notify("Board.set_frequency", json::array{3, 4.8e6});
        b.call("Board.get_frequency", json::array{99});
        b.call("Board.get_frequency", json::array{2});
        auto r = b.execute();
        ASSERT_EQ(r.size(), 3u);
        EXPECT_DOUBLE_EQ(r[0].value().to_number<double>(), 4.5e6);
        EXPECT_THROW(r[1].value(), tw::protocol_error);
        EXPECT_DOUBLE_EQ(r[2].value().to_number<double>(), 5.5e6);
        EXPECT_DOUBLE_EQ(rpc.call("Board.get_frequency", json::array{3}).to_number<double>(), 4.8e6);
    });
}

TEST(JsonRpcIndependent, JsonrpclibPelixOverHttp10) {
    python_server py("jsonrpc_server.py");
    ASSERT_TRUE(py.ok());
    clients c;
    c.call([&] {
        tw::jsonrpc::client rpc("http://" + py.address() + "/");
        // Every call needs a new connection: the server closes after each reply.
        for (int i = 0; i < 5; ++i) EXPECT_EQ(rpc.call("add", json::array{i, 2}).as_int64(), i + 2);
        EXPECT_EQ(rpc.call("echo", json::array{json::object{{"k", "v"}}}).as_object().at("k").as_string(), "v");
        EXPECT_EQ(rpc.call("greet", json::object{{"name", "tw"}}).as_string(), "hello tw");
        try {
            rpc.call("fail");
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_NE(e.code(), 0);
            EXPECT_THAT(e.peer_message(), HasSubstr("always fails"));
        }
        try {
            rpc.call("no_such_method");
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_EQ(e.code(), -32601);
        }
        rpc.notify("note", json::array{"n1"});
        EXPECT_EQ(rpc.call("notes").as_array().size(), 1u);

        tw::jsonrpc::batch b(rpc);
        b.call("add", json::array{1, 1});
        b.call("fail");
        b.call("echo", json::array{"x"});
        auto r = b.execute();
        ASSERT_EQ(r.size(), 3u);
        EXPECT_EQ(r[0].value().as_int64(), 2);
        EXPECT_FALSE(r[1].ok());
        EXPECT_EQ(r[2].value().as_string(), "x");

        // Also at /RPC2, and from several fibers at once.
        tw::jsonrpc::client rpc2("http://" + py.address() + "/RPC2");
        std::vector<int> items{1, 2, 3, 4, 5, 6};
        auto all = tw::fan_out(items, [&](int i) { return rpc2.call("add", json::array{i, i}).as_int64(); });
        ASSERT_TRUE(all.all_ok()) << all.summary();
        for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(all.outcomes[i].value(), 2 * items[i]);
    });
}

// Issue "Hostile peers and faults" #8 (audit): error.code was narrowed from
// 64 bits to int unchecked.
TEST(JsonRpcFaults, ErrorCodeOutOfRangeIsAProtocolErrorNamingIt) {
    clients c;
    c.call([&] {
        json_peer peer(c.rt(), R"({"jsonrpc": "2.0", "id": null, "error": {"code": 99999999999, "message": "boom"}})");
        tw::jsonrpc::client rpc("http://" + peer.address() + "/rpc");
        try {
            rpc.call("Board.get_temperature");
            ADD_FAILURE() << "no error";
        } catch (const tw::protocol_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("Board.get_temperature: error.code is 99999999999, outside the range "
                                            "[-2147483648, 2147483647]"));
        }
    });
}
