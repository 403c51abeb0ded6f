// Uses the installed drivers library (tw::drivers) the way a user would: a
// driver's client, its errors and its command log, with no server needed.
#include <tw/drivers/drivers.hpp>
#include <tw/tw.hpp>

#include <cstdio>

int main() {
    auto a = tw::parse_address("[::1]:5025");
    bool refused = false;
    tw::run([&] {
        // Nothing listens on port 1: connecting fails with connection_error.
        tw::scpi::client c("127.0.0.1:1", {.timeout = std::chrono::seconds(5), .reconnect = {.attempts = 1}});
        try {
            c.query("*IDN?");
        } catch (const tw::connection_error&) {
            refused = true;
        }
    });
    std::printf("%s %u %s\n", a.host.c_str(), a.port, refused ? "refused" : "?");
    return a.port == 5025 && refused ? 0 : 1;
}
