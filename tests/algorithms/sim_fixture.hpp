#pragma once
// sim_fixture: the in-process simulator (tw::sim) on a runtime of its own, and
// a second runtime on which a test runs the algorithm under test, so that the
// instruments and their client never share a scheduler.
//
// run(f) calls f on a fiber of the client runtime under a deadlock guard
// (20 s unless the test asks for more) and returns f's result. At the end the
// simulator is stopped and the client runtime must have no fiber left: a
// leaked fiber fails the test.
//
// Thread safety: one test thread; run(f) blocks it until f returns.
// Errors: whatever f throws comes out of run(), including the
// tw::timeout_error of a call still waiting when the guard passes.
//
// Example:
//   tw::sim::config c;
//   c.boards = 2;
//   c.scpi = 0;
//   c.modbus = 0;
//   tw_test::sim_fixture fx(c);
//   auto r = fx.run([&] { return alg::health_check(fx.sim->tuber_addresses()); });
#include <tw/sim/simulator.hpp>
#include <tw/tw.hpp>

#include <chrono>
#include <optional>
#include <utility>

#include <gtest/gtest.h>

namespace tw_test {

struct sim_fixture {
    tw::runtime sim_rt{{.threads = 1, .name = "sim"}};
    tw::runtime rt{{.threads = 1, .name = "client"}};
    std::optional<tw::sim::simulator> sim;
    std::chrono::seconds guard;

    explicit sim_fixture(tw::sim::config c, std::chrono::seconds deadlock_guard = std::chrono::seconds(20))
        : guard(deadlock_guard) {
        sim.emplace(std::move(c), sim_rt);
    }
    sim_fixture(const sim_fixture&) = delete;
    sim_fixture& operator=(const sim_fixture&) = delete;
    ~sim_fixture() {
        sim->stop();
        EXPECT_EQ(rt.counters().live_fibers, 0u) << rt.dump_text();
    }

    // Runs f on a fiber of the client runtime under the deadlock guard.
    template <class F>
    auto run(F&& f) {
        return rt.run([&] {
            tw::deadline_scope scope(guard);
            return f();
        });
    }
};

}  // namespace tw_test
