// Compile test (runtime_compile_designated_options): the option structs take
// designated initializers naming any subset of their fields without a
// warning under -Wextra (missing-field-initializers), because every field has
// a default member initializer. The README's own `tw::runtime rt({.threads = 4});`
// is the first case.
#include <tw/fan_out.hpp>
#include <tw/runtime.hpp>

#include <chrono>

using namespace std::chrono_literals;

void configure() {
    tw::runtime rt({.threads = 4});
    tw::runtime_options named{.name = "bench"};
    tw::runtime_options warned{.threads = 2, .on_warning = [](std::string_view) {}};
    tw::spawn_options accept_loop{.name = "accept", .child = false};
    tw::spawn_options big_stack{.stack_size = 1 << 20};
    tw::fan_out_options limited{.concurrency = 64};
    tw::fan_out_options timed{.deadline = 60s};
    tw::fan_out_options reported{.progress = [](const tw::fan_out_progress&) {}};
    (void)named, (void)warned, (void)accept_loop, (void)big_stack, (void)limited, (void)timed, (void)reported;
}
