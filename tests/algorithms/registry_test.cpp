// The algorithm registry: registration checks, typed argument parsing, and
// run() fanning an each_board algorithm out over boards of the in-process
// simulator, where a failing board never stops the others.
#include <tw/algorithms/registry.hpp>

#include <atomic>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <gtest/gtest.h>

#include <tw/drivers/tuber/board.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>

namespace alg = tw::algorithms;
namespace json = boost::json;
using namespace std::chrono_literals;
using pk = alg::parameter_kind;

namespace {

alg::algorithm sample_algorithm() {
    return {.name = "sample",
            .help = "takes one of each kind",
            .parameters = {{.name = "count", .kind = pk::integer, .help = "a count", .required = true},
                           {.name = "frequency", .kind = pk::number, .help = "Hz", .default_value = "4.5e6"},
                           {.name = "label", .kind = pk::text, .help = "a label", .default_value = "none"},
                           {.name = "verbose", .kind = pk::flag, .help = "talk more", .default_value = "false"},
                           {.name = "wait", .kind = pk::duration, .help = "how long"}},
            .runs_on = alg::target::no_boards,
            .run = [](alg::run_context&, const alg::arguments& a) -> json::value { return a.integer("count"); }};
}

// What parse() says of `words`: the usage_error's text, or "(accepted)".
std::string usage_message(const alg::algorithm& a, const std::vector<std::string>& words) {
    try {
        alg::registry::parse(a, words);
    } catch (const tw::usage_error& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST(AlgorithmRegistry, BuiltinsAreRegisteredByName) {
    auto& r = alg::registry::global();
    for (const char* name : {"network_analysis", "find_resonances", "tune_channel", "tune_board", "tune_array",
                             "health_check", "cooldown"}) {
        const auto* a = r.find(name);
        ASSERT_NE(a, nullptr) << name;
        EXPECT_FALSE(a->help.empty()) << name;
    }
    EXPECT_EQ(r.find("no_such_algorithm"), nullptr);
    try {
        r.get("no_such_algorithm");
        FAIL() << "no usage_error";
    } catch (const tw::usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("tune_board"), std::string::npos) << e.what();  // lists the known ones
    }
}

TEST(AlgorithmRegistry, ParsesPositionalAndNamedArgumentsOfEveryKind) {
    const auto a = sample_algorithm();
    auto args = alg::registry::parse(a, {"7", "label=north", "2.5e6", "verbose=yes", "wait=1.5s"});
    EXPECT_EQ(args.integer("count"), 7);
    EXPECT_EQ(args.number("frequency"), 2.5e6);  // the next positional after count
    EXPECT_EQ(args.text("label"), "north");
    EXPECT_TRUE(args.flag("verbose"));
    EXPECT_EQ(args.duration("wait"), 1500ms);
    EXPECT_EQ(args.number("count"), 7.0);  // an integer reads as a number too

    auto defaults = alg::registry::parse(a, {"count=1e3"});
    EXPECT_EQ(defaults.integer("count"), 1000);
    EXPECT_EQ(defaults.number("frequency"), 4.5e6);
    EXPECT_EQ(defaults.text("label"), "none");
    EXPECT_FALSE(defaults.flag("verbose"));
    EXPECT_FALSE(defaults.has("wait"));  // optional without a default
    EXPECT_THROW(defaults.duration("wait"), tw::usage_error);
}

TEST(AlgorithmRegistry, BadArgumentsAreUsageErrorsThatSayWhy) {
    const auto a = sample_algorithm();
    auto message = [&](const std::vector<std::string>& words) { return usage_message(a, words); };
    EXPECT_NE(message({}).find("missing argument count"), std::string::npos);
    EXPECT_NE(message({"2.5"}).find("count='2.5' is not an integer"), std::string::npos);
    EXPECT_NE(message({"1", "frequency=high"}).find("is not a number"), std::string::npos);
    EXPECT_NE(message({"1", "verbose=maybe"}).find("is not a flag"), std::string::npos);
    EXPECT_NE(message({"1", "wait=soon"}).find("invalid duration"), std::string::npos);
    EXPECT_NE(message({"1", "colour=red"}).find("no parameter 'colour'"), std::string::npos);
    EXPECT_NE(message({"1", "count=2"}).find("given twice"), std::string::npos);
    EXPECT_NE(message({"1", "2", "x", "on", "1s", "extra"}).find("too many arguments"), std::string::npos);
}

TEST(AlgorithmRegistry, ValuesOutsideAParametersRangeAreUsageErrorsThatShowIt) {
    alg::algorithm a{.name = "ranged",
                     .help = "ranges",
                     .parameters = {{.name = "points", .kind = pk::integer, .help = "n", .default_value = "0", .min = 0, .max = 1000},
                                    {.name = "amplitude", .kind = pk::number, .help = "a", .default_value = "0.5", .min = 0,
                                     .max = 1, .min_excluded = true}},
                     .runs_on = alg::target::no_boards,
                     .run = [](alg::run_context&, const alg::arguments&) -> json::value { return nullptr; }};
    auto message = [&](const std::vector<std::string>& words) { return usage_message(a, words); };
    EXPECT_EQ(message({"points=-5"}), "ranged: points=-5 is outside [0, 1000]");
    EXPECT_EQ(message({"points=1e15"}), "ranged: points=1e15 is outside [0, 1000]");
    EXPECT_EQ(message({"amplitude=0"}), "ranged: amplitude=0 is outside (0, 1]");
    EXPECT_EQ(message({"amplitude=1e300"}), "ranged: amplitude=1e300 is outside (0, 1]");
    EXPECT_EQ(message({"points=1000", "amplitude=1"}), "(accepted)");  // both ends that are in
    EXPECT_NE(alg::registry::usage(a).find("(0, 1], default 0.5"), std::string::npos) << alg::registry::usage(a);
    // A default outside the range is the author's bug, said at registration.
    alg::registry r;
    auto bad_default = a;
    bad_default.parameters[0].default_value = "2000";
    EXPECT_THROW(r.add(bad_default), tw::usage_error);
    // Every built-in sweep size is bounded: no wrap to a huge allocation.
    const auto& tune = alg::registry::global().get("find_resonances");
    EXPECT_THROW(alg::registry::parse(tune, {"points=-1"}), tw::usage_error);
    EXPECT_THROW(alg::registry::parse(tune, {"amplitude=-1"}), tw::usage_error);
}

TEST(AlgorithmRegistry, RejectsMalformedAndDuplicateRegistrations) {
    alg::registry r;
    r.add(sample_algorithm());
    EXPECT_THROW(r.add(sample_algorithm()), tw::usage_error);  // same name
    auto bad_name = sample_algorithm();
    bad_name.name = "two words";
    EXPECT_THROW(r.add(bad_name), tw::usage_error);
    auto no_run = sample_algorithm();
    no_run.name = "no_run";
    no_run.run = nullptr;
    EXPECT_THROW(r.add(no_run), tw::usage_error);
    auto bad_default = sample_algorithm();
    bad_default.name = "bad_default";
    bad_default.parameters[1].default_value = "fast";
    EXPECT_THROW(r.add(bad_default), tw::usage_error);
    auto twice = sample_algorithm();
    twice.name = "twice";
    twice.parameters.push_back(twice.parameters[0]);
    EXPECT_THROW(r.add(twice), tw::usage_error);
    EXPECT_EQ(r.list().size(), 1u);
}

TEST(AlgorithmRegistry, RunsAnEachBoardAlgorithmOnEveryBoardAndKeepsGoingPastAFailure) {
    tw::runtime sim_rt({.threads = 1, .name = "registry-sim"});
    tw::sim::config c;
    c.boards = 3;
    c.channels = 4;
    c.scpi = 0;
    c.modbus = 0;
    tw::sim::simulator sim(c, sim_rt);

    std::atomic<int> calls{0};
    alg::algorithm serial{.name = "serial",
                          .help = "the board's serial number",
                          .runs_on = alg::target::each_board,
                          .run = [&](alg::run_context& ctx, const alg::arguments&) -> json::value {
                              ++calls;
                              tw::tuber::board b(ctx.board(), ctx.tuber);
                              return json::value(b.serial());
                          }};
    alg::run_context ctx;
    ctx.boards = sim.tuber_addresses();
    ctx.boards.insert(ctx.boards.begin() + 1, "127.0.0.1:1");  // refuses connections
    ctx.tuber.timeout = 5s;
    ctx.concurrency = 2;

    tw::runtime rt({.threads = 1, .name = "registry-test"});
    auto outcomes = rt.run([&] { return alg::registry::run(serial, ctx, {}); });
    sim.stop();

    ASSERT_EQ(outcomes.size(), 4u);
    EXPECT_EQ(calls.load(), 4);
    EXPECT_EQ(outcomes[1].address, "127.0.0.1:1");
    EXPECT_FALSE(outcomes[1].ok);
    EXPECT_FALSE(outcomes[1].error.empty());
    const auto& truth = sim.boards();
    for (std::size_t i : {0u, 2u, 3u}) {
        EXPECT_TRUE(outcomes[i].ok) << outcomes[i].error;
        const std::size_t board = i == 0 ? 0 : i - 1;
        EXPECT_EQ(outcomes[i].address, truth[board].address);
        EXPECT_EQ(outcomes[i].result.as_string(), truth[board].serial);
    }
}

TEST(AlgorithmRegistry, BoardAlgorithmsNeedBoards) {
    alg::algorithm a{.name = "needs_boards",
                     .help = "x",
                     .runs_on = alg::target::all_boards,
                     .run = [](alg::run_context&, const alg::arguments&) -> json::value { return nullptr; }};
    alg::run_context ctx;
    EXPECT_THROW(alg::registry::run(a, ctx, {}), tw::usage_error);
    // The one board of an each_board algorithm is there, or it is a usage error.
    EXPECT_THROW(ctx.board(), tw::usage_error);
}

TEST(AlgorithmRegistry, LoadPluginReportsWhatWentWrong) {
    alg::registry r;
    try {
        alg::load_plugin("/nonexistent/plugin.so", r);
        FAIL() << "no usage_error";
    } catch (const tw::usage_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot load plugin '/nonexistent/plugin.so'"), std::string::npos) << e.what();
    }
}
