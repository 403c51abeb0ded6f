// cooldown against the in-process simulator's SCPI temperature controller and
// Modbus compressor: from an idle compressor to a stable setpoint (stepped and
// ramped), alarms reported, a tripped compressor not restarted unless asked,
// deadlines that name what they waited for, cancellation, a plain-thread call.
//
// Short simulated time constants (tau 100 ms, compressor start 200 ms) keep
// each test well under a second; every wait is bounded by the deadline given
// to cooldown and by a 20 s guard on the whole body.
#include <tw/algorithms/cooldown.hpp>
#include <tw/sim/simulator.hpp>
#include <tw/tw.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim_fixture.hpp"

using namespace std::chrono_literals;
namespace alg = tw::algorithms;
using ::testing::HasSubstr;

namespace {

// The simulated instruments: no boards, one SCPI controller, one Modbus compressor.
tw::sim::config instruments(const std::vector<std::string>& faults, std::chrono::nanoseconds start) {
    tw::sim::config c;
    c.boards = 0;
    c.scpi = 1;
    c.modbus = 1;
    c.tau = 100ms;
    c.compressor_start = start;
    c.compressor_stop = 100ms;
    for (const auto& f : faults) c.faults.push_back(tw::sim::parse_fault(f));
    return c;
}

// One controller and one compressor, simulated on a runtime of their own; the
// algorithm runs on another (tw_test::sim_fixture).
struct fixture : tw_test::sim_fixture {
    std::optional<tw::modbus::compressor> compressor;
    std::optional<tw::scpi::temperature_controller> controller;

    explicit fixture(std::vector<std::string> faults = {}, std::chrono::nanoseconds start = 200ms)
        : sim_fixture(instruments(faults, start)) {
        compressor.emplace(sim->modbus_addresses()[0]);
        controller.emplace(sim->scpi_addresses()[0]);
    }
    // The clients close before ~sim_fixture stops the simulator.
    ~fixture() {
        compressor.reset();
        controller.reset();
    }
};

alg::cooldown_options fast_options() {
    alg::cooldown_options o;
    o.tolerance = 0.1;  // the reading's noise at 10 K is about 0.01 K
    o.hold = 200ms;
    o.poll = 20ms;
    return o;
}

bool has_step(const alg::cooldown_result& r, const std::string& prefix) {
    return std::any_of(r.steps.begin(), r.steps.end(), [&](const auto& s) { return s.what.rfind(prefix, 0) == 0; });
}

const alg::cooldown_step* find_step(const alg::cooldown_result& r, const std::string& prefix) {
    for (const auto& s : r.steps)
        if (s.what.rfind(prefix, 0) == 0) return &s;
    return nullptr;
}

}  // namespace

TEST(CompressorBits, NamesEachSetBit) {
    EXPECT_TRUE(alg::compressor_bit_names(0).empty());
    EXPECT_EQ(alg::compressor_bit_names(1), std::vector<std::string>{"overheat"});
    EXPECT_EQ(alg::compressor_bit_names(2), std::vector<std::string>{"pressure"});
    EXPECT_EQ(alg::compressor_bit_names(0x8003), (std::vector<std::string>{"overheat", "pressure", "bit 15"}));
}

TEST(Cooldown, FromAnIdleCompressorReachesRunningAndAStableSetpoint) {
    fixture fx;
    auto o = fast_options();
    std::vector<alg::cooldown_progress> progress;
    std::size_t steps_told = 0;
    o.progress = [&](const alg::cooldown_progress& p) { progress.push_back(p); };
    o.on_step = [&](const alg::cooldown_step&) { ++steps_told; };
    auto r = fx.run([&] {
        EXPECT_EQ(fx.compressor->state(), tw::modbus::compressor_state::idle);
        auto res = alg::cooldown(*fx.compressor, *fx.controller, 10.0, 15s, o);
        // Left as the algorithm says: running, the setpoint set, the sensor there.
        EXPECT_EQ(fx.compressor->state(), tw::modbus::compressor_state::running);
        EXPECT_DOUBLE_EQ(fx.controller->setpoint(1), 10.0);
        EXPECT_FALSE(fx.controller->ramp(1).enabled);
        EXPECT_NEAR(fx.controller->temperature(1), 10.0, 0.1);
        return res;
    });
    EXPECT_DOUBLE_EQ(r.setpoint, 10.0);
    EXPECT_NEAR(r.final_temperature, 10.0, 0.1);
    EXPECT_GT(r.time_to_running_s, 0.0);
    EXPECT_GE(r.time_to_stable_s, r.time_to_running_s);
    EXPECT_TRUE(r.warnings.empty());
    EXPECT_TRUE(r.alarms.empty());
    EXPECT_TRUE(has_step(r, "compressor idle: start"));
    EXPECT_TRUE(has_step(r, "compressor running"));
    EXPECT_TRUE(has_step(r, "RAMP 1,0,0"));
    EXPECT_TRUE(has_step(r, "SETP 1,10"));
    EXPECT_TRUE(has_step(r, "sensor 1 within"));
    EXPECT_TRUE(has_step(r, "stable at"));
    EXPECT_EQ(steps_told, r.steps.size());
    // Steps in time order; the hold was complete when it returned.
    for (std::size_t i = 1; i < r.steps.size(); ++i) EXPECT_LE(r.steps[i - 1].at_s, r.steps[i].at_s);
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.front().stage, alg::cooldown_progress::phase::compressor);
    EXPECT_EQ(progress.back().stage, alg::cooldown_progress::phase::temperature);
    EXPECT_GE(progress.back().in_band_s, 0.2);
    EXPECT_EQ(progress.back().state, tw::modbus::compressor_state::running);
}

TEST(Cooldown, RampsTheSetpointWhenAsked) {
    fixture fx;
    auto o = fast_options();
    o.ramp_rate = 100;  // K/min, the controller's fastest: 4 K → 5 K takes 0.6 s
    auto r = fx.run([&] {
        auto res = alg::cooldown(*fx.compressor, *fx.controller, 5.0, 15s, o);
        auto ramp = fx.controller->ramp(1);
        EXPECT_TRUE(ramp.enabled);
        EXPECT_DOUBLE_EQ(ramp.rate, 100.0);
        return res;
    });
    EXPECT_NEAR(r.final_temperature, 5.0, 0.1);
    const auto* ramp = find_step(r, "RAMP 1,1,100");
    const auto* setp = find_step(r, "SETP 1,5");
    const auto* stable = find_step(r, "stable at");
    ASSERT_TRUE(ramp && setp && stable);
    EXPECT_LT(ramp->at_s, setp->at_s);
    // Not early: the ramped setpoint itself is 0.6 s from 5 K, then the hold.
    EXPECT_GE(stable->at_s - setp->at_s, 0.6);
}

TEST(Cooldown, AlreadyRunningCompressorIsLeftAlone) {
    fixture fx;
    auto r = fx.run([&] {
        alg::cooldown(*fx.compressor, *fx.controller, 6.0, 15s, fast_options());
        return alg::cooldown(*fx.compressor, *fx.controller, 8.0, 15s, fast_options());
    });
    EXPECT_EQ(r.time_to_running_s, 0.0);
    EXPECT_TRUE(has_step(r, "compressor running"));
    EXPECT_FALSE(has_step(r, "compressor idle: start"));
    EXPECT_NEAR(r.final_temperature, 8.0, 0.1);
}

TEST(Cooldown, CompressorAlarmWhileStartingIsACooldownErrorWithItsNames) {
    fixture fx({"modbus/alarm:overheat"});
    fx.run([&] {
        try {
            alg::cooldown(*fx.compressor, *fx.controller, 10.0, 15s, fast_options());
            ADD_FAILURE() << "cooldown returned with a compressor in alarm";
        } catch (const alg::cooldown_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("while starting"));
            EXPECT_THAT(e.what(), HasSubstr("overheat"));
            EXPECT_THAT(e.what(), HasSubstr(fx.sim->modbus_addresses()[0]));
            EXPECT_EQ(e.result().warnings, std::vector<std::string>{"overheat"});
            EXPECT_EQ(e.result().alarms, std::vector<std::string>{"overheat"});
            EXPECT_TRUE(has_step(e.result(), "compressor warning: overheat"));
            EXPECT_TRUE(has_step(e.result(), "compressor alarm: overheat"));
            EXPECT_FALSE(has_step(e.result(), "SETP"));  // never got to the controller
        }
        EXPECT_EQ(fx.compressor->state(), tw::modbus::compressor_state::fault);
    });
}

TEST(Cooldown, TrippedCompressorIsRestartedOnlyWhenAsked) {
    fixture fx({"modbus/alarm:pressure"});
    fx.run([&] {
        // Trip it: a first cooldown ends in the fault.
        EXPECT_THROW(alg::cooldown(*fx.compressor, *fx.controller, 10.0, 15s, fast_options()), alg::cooldown_error);
        ASSERT_EQ(fx.compressor->state(), tw::modbus::compressor_state::fault);

        // Found in fault: refused, nothing written to it.
        try {
            alg::cooldown(*fx.compressor, *fx.controller, 10.0, 15s, fast_options());
            ADD_FAILURE() << "cooldown restarted a tripped compressor";
        } catch (const alg::cooldown_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("at the start"));
            EXPECT_THAT(e.what(), HasSubstr("pressure"));
            EXPECT_THAT(e.what(), HasSubstr("acknowledge"));
            EXPECT_EQ(e.result().alarms, std::vector<std::string>{"pressure"});
        }
        EXPECT_EQ(fx.compressor->state(), tw::modbus::compressor_state::fault);

        // Allowed: acknowledged and started once more, which trips it again.
        auto o = fast_options();
        o.acknowledge_fault = true;
        try {
            alg::cooldown(*fx.compressor, *fx.controller, 10.0, 15s, o);
            ADD_FAILURE() << "the simulated compressor cannot run with its alarm";
        } catch (const alg::cooldown_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("while starting"));
            EXPECT_TRUE(has_step(e.result(), "compressor fault (alarms: pressure): acknowledge"));
            EXPECT_TRUE(has_step(e.result(), "compressor idle: start"));
        }
    });
}

TEST(Cooldown, DeadlineWhileStartingNamesTheCompressor) {
    fixture fx({}, 1h);  // the compressor never gets out of "starting"
    fx.run([&] {
        const auto t0 = tw::clock::now();
        try {
            alg::cooldown(*fx.compressor, *fx.controller, 10.0, 300ms, fast_options());
            ADD_FAILURE() << "no timeout";
        } catch (const tw::timeout_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("deadline of 300ms passed while waiting for the compressor to run"));
            EXPECT_THAT(e.what(), HasSubstr("last: compressor starting"));
        }
        EXPECT_GE(tw::clock::now() - t0, 300ms);  // not before it was due
    });
}

TEST(Cooldown, DeadlineWhileSettlingNamesTheSensorAndTheLastReading) {
    fixture fx;
    auto o = fast_options();
    o.hold = 1h;  // never stable long enough
    fx.run([&] {
        try {
            alg::cooldown(*fx.compressor, *fx.controller, 10.0, 2s, o);
            ADD_FAILURE() << "no timeout";
        } catch (const tw::timeout_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("while waiting for sensor 1 within ±0.1 K of 10 K for 3600s"));
            EXPECT_THAT(e.what(), HasSubstr("(last: "));
            EXPECT_THAT(e.what(), HasSubstr(" K, in band for "));
        }
    });
}

TEST(Cooldown, CallersEarlierDeadlineApplies) {
    fixture fx({}, 1h);
    fx.run([&] {
        tw::deadline_scope outer(200ms);
        try {
            alg::cooldown(*fx.compressor, *fx.controller, 10.0, 1h, fast_options());
            ADD_FAILURE() << "no timeout";
        } catch (const tw::timeout_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("the caller's deadline passed while waiting for the compressor to run"));
        }
    });
}

TEST(Cooldown, CancellationUnwindsAndLeavesTheCompressorRunning) {
    fixture fx;
    auto o = fast_options();
    o.hold = 1h;
    fx.run([&] {
        tw::semaphore setpoint_written(0, "setpoint written");
        o.on_step = [&](const alg::cooldown_step& s) {
            if (s.what.rfind("SETP", 0) == 0) setpoint_written.release();
        };
        auto t = tw::spawn([&] { return alg::cooldown(*fx.compressor, *fx.controller, 10.0, 1h, o); });
        setpoint_written.acquire();
        t.cancel("test cancels the cooldown");
        try {
            t.get();
            ADD_FAILURE() << "cooldown finished despite the cancellation";
        } catch (const tw::cancelled_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("test cancels the cooldown"));
        }
        EXPECT_EQ(fx.compressor->state(), tw::modbus::compressor_state::running);
    });
    // The fixture's destructor checks that no fiber was left behind.
}

TEST(Cooldown, BadOptionsAreRejectedBeforeAnyCommand) {
    fixture fx;
    fx.run([&] {
        auto o = fast_options();
        o.tolerance = 0;
        EXPECT_THROW(alg::cooldown(*fx.compressor, *fx.controller, 10.0, 1s, o), std::invalid_argument);
        EXPECT_THROW(alg::cooldown(*fx.compressor, *fx.controller, -1.0, 1s, fast_options()), std::invalid_argument);
        o = fast_options();
        o.poll = 0s;
        EXPECT_THROW(alg::cooldown(*fx.compressor, *fx.controller, 10.0, 1s, o), std::invalid_argument);
        EXPECT_EQ(fx.compressor->state(), tw::modbus::compressor_state::idle);
    });
}

TEST(Cooldown, WorksFromAPlainThread) {
    tw::runtime sim_rt{{.threads = 1, .name = "sim"}};
    tw::sim::config c;
    c.boards = 0;
    c.tau = 100ms;
    c.compressor_start = 200ms;
    tw::sim::simulator sim(c, sim_rt);
    tw::modbus::compressor comp(sim.modbus_addresses()[0]);
    tw::scpi::temperature_controller tc(sim.scpi_addresses()[0]);
    // No fiber here: cooldown runs itself on the default runtime.
    auto r = alg::cooldown(comp, tc, 7.0, 15s, fast_options());
    EXPECT_NEAR(r.final_temperature, 7.0, 0.1);
    sim.stop();
}
