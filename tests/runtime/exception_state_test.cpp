#include <tw/tw.hpp>

#include "fixture.hpp"

#include <exception>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

// The C++ runtime's "exceptions being handled" and uncaught count are per
// thread; tw keeps them per fiber across suspensions (detail::eh_stash).
class ExceptionState : public tw_test::runtime_fixture {};
TW_RUNTIME_TEST_SUITE(ExceptionState);

// Throws `name`, suspends inside the catch block (cleanup I/O before
// rethrowing), rethrows with `throw;` and returns what was rethrown.
std::string rethrow_after_suspending(const char* name, std::chrono::milliseconds d) {
    try {
        try {
            throw std::runtime_error(name);
        } catch (const std::exception&) {
            tw::sleep_for(d);
            throw;
        }
    } catch (const std::exception& e) {
        return e.what();
    }
    return "nothing";
}

TEST_P(ExceptionState, RethrowAfterSuspendingInACatchBlockRethrowsTheFibersOwnException) {
    run_body([] {
        // Interleaved on purpose: A suspends in its handler, B enters its own
        // handler meanwhile, A resumes and rethrows, then B.
        auto a = tw::spawn([] { return rethrow_after_suspending("A", 20ms); });
        auto b = tw::spawn([] { return rethrow_after_suspending("B", 40ms); });
        EXPECT_EQ(a.get(), "A");
        EXPECT_EQ(b.get(), "B");
    });
}

TEST_P(ExceptionState, CurrentExceptionIsPerFiber) {
    run_body([] {
        auto inside = tw::spawn([] {
            try {
                throw std::logic_error("held by the first fiber");
            } catch (...) {
                tw::sleep_for(20ms);
                return std::current_exception() != nullptr;
            }
        });
        auto outside = tw::spawn([] {
            tw::sleep_for(10ms);  // runs while the first fiber is in its handler
            return std::current_exception() == nullptr;
        });
        EXPECT_TRUE(inside.get());
        EXPECT_TRUE(outside.get());
    });
}

TEST_P(ExceptionState, UncaughtExceptionsCountIsPerFiber) {
    run_body([] {
        // A destructor that does I/O while its fiber unwinds an exception.
        struct cleanup {
            int* seen;
            ~cleanup() {
                tw::sleep_for(20ms);
                *seen = std::uncaught_exceptions();
            }
        };
        int unwinding_seen = -1, other_seen = -1;
        auto unwinding = tw::spawn([&] {
            cleanup c{&unwinding_seen};
            throw std::runtime_error("unwinding");
        });
        auto other = tw::spawn([&] {
            tw::sleep_for(10ms);
            other_seen = std::uncaught_exceptions();
        });
        EXPECT_THROW(unwinding.get(), std::runtime_error);
        other.get();
        EXPECT_EQ(unwinding_seen, 1);
        EXPECT_EQ(other_seen, 0);
    });
}

}  // namespace
