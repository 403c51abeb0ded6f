// Errors are never lost and never std::terminate: a task's exception goes to
// get(); a detached or abandoned task's failure goes to on_unhandled_error
// (cancellations are not failures); misuse throws tw::usage_error.
#include <tw/errors.hpp>

#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using tw_test::gate;
using tw_test::k_guard;

struct board_fault : std::runtime_error {
    int board;
    board_fault(int b) : std::runtime_error("board " + std::to_string(b) + " faulted"), board(b) {}
};

class Errors : public tw_test::runtime_fixture {
protected:
    struct report {
        std::string fiber, what;
    };
    // Records every unhandled error; the promise fires on the first.
    void record_unhandled() {
        options.on_unhandled_error = [this](std::string_view fiber, std::exception_ptr e) {
            std::lock_guard lk(mtx_);
            reports_.push_back({std::string(fiber), tw::describe(e)});
            if (reports_.size() == 1) first_.set_value();
        };
    }
    std::vector<report> reports() {
        std::lock_guard lk(mtx_);
        return reports_;
    }
    std::future<void> first_report() { return first_.get_future(); }

private:
    std::mutex mtx_;
    std::vector<report> reports_;
    std::promise<void> first_;
};
TW_RUNTIME_TEST_SUITE(Errors);

TEST_P(Errors, SpawnedTaskExceptionIsRethrownByGetWithItsType) {
    run_body([] {
        auto t = tw::spawn([]() -> int { throw board_fault(7); });
        try {
            t.get();
            ADD_FAILURE() << "no exception";
        } catch (const board_fault& e) {
            EXPECT_EQ(e.board, 7);
        }
    });
}

TEST_P(Errors, ErrorsFormOneHierarchy) {
    static_assert(std::is_base_of_v<std::runtime_error, tw::error>);
    static_assert(std::is_base_of_v<tw::error, tw::timeout_error>);
    static_assert(std::is_base_of_v<tw::error, tw::cancelled_error>);
    static_assert(std::is_base_of_v<tw::error, tw::io_error>);
    // Interruptions share a base, so a caller catches "stopped" once.
    static_assert(std::is_base_of_v<tw::interrupted_error, tw::timeout_error>);
    static_assert(std::is_base_of_v<tw::interrupted_error, tw::cancelled_error>);
    static_assert(!std::is_base_of_v<tw::interrupted_error, tw::io_error>);
    static_assert(std::is_base_of_v<std::logic_error, tw::usage_error>);
    tw::io_error e(std::make_error_code(std::errc::connection_reset), "reading reply");
    EXPECT_EQ(e.code(), std::errc::connection_reset);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("reading reply"));
}

TEST_P(Errors, DetachedTaskErrorReachesTheUnhandledErrorHandler) {
    record_unhandled();
    auto reported = first_report();
    rt().spawn(tw::spawn_options{.name = "doomed"}, [] {
        tw::this_fiber::yield();
        throw board_fault(3);
    }).detach();
    ASSERT_TRUE(tw_test::ready(reported, "the unhandled-error report"));
    auto r = reports();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].fiber, "doomed");
    EXPECT_EQ(r[0].what, "board 3 faulted");
}

TEST_P(Errors, DetachingAnAlreadyFailedTaskReportsIt) {
    record_unhandled();
    run_body([] {
        auto t = tw::spawn(tw::spawn_options{.name = "early"}, [] { throw board_fault(1); });
        ASSERT_TRUE(t.wait_for(k_guard));
        t.detach();  // reports at once: nobody else will
    });
    auto r = reports();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].fiber, "early");
}

TEST_P(Errors, CancelledDetachedTasksAreNotReported) {
    record_unhandled();
    run_body([] {
        auto t = tw::spawn([] { tw::sleep_for(1h); });
        t.cancel();
        ASSERT_TRUE(t.wait_for(k_guard));
        t.detach();  // finished with cancelled_error: not a failure
    });
    // Detached while parked, then cancelled by the shutdown: not reported either.
    rt().spawn([] { tw::sleep_for(1h); }).detach();
    EXPECT_TRUE(rt().shutdown("done"));
    EXPECT_TRUE(reports().empty()) << reports()[0].what;
}

TEST_P(Errors, DestroyingAHandleWithAnUnobservedErrorReportsIt) {
    record_unhandled();
    run_body([] {
        auto t = tw::spawn(tw::spawn_options{.name = "ignored"}, [] { throw board_fault(9); });
        ASSERT_TRUE(t.wait_for(k_guard));  // waited for, but its outcome never looked at
    });
    auto r = reports();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].fiber, "ignored");
    EXPECT_EQ(r[0].what, "board 9 faulted");
}

TEST_P(Errors, ObservedErrorsAreNotReported) {
    record_unhandled();
    run_body([] {
        auto t = tw::spawn([] { throw board_fault(2); });
        EXPECT_THROW(t.get(), board_fault);
    });
    EXPECT_TRUE(reports().empty());
}

TEST_P(Errors, AFiberWaitingOnItsOwnTaskThrowsUsageError) {
    run_body([] {
        gate checked;
        tw::task<void> self;
        std::string message;
        self = tw::spawn([&] {
            try {
                self.wait();
            } catch (const tw::usage_error& e) {
                message = e.what();
            }
            checked.open();
        });
        checked.wait();
        self.get();
        EXPECT_THAT(message, ::testing::HasSubstr("own task"));
    });
}

TEST_P(Errors, AnEmptyTaskHandleThrowsUsageError) {
    tw::task<int> t;
    EXPECT_FALSE(t.valid());
    EXPECT_THROW(t.get(), tw::usage_error);
    EXPECT_THROW(t.wait(), tw::usage_error);
    auto u = rt().spawn([] { return 1; });
    ASSERT_TRUE(u.wait_for(k_guard));
    EXPECT_EQ(u.get(), 1);
    EXPECT_THROW(u.get(), tw::usage_error) << "get() twice";
}

TEST_P(Errors, ShutdownFromOneOfItsOwnFibersThrowsUsageError) {
    run_body([this] { EXPECT_THROW(rt().shutdown(), tw::usage_error); });
}

TEST(ErrorsPlainThread, ThisFiberExecutorOutsideAFiberThrowsUsageError) {
    EXPECT_THROW(tw::this_fiber::executor(), tw::usage_error);
}

}  // namespace
