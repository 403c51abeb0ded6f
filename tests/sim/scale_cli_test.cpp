// Scale (1,000 boards on one thread), the descriptor limit, and the `tw sim`
// program itself: start-up lines, ground truth file, clean exit on signals.
#include <tw/sim/simulator.hpp>

#include <sys/resource.h>

#include <fstream>
#include <limits>
#include <sstream>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim_test_util.hpp"

using namespace tw_sim_test;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace json = boost::json;

TEST(SimScale, AThousandBoardsServedAtOnceByOneThread) {
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1000, .channels = 8, .scpi = 0, .modbus = 0}, rt);
    const auto addrs = sim.tuber_addresses();
    ASSERT_EQ(addrs.size(), 1000u);
    client_runtime client;
    client.call([&] {
        // Every board has a connection open at the same time...
        auto conns = tw::fan_out(addrs, [](const std::string& a) { return std::make_shared<http_client>(a); }).values();
        // ...and answers on it.
        std::vector<std::size_t> idx(addrs.size());
        std::iota(idx.begin(), idx.end(), 0u);
        auto serials = tw::fan_out(idx, [&](std::size_t i) {
                           auto r = conns[i]->post("/tuber", R"({"object": "Board", "property": "SERIAL"})");
                           return json::value_to<std::string>(json::parse(r.body).at("result"));
                       }).values();
        std::set<std::string> unique(serials.begin(), serials.end());
        EXPECT_EQ(unique.size(), 1000u);
        EXPECT_EQ(serials[999], sim.boards()[999].serial);
    });
}

TEST(SimScale, TenThousandScpiConnectionsOnSixteenPorts) {
    // What `tw bench` drives: a separate process, so that the simulator and
    // the client each have the descriptor limit to themselves.
    child sim({TW_BINARY, "sim", "--scpi", "10000", "--scpi-ports", "16", "--scpi-port", "0"});
    auto line = sim.read_line();
    ASSERT_TRUE(line) << sim.stderr_text();
    ASSERT_THAT(*line, StartsWith("scpi "));
    EXPECT_EQ(std::count(line->begin(), line->end(), ','), 15);
    auto r = run_python("scpi_many.py", {"10000", line->substr(5)});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("OK 10000 connections"));
    sim.signal(SIGTERM);
    EXPECT_EQ(sim.wait(), 0) << sim.stderr_text();
}

TEST(SimScale, TheDescriptorLimitCapsWhatIsServedAndSaysSo) {
    sim_runtime rt;
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    const std::size_t too_many = rl.rlim_max == RLIM_INFINITY ? 1'000'000 : static_cast<std::size_t>(rl.rlim_max) + 100;
    // One port, one instrument per connection: cheap to set up however many.
    tw::sim::simulator sim({.boards = 0, .scpi = too_many, .scpi_ports = 1, .modbus = 0}, rt);
    ASSERT_EQ(sim.warnings().size(), 1u);
    EXPECT_THAT(sim.warnings()[0], HasSubstr("file-descriptor limit"));
    EXPECT_THAT(sim.warnings()[0], HasSubstr("of the " + std::to_string(too_many) + " requested"));
    EXPECT_LT(sim.options().scpi, too_many);
    EXPECT_GT(sim.options().scpi, 1000u);
    EXPECT_THROW(tw::sim::simulator({.boards = 0, .scpi = too_many, .scpi_ports = 1, .modbus = 0, .fit_fd_limit = false}, rt),
                 std::invalid_argument);
}

TEST(SimScale, ConsecutivePortsAreShownAsARange) {
    // Find a free port, then ask for it (a tiny race with other tests, which
    // use ephemeral ports the kernel hands out in turn).
    std::uint16_t port = 0;
    {
        boost::asio::io_context io;
        tcp::acceptor probe(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
        port = probe.local_endpoint().port();
    }
    sim_runtime rt;
    tw::sim::simulator sim({.boards = 1, .scpi = 0, .modbus = 0, .port = port}, rt);
    EXPECT_EQ(sim.startup_lines(), std::vector<std::string>{"tuber 127.0.0.1:" + std::to_string(port) + "+1"});
}

TEST(SimScale, CountsThatWouldOverflowAreRejected) {
    // SIZE_MAX is what "-1" becomes through an unsigned conversion; neither
    // the port range nor the descriptor count may wrap around it.
    constexpr auto huge = std::numeric_limits<std::size_t>::max();
    for (auto c : {tw::sim::config{.boards = huge}, tw::sim::config{.boards = huge, .port = 0},
                   tw::sim::config{.scpi = huge}, tw::sim::config{.modbus = huge, .modbus_port = 0}}) {
        try {
            tw::sim::validate(c);
            ADD_FAILURE() << "accepted a count of SIZE_MAX";
        } catch (const std::invalid_argument& e) {
            EXPECT_THAT(e.what(), ::testing::HasSubstr("at most"));
        }
    }
    EXPECT_THROW(tw::sim::validate({.boards = 2, .port = 65535}), std::invalid_argument);  // 65535+2 runs past
    EXPECT_NO_THROW(tw::sim::validate({.boards = 1, .port = 65535}));
}

TEST(SimScale, BadConfigurationsAreRejectedBeforeBinding) {
    sim_runtime rt;
    EXPECT_THROW(tw::sim::simulator({.boards = 1, .channels = 257}, rt), std::invalid_argument);
    EXPECT_THROW(tw::sim::simulator({.scpi = 2, .scpi_ports = 3}, rt), std::invalid_argument);
    EXPECT_THROW(tw::sim::simulator({.boards = 2, .faults = {tw::sim::parse_fault("stall@2")}}, rt), std::invalid_argument);
    EXPECT_THROW(tw::sim::simulator({.boards = 1, .bind = "localhost:80"}, rt), std::invalid_argument);
    EXPECT_THROW(tw::sim::simulator({.boards = 2, .port = 65535}, rt), std::invalid_argument);
}

TEST(SimCli, ServesUntilSigtermPrintsStartupLinesAndTruth) {
    const std::string truth = testing::TempDir() + "/sim_cli_truth.json";
    child sim({TW_BINARY, "sim", "--boards", "3", "--scpi", "1", "--modbus", "1", "--port", "0", "--scpi-port", "0",
               "--modbus-port", "0", "--seed", "7", "--truth", truth});
    auto tuber = sim.read_line();
    auto scpi = sim.read_line();
    auto modbus = sim.read_line();
    ASSERT_TRUE(tuber && scpi && modbus) << sim.stderr_text();
    ASSERT_THAT(*tuber, StartsWith("tuber 127.0.0.1:"));
    EXPECT_THAT(*scpi, StartsWith("scpi 127.0.0.1:"));
    EXPECT_THAT(*modbus, StartsWith("modbus 127.0.0.1:"));
    std::vector<std::string> boards;
    std::stringstream list(tuber->substr(6));
    for (std::string a; std::getline(list, a, ',');) boards.push_back(a);
    ASSERT_EQ(boards.size(), 3u);

    std::ifstream f(truth);
    json::value t = json::parse(std::string(std::istreambuf_iterator<char>(f), {}));
    EXPECT_EQ(t.at("seed").to_number<int>(), 7);
    ASSERT_EQ(t.at("boards").as_array().size(), 3u);
    EXPECT_EQ(json::value_to<std::string>(t.at("boards").at(2).at("address")), boards[2]);
    const auto& r0 = t.at("boards").at(0).at("resonators").at(0);
    EXPECT_GT(r0.at("f").to_number<double>(), 4e6);
    EXPECT_GT(r0.at("q").to_number<double>(), 4999.0);
    EXPECT_GT(r0.at("depth").to_number<double>(), 0.49);

    client_runtime client;
    client.call([&] {
        http_client c(boards[2]);
        auto r = c.post("/tuber", R"({"object": "Board", "property": "SERIAL"})");
        EXPECT_EQ(json::parse(r.body).at("result"), t.at("boards").at(2).at("serial"));
        line_client s(scpi->substr(5));
        EXPECT_THAT(s.query("*IDN?"), StartsWith("TWSIM,TC-372,"));
    });
    sim.signal(SIGTERM);
    EXPECT_EQ(sim.wait(), 0) << sim.stderr_text();
}

TEST(SimCli, StopsCleanlyOnSigintWithClientsConnected) {
    child sim({TW_BINARY, "sim", "--boards", "1", "--port", "0"});
    auto line = sim.read_line();
    ASSERT_TRUE(line) << sim.stderr_text();
    ASSERT_THAT(*line, StartsWith("tuber "));
    EXPECT_FALSE(sim.read_line(200ms));  // one kind, one line
    client_runtime client;
    client.call([&] {
        http_client c(line->substr(6));
        EXPECT_EQ(c.post("/tuber", "{}").status, 200);
        sim.signal(SIGINT);
        EXPECT_EQ(sim.wait(), 0) << sim.stderr_text();
    });
}

TEST(SimCli, SaysSoWhenTheDescriptorLimitIsTooLow) {
    child sim({TW_BINARY, "sim", "--scpi", "100000", "--scpi-ports", "1", "--scpi-port", "0"});
    auto line = sim.read_line();
    ASSERT_TRUE(line) << sim.stderr_text();
    EXPECT_THAT(*line, StartsWith("scpi 127.0.0.1:"));
    EXPECT_THAT(sim.stderr_text(), HasSubstr("of the 100000 requested"));
    sim.signal(SIGTERM);
    EXPECT_EQ(sim.wait(), 0);
}

TEST(SimCli, UsageErrorsExitWithTwo) {
    const std::string tw = TW_BINARY;
    struct bad {
        std::string args, message;
    };
    for (const auto& b : std::vector<bad>{{"--fault explode", "unknown kind 'explode'"},
                                          {"--latency fast", "invalid duration 'fast'"},
                                          {"--channels 300", "at most 256"},
                                          {"--boards 2 --fault stall@5", "instance 5 does not exist"},
                                          {"--scpi 1 --scpi-ports 2", "--scpi-ports"},
                                          {"--threads 0", "threads"},
                                          {"--bogus", "bogus"}}) {
        auto r = run_command("timeout -k 5 60 " + tw + " sim " + b.args);
        EXPECT_EQ(r.status, 2) << b.args << ": " << r.output;
        EXPECT_THAT(r.output, HasSubstr(b.message)) << b.args;
    }
}

TEST(SimCli, BindingAPortInUseFailsWithExitOne) {
    boost::asio::io_context io;
    tcp::acceptor taken(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    auto port = std::to_string(taken.local_endpoint().port());
    auto r = run_command("timeout -k 5 60 " + std::string(TW_BINARY) + " sim --boards 1 --port " + port);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("cannot bind 127.0.0.1:" + port + ": Address already in use"));
}
