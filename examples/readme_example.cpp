// The README's example: one plain blocking function, called synchronously,
// asynchronously, and both ways mixed inside a fiber.
#include <tw/tw.hpp>

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;

// Written once, as an ordinary blocking function. tw::sleep_for suspends only
// the calling fiber; a real algorithm would talk to boards here.
tw::tworoutine double_slowly = [](int x) {
    tw::sleep_for(100ms);
    return 2 * x;
};

int main() {
    // Synchronous: blocks this thread until the answer is there.
    std::cout << "double_slowly(1) = " << double_slowly(1) << "\n";

    // Asynchronous: (~f)(x) starts it on a fiber and returns a task at once.
    tw::task<int> t = (~double_slowly)(2);
    std::cout << "(~double_slowly)(2) = " << t.get() << "\n";

    // Mixed, inside a fiber: start one asynchronously, call another
    // synchronously (suspends only this fiber), then collect the first.
    int sum = tw::run([] {
        tw::task<int> a = (~double_slowly)(3);
        int b = double_slowly(4);
        return a.get() + b;
    });
    std::cout << "6 + 8 = " << sum << "\n";
}
