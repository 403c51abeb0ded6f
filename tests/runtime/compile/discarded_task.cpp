// Compile test (runtime_compile_discarded_task*): tw::task is [[nodiscard]].
// `(~f)(x);` as a statement destroys the task at the semicolon, which cancels
// f at its first blocking call; the compiler must say so. With
// -DTW_USE_THE_TASK the same code keeps the task (the positive twin: it
// proves the file is otherwise fine, so the negative test fails for the
// right reason).
#include <tw/run.hpp>

void start_in_background() {
    tw::tworoutine twice = [](int x) { return 2 * x; };
#ifdef TW_USE_THE_TASK
    (~twice)(1).detach();
#else
    (~twice)(1);  // error: ignoring a tw::task declared [[nodiscard]]
#endif
}
