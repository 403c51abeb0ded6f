// Embedding tworoutine in a service that already owns its event loop.
//
// 1. Guest mode: the host runs one io_context on one thread; a tw::runtime
//    constructed on that thread runs its fibers from the host's handlers. A
//    C++20 coroutine of the host awaits a blocking algorithm through
//    tw::async_run(..., use_awaitable); a plain callback works the same way.
// 2. A host with a multi-threaded io_context calls into an owned runtime with
//    the completion-token form, so no host thread ever blocks.
#include <tw/tw.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The algorithm, written once as a plain blocking function.
int measure(int channel) {
    tw::sleep_for(20ms);  // stands for board I/O: suspends only this fiber
    return 100 + channel;
}

asio::awaitable<void> host_coroutine(tw::runtime& guest) {
    // A coroutine must not block its loop: it awaits the fiber's result.
    int v = co_await tw::async_run(guest, [] { return measure(1); }, asio::use_awaitable);
    std::cout << "guest: coroutine got " << v << "\n";
}

int main() {
    {
        asio::io_context host;
        tw::runtime guest(host);  // on the thread that runs `host`

        asio::co_spawn(host, host_coroutine(guest), asio::detached);
        tw::async_run(guest, [] { return measure(2); }, [](std::exception_ptr e, int v) {
            if (!e) std::cout << "guest: callback got " << v << "\n";
        });
        // The host's own timers keep firing while fibers wait.
        asio::steady_timer tick(host, 5ms);
        tick.async_wait([](auto) { std::cout << "guest: host timer fired\n"; });
        host.run();
    }
    {
        tw::runtime rt({.threads = 2});
        asio::thread_pool host(4);  // a multi-threaded host
        std::atomic<int> sum{0};
        std::promise<void> all_done;
        std::atomic<int> left{8};
        for (int ch = 0; ch < 8; ++ch) {
            asio::post(host, [&, ch] {
                tw::async_run(rt, [ch] { return measure(ch); }, [&](std::exception_ptr e, int v) {
                    if (!e) sum += v;
                    if (--left == 0) all_done.set_value();
                });
            });
        }
        all_done.get_future().wait();
        host.join();
        std::cout << "threaded host: sum " << sum << "\n";  // 8*100 + 0+...+7 = 828
    }
}
