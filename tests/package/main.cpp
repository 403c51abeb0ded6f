// Uses the installed headers and library the way a user would: a blocking
// function called synchronously and asynchronously through <tw/tw.hpp>.
#include <tw/tw.hpp>

#include <chrono>
#include <cstdio>

int main() {
    using namespace std::chrono_literals;
    tw::tworoutine twice = [](int x) {
        tw::sleep_for(1ms);
        return 2 * x;
    };
    int a = twice(20);
    int b = (~twice)(1).get();
    std::printf("%d\n", a + b);
    return a + b == 42 ? 0 : 1;
}
