// The slow-fiber warning: a fiber that computes for ~200 ms without
// suspending is named in a warning. Timing-dependent by nature (the watchdog
// thread must get the CPU while the fiber runs), so not under valgrind
// (label nomemcheck), which runs one thread at a time.
#include <tw/runtime.hpp>

#include <algorithm>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;

// Warnings may arrive until the runtime is gone (at TearDown): keep what the
// handler touches in the fixture.
class DiagnosticsWarnings : public tw_test::runtime_fixture {
protected:
    void capture_warnings() {
        options.on_warning = [this](std::string_view m) {
            std::lock_guard lk(mtx_);
            warnings_.emplace_back(m);
            if (m.find("'hog'") != std::string_view::npos && !warned_) {
                warned_ = true;
                hog_warned_.set_value();
            }
        };
    }
    std::vector<std::string> warnings() {
        std::lock_guard lk(mtx_);
        return warnings_;
    }
    std::promise<void> hog_warned_;

private:
    std::mutex mtx_;
    std::vector<std::string> warnings_;
    bool warned_ = false;
};
TW_RUNTIME_TEST_SUITE(DiagnosticsWarnings);

TEST_P(DiagnosticsWarnings, SlowFiberWarningNamesTheFiber) {
    options.slow_fiber_warning = 50ms;
    capture_warnings();
    auto warned_fut = hog_warned_.get_future();
    run_body([] {
        auto hog = tw::spawn(tw::spawn_options{.name = "hog"}, [] {
            // The behaviour under test: computing for ~200 ms without suspending.
            const auto until = tw::clock::now() + 200ms;
            while (tw::clock::now() < until) {
            }
            tw::this_fiber::yield();  // the warning is issued when it suspends
        });
        hog.get();
    });
    ASSERT_TRUE(tw_test::ready(warned_fut, "the slow-fiber warning"));
    auto w = warnings();
    auto it = std::find_if(w.begin(), w.end(), [](auto& m) { return m.find("'hog'") != std::string::npos; });
    ASSERT_NE(it, w.end());
    EXPECT_THAT(*it, ::testing::HasSubstr("without suspending"));
}

}  // namespace
