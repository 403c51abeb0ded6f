// host_service: an HTTP service that embeds tworoutine — how a program that
// already has its own event loop calls plain blocking algorithms.
//
// The service owns a boost::asio::io_context, run by main() on one thread, and
// serves HTTP with Boost.Beast and C++20 coroutines: one coroutine per
// connection. Tuning a board (tw::algorithms::tune_board, a plain blocking
// function making thousands of board calls) runs on a fiber of a tw::runtime;
// the coroutine co_awaits it through tw::async_run(..., use_awaitable). The
// host thread never blocks, so while boards are being tuned it keeps accepting
// connections and answering other requests.
//
//   POST /tune?board=HOST:PORT   tune one board; 200 and the result as JSON
//   GET  /health                 200 {"status":"ok"}
//   errors, with a JSON body {"error": "..."}: 400 missing or malformed board,
//   404 unknown path, 405 wrong method, 502 board unreachable or its reply
//   wrong, 504 board too slow, 503 shutting down, 500 anything else.
//
// Usage:
//   host_service [--port P] [--sim N]  serve on 127.0.0.1:P until SIGINT/SIGTERM;
//                                      --sim N also starts N simulated boards
//   host_service --self-test           3 simulated boards, the server on a free
//                                      port and a client on the same io_context;
//                                      exit 0 if every answer was right, else 1
//
//   curl -X POST 'http://127.0.0.1:8080/tune?board=127.0.0.1:9000'
#include <tw/algorithms/tuning.hpp>
#include <tw/deadline.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/drivers/tcp_stream.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/sim/simulator.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using namespace std::chrono_literals;

// ---- The work: a plain blocking function, run on a tw fiber ------------------

// Runs on a fiber of the tuning runtime; the JSON is built there too, so the
// host thread never touches the sweep data.
json::object tune(const std::string& address) {
    // Every blocking tw call below gives up when this passes: a board that stops
    // answering becomes a 504 instead of holding its request forever.
    tw::deadline_scope deadline(60s);
    tw::tuber::board board(address);
    const tw::algorithms::board_result r = tw::algorithms::tune_board(board);
    json::array channels;
    for (const auto& ch : r.channels)  // unused channels are listed at amplitude 0
        channels.push_back(json::object{{"channel", ch.channel}, {"frequency", ch.frequency}, {"amplitude", ch.amplitude}});
    return {{"board", address},
            {"serial", r.serial},
            {"resonators_found", r.resonators_found},
            {"channels_tuned", r.channels_tuned},
            {"channels", std::move(channels)}};
}

// ---- HTTP: replies, routing, error mapping ------------------------------------

response json_reply(const request& req, http::status status, const json::value& body) {
    response res(status, req.version());
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = json::serialize(body) + "\n";
    res.prepare_payload();
    return res;
}

response error_reply(const request& req, http::status status, std::string_view message) {
    return json_reply(req, status, json::object{{"error", message}});
}

// The board's faults are gateway errors (this service is the client's gateway
// to the board); anything else is the service's own.
response failure_reply(const request& req, const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const tw::timeout_error& e) {
        return error_reply(req, http::status::gateway_timeout, e.what());
    } catch (const tw::cancelled_error& e) {  // the runtime is shutting down
        return error_reply(req, http::status::service_unavailable, e.what());
    } catch (const tw::connection_error& e) {
        return error_reply(req, http::status::bad_gateway, e.what());
    } catch (const tw::protocol_error& e) {
        return error_reply(req, http::status::bad_gateway, e.what());
    } catch (const std::exception& e) {
        return error_reply(req, http::status::internal_server_error, e.what());
    }
}

// Query values arrive percent-encoded from most clients (Python's requests
// sends "board=10.0.0.1%3A9000").
std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char byte = 0;
        if (s[i] == '%' && i + 2 < s.size() &&
            std::from_chars(s.data() + i + 1, s.data() + i + 3, byte, 16).ptr == s.data() + i + 3) {
            out += static_cast<char>(byte);
            i += 2;
        } else {
            out += s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == query.npos ? "" : query.substr(amp + 1);
        const auto eq = pair.find('=');
        if (percent_decode(pair.substr(0, eq)) == name)
            return percent_decode(eq == pair.npos ? "" : pair.substr(eq + 1));
    }
    return std::nullopt;
}

// "" when `address` is HOST:PORT, else why not.
std::string address_problem(const std::string& address) {
    try {
        tw::parse_address(address);
        return {};
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
}

asio::awaitable<response> handle(const request& req, tw::runtime& tuners) {
    const std::string_view target = req.target();
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == target.npos ? "" : target.substr(q + 1);

    if (path == "/health") {
        if (req.method() != http::verb::get) co_return error_reply(req, http::status::method_not_allowed, "use GET /health");
        co_return json_reply(req, http::status::ok, json::object{{"status", "ok"}});
    }
    if (path != "/tune") co_return error_reply(req, http::status::not_found, "no such path: " + std::string(path));
    if (req.method() != http::verb::post) co_return error_reply(req, http::status::method_not_allowed, "use POST /tune");

    const std::optional<std::string> board = query_param(query, "board");
    if (!board) co_return error_reply(req, http::status::bad_request, "missing ?board=HOST:PORT");
    if (auto problem = address_problem(*board); !problem.empty())
        co_return error_reply(req, http::status::bad_request, problem);

    // The one line that matters: the blocking algorithm runs on a tw fiber, this
    // coroutine is suspended meanwhile, and the host thread serves others.
    // as_tuple delivers (exception_ptr, value) instead of throwing, so the error
    // mapping stays in a plain function. The coroutine resumes on the host
    // thread: async_run completes on the awaiting coroutine's executor.
    // The job is named, not written inside the co_await expression: GCC 12
    // destroys a capturing lambda temporary of a co_await expression twice
    // (double free; see chriskohlhoff/asio#1007).
    auto job = [address = *board] { return tune(address); };
    auto [failure, result] = co_await tw::async_run(tuners, std::move(job), asio::as_tuple(asio::use_awaitable));
    if (failure) co_return failure_reply(req, failure);
    co_return json_reply(req, http::status::ok, result);
}

// One connection: read a request, answer it, repeat while the client keeps the
// connection alive. Concurrency comes from many connections, each its own
// coroutine; requests on one connection are answered in order, as HTTP/1.1 wants.
asio::awaitable<void> serve_connection(tcp::socket socket, tw::runtime& tuners) {
    boost::beast::tcp_stream stream(std::move(socket));
    boost::beast::flat_buffer buffer;
    for (;;) {
        // An idle client must not hold a connection forever; a tune's own time
        // is bounded by its deadline instead, so the timer is off meanwhile.
        stream.expires_after(30s);
        request req;
        auto [read_error, read_n] = co_await http::async_read(stream, buffer, req, asio::as_tuple(asio::use_awaitable));
        if (read_error) break;  // closed by the client, idle too long, or not HTTP
        stream.expires_never();
        response res = co_await handle(req, tuners);
        stream.expires_after(30s);
        auto [write_error, write_n] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        if (write_error || !res.keep_alive()) break;
    }
    boost::beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// Accepts until the acceptor is closed (stop serving: close it).
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, tw::runtime& tuners) {
    while (acceptor.is_open()) {
        auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (!error) {
            asio::co_spawn(acceptor.get_executor(), serve_connection(std::move(socket), tuners), asio::detached);
        } else if (acceptor.is_open()) {
            // E.g. out of file descriptors: pause rather than spin on the error.
            asio::steady_timer pause(acceptor.get_executor(), 100ms);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
}

// ---- Self-test: a client on the same io_context checks every kind of answer -----

struct check {
    std::string name;
    http::verb verb;
    std::string target;
    unsigned expected_status;
    std::optional<std::size_t> expected_resonators;  // tunes: the simulator's truth
    std::string outcome;                             // what happened, for the summary
    bool ok = false;
};

// One request on a fresh connection ("Connection: close"): status and JSON body.
asio::awaitable<std::pair<unsigned, json::value>> http_call(tcp::endpoint server, http::verb verb, std::string target) {
    boost::beast::tcp_stream stream(co_await asio::this_coro::executor);
    co_await stream.async_connect(server, asio::use_awaitable);
    http::request<http::empty_body> req(verb, target, 11);
    req.set(http::field::host, server.address().to_string());
    req.keep_alive(false);
    co_await http::async_write(stream, req, asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    response res;
    co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    co_return std::pair{res.result_int(), json::parse(res.body())};
}

asio::awaitable<void> run_check(tcp::endpoint server, check& c, const int& tunes_in_flight) {
    auto [status, body] = co_await http_call(server, c.verb, c.target);
    c.ok = status == c.expected_status;
    c.outcome = std::to_string(status);
    if (c.expected_resonators) {
        const auto found = status == 200 ? body.at("resonators_found").to_number<std::size_t>() : 0;
        c.ok = c.ok && found == *c.expected_resonators;
        c.outcome += ", " + std::to_string(found) + " resonators found, simulator has " +
                     std::to_string(*c.expected_resonators);
        if (status == 200) c.outcome += ", " + json::serialize(body.at("channels_tuned")) + " channels tuned";
    } else if (status == 200) {  // health: answered while tunes run, since the host thread never blocks
        c.outcome += ", answered while " + std::to_string(tunes_in_flight) + " tunes were in flight";
    } else {
        c.outcome += ", " + json::value_to<std::string>(body.at("error"));
    }
}

int self_test(asio::io_context& host, tw::runtime& tuners) {
    // Simulated boards stand in for real ones on the network: their own runtime,
    // and ground truth (the resonators) to check the answers against.
    tw::runtime sim_rt({.threads = 1, .name = "sim"});
    tw::sim::simulator sim({.boards = 3, .channels = 16, .scpi = 0, .modbus = 0, .seed = 1}, sim_rt);

    tcp::acceptor acceptor(host, {asio::ip::make_address("127.0.0.1"), 0});
    asio::co_spawn(host, accept_loop(acceptor, tuners), asio::detached);
    const tcp::endpoint server = acceptor.local_endpoint();

    // A port that is bound but not listening refuses connections: an unreachable
    // board that stays unreachable for as long as this socket is open.
    tcp::socket closed_port(host, {asio::ip::make_address("127.0.0.1"), 0});
    const std::string unreachable = "127.0.0.1:" + std::to_string(closed_port.local_endpoint().port());

    std::vector<check> checks;
    for (std::size_t i = 0; i < sim.boards().size(); ++i)
        checks.push_back({"tune board " + std::to_string(i), http::verb::post, "/tune?board=" + sim.boards()[i].address,
                          200, sim.boards()[i].resonators.size()});
    const int tunes = static_cast<int>(checks.size());
    checks.push_back({"unknown path", http::verb::get, "/nowhere", 404});
    checks.push_back({"missing board", http::verb::post, "/tune", 400});
    checks.push_back({"malformed board", http::verb::post, "/tune?board=no-port-here", 400});
    checks.push_back({"unreachable board", http::verb::post, "/tune?board=" + unreachable, 502});
    checks.push_back({"health", http::verb::get, "/health", 200});

    // No sleeps: the run ends when the last check is answered. The guard only
    // turns a hang into a failure.
    asio::steady_timer guard(host, 60s);
    bool guard_fired = false;
    guard.async_wait([&](boost::system::error_code ec) {
        if (ec) return;  // cancelled: everything finished in time
        guard_fired = true;
        host.stop();
    });

    // Every check starts now, all at once; each is its own coroutine. When the
    // last one ends, stop serving: host.run() then returns once the remaining
    // connections have closed.
    int tunes_in_flight = tunes;
    std::size_t pending = checks.size();
    for (std::size_t i = 0; i < checks.size(); ++i) {
        asio::co_spawn(host, run_check(server, checks[i], tunes_in_flight), [&, i](std::exception_ptr e) {
            if (e) checks[i].ok = false, checks[i].outcome = "client error: " + tw::describe(e);
            if (checks[i].expected_resonators) --tunes_in_flight;
            if (--pending == 0) acceptor.close(), guard.cancel();
        });
    }
    host.run();

    std::size_t passed = 0;
    for (const auto& c : checks) {
        passed += c.ok;
        std::cout << c.name << ": " << (c.ok ? "ok" : "FAILED") << " (" << c.outcome << ")\n";
    }
    if (guard_fired) std::cout << "self-test: no answer within 60 s\n";
    const bool ok = !guard_fired && passed == checks.size();
    std::cout << "self-test: " << (ok ? "passed" : "FAILED") << ", " << passed << " of " << checks.size() << " checks ok\n";
    return ok ? 0 : 1;
}

// ---- main: the host owns its io_context; tw gets its own worker threads -------

int main(int argc, char** argv) try {
    bool self_testing = false;
    unsigned short port = 8080;
    std::size_t simulated = 0;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--self-test") self_testing = true;
            else if (arg == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::stoul(argv[++i]));
            else if (arg == "--sim" && i + 1 < argc) simulated = std::stoul(argv[++i]);
            else throw std::invalid_argument(arg);
        }
    } catch (const std::exception&) {  // an unknown flag, or a value that is not a number
        std::cerr << "usage: host_service [--port P] [--sim N] | --self-test\n";
        return 2;
    }

    // Declared first, destroyed last: the runtime's shutdown hands the results
    // of cancelled tunes back to this io_context.
    asio::io_context host;

    // Where the fibers run. tw offers two ways to embed it (both in
    // examples/embedding.cpp):
    //  * guest mode, tw::runtime(host): fibers run from handlers on the host's
    //    own thread. One thread and no locks, but the fibers' CPU work (parsing
    //    replies, fitting resonances) then delays every HTTP request, and the
    //    host must keep its io_context single-threaded.
    //  * an owned runtime with worker threads of its own — used here: the HTTP
    //    loop stays responsive whatever tuning does, each side is sized on its
    //    own, and nothing changes if the host later runs `host` on several
    //    threads. The HTTP code still runs on the host thread only, because
    //    async_run completes on the awaiting coroutine's executor.
    tw::runtime tuners({.threads = 2, .name = "tune"});

    if (self_testing) return self_test(host, tuners);

    std::optional<tw::runtime> sim_rt;
    std::optional<tw::sim::simulator> sim;
    if (simulated > 0) {
        sim_rt.emplace(tw::runtime_options{.threads = 1, .name = "sim"});
        sim.emplace(tw::sim::config{.boards = simulated, .scpi = 0, .modbus = 0}, *sim_rt);
        for (const auto& address : sim->tuber_addresses()) std::cout << "simulated board " << address << "\n";
    }

    // Loopback only: this example has no authentication.
    tcp::acceptor acceptor(host, {asio::ip::make_address("127.0.0.1"), port});
    asio::co_spawn(host, accept_loop(acceptor, tuners), asio::detached);
    std::cout << "host_service: listening on http://" << acceptor.local_endpoint() << std::endl;

    // On a signal: stop accepting, then stop the loop without waiting for running
    // tunes; tuners.shutdown() below cancels them (their clients get no answer).
    asio::signal_set signals(host, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
        acceptor.close();
        host.stop();
    });
    host.run();
    // Cancel the running tunes while the simulated boards still answer.
    tuners.shutdown("host_service stopping");
    std::cout << "host_service: stopped" << std::endl;
    return 0;
} catch (const std::exception& e) {  // e.g. the port is in use
    std::cerr << "host_service: " << e.what() << "\n";
    return 1;
}
