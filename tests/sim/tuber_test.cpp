// Simulated Tuber boards: an independent client (Python's http.client) for the
// protocol, and in-process clients for physics against ground truth and for
// the reproducibility of noise.
#include <tw/sim/simulator.hpp>

#include <cmath>
#include <complex>
#include <map>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim_test_util.hpp"

using namespace tw_sim_test;
namespace json = boost::json;

namespace {

json::value tuber(http_client& c, const json::value& body) {
    auto r = c.post("/tuber", json::serialize(body));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
}

json::object call(const char* method, json::array args) {
    return json::object{{"object", "Board"}, {"method", method}, {"args", std::move(args)}};
}

std::complex<double> sample(const json::value& reply) {
    const auto& r = reply.at("result");
    return {r.at("i").to_number<double>(), r.at("q").to_number<double>()};
}

}  // namespace

TEST(SimTuber, ServesTheProtocolToPythonHttpClient) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 2, .scpi = 0, .modbus = 0, .seed = 3}, rt);
    auto r = run_python("tuber_client.py", {port_of(sim.tuber_addresses()[1])});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, ::testing::HasSubstr("\nOK\n"));
}

TEST(SimTuber, StartupLinesListFreePortsOrRanges) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 3, .scpi = 1, .modbus = 2}, rt);
    auto lines = sim.startup_lines();
    ASSERT_EQ(lines.size(), 3u);
    auto a = sim.tuber_addresses();
    EXPECT_EQ(lines[0], "tuber " + a[0] + "," + a[1] + "," + a[2]);
    EXPECT_EQ(lines[1], "scpi " + sim.scpi_addresses()[0]);
    EXPECT_EQ(lines[2], "modbus " + sim.modbus_addresses()[0] + "," + sim.modbus_addresses()[1]);
    EXPECT_EQ(sim.boards()[2].address, a[2]);
    auto truth = json::parse(sim.truth_json());
    EXPECT_EQ(truth.at("seed").to_number<std::uint64_t>(), 1u);
    EXPECT_EQ(truth.at("boards").as_array().size(), 3u);
    EXPECT_EQ(truth.at("boards").at(1).at("resonators").as_array().size(), 64u);
    EXPECT_EQ(json::value_to<std::string>(truth.at("boards").at(1).at("serial")), sim.boards()[1].serial);
}

TEST(SimTuber, TransmissionMatchesGroundTruth) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 2, .channels = 16, .scpi = 0, .modbus = 0, .seed = 11}, rt);
    client_runtime client;
    client.call([&] {
        for (std::size_t b = 0; b < 2; ++b) {
            http_client c(sim.tuber_addresses()[b]);
            const auto& truth = sim.boards()[b].resonators;
            ASSERT_EQ(truth.size(), 16u);
            // One batch: tune every channel onto its resonator and read it.
            json::array batch;
            for (std::size_t k = 0; k < truth.size(); ++k) {
                batch.push_back(call("set_amplitude", {k, 1.0}));
                batch.push_back(call("set_frequency", {k, truth[k].f}));
                batch.push_back(call("get_samples", {k, 1024}));
            }
            auto reply = tuber(c, batch);
            for (std::size_t k = 0; k < truth.size(); ++k)
                EXPECT_NEAR(std::abs(sample(reply.at(3 * k + 2))), 1 - truth[k].depth, 2e-2) << "board " << b << " resonator " << k;
            // Far from every resonator: halfway across the widest gap.
            double best_gap = 0, mid = 0;
            for (std::size_t k = 1; k < truth.size(); ++k)
                if (truth[k].f - truth[k - 1].f > best_gap) {
                    best_gap = truth[k].f - truth[k - 1].f;
                    mid = (truth[k].f + truth[k - 1].f) / 2;
                }
            auto far = tuber(c, json::array{call("set_frequency", {0, mid}), call("get_samples", {0})});
            EXPECT_NEAR(std::abs(sample(far.at(1))), 1.0, 2e-2);
            // Low amplitude scales the signal, not the noise.
            auto low = tuber(c, json::array{call("set_amplitude", {0, 0.01}), call("get_samples", {0, 1})});
            EXPECT_NEAR(std::abs(sample(low.at(1))), 0.01, 0.01);
        }
    });
}

TEST(SimTuber, SamplesMatchTheModelExactly) {
    // a·S21(f) + noise(seed, board, channel, call count): what a test can
    // compute in-process from the public physics functions.
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .channels = 4, .scpi = 0, .modbus = 0, .seed = 21}, rt);
    client_runtime client;
    client.call([&] {
        http_client c(sim.tuber_addresses()[0]);
        const auto& res = sim.boards()[0].resonators;
        tuber(c, json::array{call("set_amplitude", {2, 0.3}), call("set_frequency", {2, res[1].f + 100.0})});
        for (std::uint64_t k = 0; k < 3; ++k) {
            auto got = sample(tuber(c, call("get_samples", {2, 64})));
            auto want = 0.3 * tw::sim::s21(res, res[1].f + 100.0) + tw::sim::sample_noise(21, 0, 2, k, 64);
            EXPECT_NEAR(got.real(), want.real(), 1e-12);
            EXPECT_NEAR(got.imag(), want.imag(), 1e-12);
        }
    });
}

TEST(SimTuber, NoiseDoesNotDependOnTheInterleavingOfCalls) {
    // Two simulators with the same seed; the same calls per (board, channel)
    // in a different global order, over different connections.
    auto collect = [](bool reversed) {
        sim_runtime rt;
        tw::sim::simulator sim({.boards = 2, .channels = 3, .scpi = 0, .modbus = 0, .seed = 5}, rt);
        client_runtime client;
        std::map<std::tuple<int, int, int>, std::complex<double>> got;
        client.call([&] {
            std::vector<std::unique_ptr<http_client>> conns;
            for (int b = 0; b < 2; ++b) {
                conns.push_back(std::make_unique<http_client>(sim.tuber_addresses()[static_cast<std::size_t>(b)]));
                json::array setup;
                for (int ch = 0; ch < 3; ++ch) {
                    setup.push_back(call("set_amplitude", {ch, 0.5}));
                    setup.push_back(call("set_frequency", {ch, 4.5e6 + 1e5 * ch}));
                }
                tuber(*conns.back(), setup);
            }
            std::vector<std::tuple<int, int>> order;
            for (int round = 0; round < 4; ++round)
                for (int b = 0; b < 2; ++b)
                    for (int ch = 0; ch < 3; ++ch) order.emplace_back(b, ch);
            if (reversed) std::reverse(order.begin(), order.end());
            std::map<std::pair<int, int>, int> count;
            // Concurrent too: one fiber per board.
            tw::fan_out(std::vector<int>{0, 1}, [&](int board) {
                for (auto [b, ch] : order) {
                    if (b != board) continue;
                    int k = count[{b, ch}]++;
                    got[{b, ch, k}] = sample(tuber(*conns[static_cast<std::size_t>(b)], call("get_samples", {ch, 16})));
                }
            });
        });
        return got;
    };
    auto a = collect(false);
    auto b = collect(true);
    ASSERT_EQ(a.size(), 24u);
    EXPECT_EQ(a, b);
}

TEST(SimTuber, ConnectionsOfOneBoardShareItsState) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        http_client a(sim.tuber_addresses()[0]);
        http_client b(sim.tuber_addresses()[0]);
        tuber(a, call("set_frequency", {5, 5.5e6}));
        auto r = tuber(b, call("get_frequency", {5}));
        EXPECT_EQ(r.at("result").to_number<double>(), 5.5e6);
    });
}

TEST(SimTuber, StopsWhileClientsAreConnected) {
    sim_runtime rt;
    auto sim = std::make_unique<tw::sim::simulator>(tw::sim::config{.boards = 2, .scpi = 1, .modbus = 1}, rt);
    client_runtime client;
    client.call([&] {
        http_client a(sim->tuber_addresses()[0]);
        tuber(a, json::object{});
        line_client s(sim->scpi_addresses()[0]);
        EXPECT_THAT(s.query("*IDN?"), ::testing::StartsWith("TWSIM,TC-372,"));
        auto m = connect(sim->modbus_addresses()[0]);
        sim->stop();  // with three connections open on the server side
        EXPECT_EQ(rt.counters().live_fibers, 0u);
        // The peers see the connections closed.
        boost::system::error_code ec;
        char byte;
        a.socket().async_read_some(boost::asio::buffer(&byte, 1), tw::yield[ec]);
        EXPECT_TRUE(ec);
    });
}

TEST(SimTuber, ServesFromEveryWorkerOfAMultiThreadedRuntime) {
    // Accept fibers spread over the workers; each board's connections stay on
    // its worker, so its state is never shared between threads.
    sim_runtime rt(2);
    tw::sim::simulator sim({.boards = 8, .channels = 4, .scpi = 2, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        auto r = tw::fan_out(sim.tuber_addresses(), [&](const std::string& a) {
            std::vector<std::unique_ptr<http_client>> conns;
            for (int i = 0; i < 3; ++i) conns.push_back(std::make_unique<http_client>(a));
            for (int round = 0; round < 20; ++round) {
                auto& c = *conns[static_cast<std::size_t>(round % 3)];
                tuber(c, call("set_frequency", {round % 4, 4.1e6 + round}));
                auto f = tuber(c, call("get_frequency", {round % 4})).at("result").to_number<double>();
                if (f != 4.1e6 + round) throw std::runtime_error("lost update on " + a);
            }
            return true;
        });
        EXPECT_TRUE(r.all_ok()) << r.summary();
        for (const auto& a : sim.scpi_addresses()) {
            line_client s(a);
            EXPECT_THAT(s.query("*IDN?"), ::testing::StartsWith("TWSIM"));
        }
    });
}

TEST(SimTuber, NotFoundBodyIsJsonEvenForAPathThatIsNotUtf8) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        auto s = connect(sim.tuber_addresses()[0]);
        const std::string req = "GET /\xff\xfe\"x HTTP/1.1\r\nHost: x\r\n\r\n";
        boost::asio::async_write(s, boost::asio::buffer(req), tw::yield);
        namespace http = boost::beast::http;
        boost::beast::flat_buffer buf;
        http::response<http::string_body> r;
        http::async_read(s, buf, r, tw::yield);
        EXPECT_EQ(r.result_int(), 404u);
        boost::system::error_code ec;
        auto v = json::parse(r.body(), ec);  // Boost.JSON rejects text that is not UTF-8
        ASSERT_FALSE(ec) << ec.message() << ": " << r.body();
        EXPECT_THAT(json::value_to<std::string>(v.at("error").at("message")), ::testing::HasSubstr("/%FF%FE\"x"));
    });
}

TEST(SimTuber, JsonRpcNotificationsGet200WithAnEmptyBody) {
    // Not 204: Debian's libjsonrpccpp 0.7 client takes that for an error.
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        http_client c(sim.tuber_addresses()[0]);
        auto note = [](int channel) {
            return json::object{{"jsonrpc", "2.0"}, {"method", "Board.set_frequency"}, {"params", {channel, 5e6}}};
        };
        auto one = c.post("/rpc", json::serialize(note(1)));
        EXPECT_EQ(one.status, 200);
        EXPECT_EQ(one.body, "");
        auto batch = c.post("/rpc", json::serialize(json::array{note(2), note(3)}));
        EXPECT_EQ(batch.status, 200);
        EXPECT_EQ(batch.body, "");
        EXPECT_TRUE(batch.keep_alive);
        for (int ch : {1, 2, 3}) EXPECT_EQ(tuber(c, call("get_frequency", {ch})).at("result").to_number<double>(), 5e6);
    });
}

TEST(SimTuber, ANumberBeyondADoubleIsRefusedSoNoReplyEchoesInfinity) {
    // Boost.JSON reads 1e999 as infinity and would write it back as
    // `Infinity`, which is not JSON (found by fuzz_jsonrpc_request).
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0}, rt);
    client_runtime client;
    client.call([&] {
        http_client c(sim.tuber_addresses()[0]);
        for (const char* path : {"/rpc", "/tuber"}) {
            const std::string body = std::string(path) == "/rpc"
                                         ? R"([{"jsonrpc":"2.0","id":666666666666E6666662,"method":"Board.get_temperature"},5])"
                                         : R"({"object":"Board","method":"set_frequency","args":[1,1e999]})";
            auto r = c.post(path, body);
            boost::system::error_code ec;
            auto v = json::parse(r.body, ec);
            ASSERT_FALSE(ec) << path << ": " << r.body;
            EXPECT_THAT(r.body, ::testing::HasSubstr("beyond the range of a double")) << path;
            if (std::string(path) == "/rpc") {
                EXPECT_EQ(v.at("error").at("code").to_number<int>(), -32700);
            }
        }
        // The board is untouched and still answers.
        EXPECT_EQ(tuber(c, call("get_frequency", {1})).at("result").is_number(), true);
    });
}
