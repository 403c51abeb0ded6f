// A plugin that touches the runtime API a user's algorithm may use — its own
// Asio I/O with tw::yield, tw::run, tw::spawn, tw::fan_out, tw::when_all,
// deadlines, a semaphore — so that run_cli_test proves all of it resolves
// against the running tw (nothing hidden in tw's static Boost is needed) and
// runs on tw's own scheduler.
#include <chrono>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <tw/algorithms/registry.hpp>
#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/fan_out.hpp>
#include <tw/run.hpp>
#include <tw/sync.hpp>
#include <tw/task.hpp>
#include <tw/yield.hpp>

namespace {

namespace alg = tw::algorithms;
namespace json = boost::json;
using namespace std::chrono_literals;

// Waits on an Asio timer the way a hand-written driver would.
void asio_wait(std::chrono::milliseconds d) {
    boost::asio::steady_timer t(tw::this_fiber::executor());
    t.expires_after(d);
    t.async_wait(tw::yield);
}

json::value probe(long long items) {
    tw::semaphore sem(2);
    auto fanned = tw::fan_out(std::vector<long long>{1, 2, 3, 4, 5, 6, 7, 8}, [&](long long i) {
        sem.acquire();
        asio_wait(1ms);
        sem.release();
        return i * items;
    });
    long long sum = 0;
    for (auto v : fanned.values()) sum += v;

    auto task = tw::spawn([] {
        asio_wait(1ms);
        return std::string("spawned");
    });
    const auto nested = tw::run([] { return 40 + 2; });  // on a fiber: called directly
    auto [a, b] = tw::when_all([] { return 1; }, [] { asio_wait(1ms); return 2; });

    bool timed_out = false;
    try {
        tw::deadline_scope scope(5ms);
        tw::sleep_for(10s);
    } catch (const tw::timeout_error&) {
        timed_out = true;
    }
    return json::object{{"sum", sum},
                        {"task", task.get()},
                        {"nested", nested},
                        {"when_all", a + b},
                        {"deadline_fired", timed_out}};
}

}  // namespace

TW_PLUGIN(registry) {
    registry.add({.name = "api_probe",
                  .help = "Exercises the runtime API from a plugin",
                  .parameters = {{.name = "items", .kind = alg::parameter_kind::integer, .help = "factor", .default_value = "1"}},
                  .runs_on = alg::target::no_boards,
                  .run = [](alg::run_context&, const alg::arguments& args) { return probe(args.integer("items")); }});
}
