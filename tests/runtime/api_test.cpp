// How the entry points of run.hpp take their callable and arguments: tw::run
// blocks, so it passes them by reference; tw::spawn decay-copies them (std::ref
// shares one); a tworoutine calls its own callable, so mutable and move-only
// callables work. Each behaviour is checked from a plain thread (the default
// runtime) and from a fiber, where tw::run takes different paths.
//
// From a stackful coroutine, tw::async_run takes as_tuple(yield). The
// compile-time parts of the API (async_run rejecting a plain yield_context,
// tw::task being [[nodiscard]], designated initializers of the option structs)
// are CTest compile tests in compile/.
#include <tw/run.hpp>

#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/spawn.hpp>

#include "fixture.hpp"

namespace {

using tw_test::k_guard;

void set_to_two(int& x) { x = 2; }

// ---- tw::run passes references; tw::spawn copies -----------------------------

TEST(ApiMainThread, RunPassesAnArgumentByReference) {
    tw_test::watchdog guard("tw::run from the main thread");
    int v = 1;
    tw::run(set_to_two, v);
    EXPECT_EQ(v, 2);
}

TEST(ApiMainThread, RunCallsTheCallerCallableNotACopy) {
    tw_test::watchdog guard("tw::run from the main thread");
    auto counter = [n = 0]() mutable { return ++n; };
    tw::run(counter);
    EXPECT_EQ(tw::run(counter), 2) << "the second call should see the first call's increment";
}

TEST(ApiMainThread, RunTakesAMoveOnlyArgumentByRvalueReference) {
    tw_test::watchdog guard("tw::run from the main thread");
    auto p = std::make_unique<int>(7);
    EXPECT_EQ(tw::run([](std::unique_ptr<int>&& q) { return *q; }, std::move(p)), 7);
    EXPECT_NE(p, nullptr) << "binding to an rvalue reference must not move the argument";
}

TEST(ApiMainThread, SpawnSharesAnArgumentOnlyThroughStdRef) {
    int shared = 1, copied = 1;
    auto t = tw::spawn(
        [](int& s, int c) {
            s = 2;
            return c;
        },
        std::ref(shared), copied);
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_EQ(t.get(), 1);
    EXPECT_EQ(shared, 2);
}

class Api : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(Api);

TEST_P(Api, RuntimeRunFromAPlainThreadPassesAnArgumentByReference) {
    tw_test::watchdog guard("rt.run from the test thread");
    int v = 1;
    rt().run(set_to_two, v);
    EXPECT_EQ(v, 2);
}

TEST_P(Api, RunOnAFiberPassesAnArgumentByReference) {
    run_body([] {
        int v = 1;
        tw::run(set_to_two, v);
        EXPECT_EQ(v, 2);
    });
}

// ---- tworoutine: its own callable, mutable or move-only ----------------------

TEST(ApiMainThread, TworoutineKeepsAMutableCallableStateAcrossCalls) {
    tw_test::watchdog guard("tworoutine from the main thread");
    tw::tworoutine next_id = [n = 0]() mutable { return ++n; };
    EXPECT_EQ(next_id(), 1);
    EXPECT_EQ(next_id(), 2);
    EXPECT_EQ(next_id(), 3);
}

TEST(ApiMainThread, TworoutineWithAMoveOnlyCallableRunsSyncAndAsync) {
    tw_test::watchdog guard("tworoutine from the main thread");
    tw::tworoutine add_base = [base = std::make_unique<int>(40)](int x) { return *base + x; };
    EXPECT_EQ(add_base(1), 41);
    tw::task<int> t = (~add_base)(2);  // refers to add_base's callable, which outlives t
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_EQ(t.get(), 42);
}

TEST(ApiMainThread, TworoutineAsyncFormCopiesACopyableCallable) {
    tw_test::watchdog guard("tworoutine from the main thread");
    auto t = [] {
        tw::tworoutine tag = [s = std::string("copied")] { return s; };
        return (~tag)();  // the task outlives tag: it must own a copy
    }();
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_EQ(t.get(), "copied");
}

TEST(ApiMainThread, TworoutineIsConstCallableOnlyWhenItsCallableIs) {
    auto plain = [](int x) { return x; };
    auto counter = [n = 0]() mutable { return ++n; };
    static_assert(std::is_invocable_v<const tw::tworoutine<decltype(plain)>&, int>);
    static_assert(std::is_invocable_v<tw::tworoutine<decltype(counter)>&>);
    static_assert(!std::is_invocable_v<const tw::tworoutine<decltype(counter)>&>);
    const tw::tworoutine<decltype(plain)> identity(plain);
    tw_test::watchdog guard("tworoutine from the main thread");
    EXPECT_EQ(identity(5), 5);
    auto t = (~identity)(6);
    ASSERT_TRUE(t.wait_for(k_guard));
    EXPECT_EQ(t.get(), 6);
}

TEST_P(Api, TworoutineOnAFiberWithMutableAndMoveOnlyCallables) {
    run_body([] {
        tw::tworoutine next_id = [n = 0]() mutable { return ++n; };
        EXPECT_EQ(next_id(), 1);
        EXPECT_EQ(next_id(), 2);
        tw::tworoutine add_base = [base = std::make_unique<int>(40)](int x) { return *base + x; };
        EXPECT_EQ(add_base(1), 41);
        EXPECT_EQ((~add_base)(2).get(), 42);
    });
}

// ---- async_run from a stackful coroutine: as_tuple(yield) -------------------

class ApiAsyncRun : public tw_test::runtime_fixture {
protected:
    // async_run's fiber may still be ending after its handler ran.
    void SetUp() override { allow_in_flight_detached(); }
};
TW_RUNTIME_TEST_SUITE(ApiAsyncRun);

// async_run's static_assert sends every yield_context user here, void jobs
// included (Boost 1.81's plain yield crashes on void(std::exception_ptr));
// embedding_test.cpp has a job with a result.
TEST_P(ApiAsyncRun, VoidJobWithAsTupleYieldGetsItsErrorAsATuple) {
    auto& r = rt();
    boost::asio::io_context host;
    std::promise<std::string> result;
    auto fut = result.get_future();
    boost::asio::spawn(
        host,
        [&](boost::asio::yield_context yield) {
            bool ran = false;
            auto [ok] = tw::async_run(r, [&] { ran = true; }, boost::asio::as_tuple(yield));
            auto [failed] = tw::async_run(r, [] { throw std::runtime_error("probe failed"); }, boost::asio::as_tuple(yield));
            result.set_value(std::string(ran ? "ran" : "did not run") + ", " + (ok ? "error" : "no error") + ", " +
                             (failed ? tw::describe(failed) : "no error"));
        },
        boost::asio::detached);
    std::thread host_thread([&] { host.run(); });
    if (tw_test::ready(fut, "spawn with as_tuple(yield)")) {
        EXPECT_EQ(fut.get(), "ran, no error, probe failed");
    }
    host_thread.join();
}

}  // namespace
