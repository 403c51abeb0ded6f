#pragma once
// tw::cli::progress: the one progress display of every long command (tw tune,
// the shell's `tune all`). It writes to stderr, so that the results on stdout
// can be redirected (`tw tune ... > out.txt`) without progress mixed in:
//
//   tune: [#####---------] 12/64 done, 1 failed, 8 in flight, 3,412 channels tuned, ETA 41s
//
// On a terminal it is one line, redrawn at most ten times a second and
// cleared when the command ends (also when it unwinds on Ctrl-C); otherwise a
// plain line at most every two seconds and one at the end. `quiet` shows
// nothing but line() messages.
//
// The estimate counts what boards still in flight have done (channels tuned of
// the channels they found), not only finished boards: when 64 boards run at
// once, none finishes for a long while, yet the work advances.
//
// Thread safety: every member may be called from any thread (the callbacks of
// a fan-out run on its fibers).
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include <tw/fan_out.hpp>

namespace tw::cli {

class progress {
public:
    // label: the command, as it starts the line ("tune", "tune all").
    // terminal: draw a redrawn line; by default, whether stderr is a terminal.
    progress(std::string label, std::size_t total, bool quiet);
    progress(std::string label, std::size_t total, bool quiet, bool terminal);
    progress(const progress&) = delete;
    progress& operator=(const progress&) = delete;
    ~progress();

    // A board finished or started (the fan-out's own count).
    void boards(const fan_out_progress& p);
    // Board `key` (its address) has tuned `done` of `of` channels.
    void channels(const std::string& key, std::size_t done, std::size_t of);
    // Board `key` finished: its channels count from now on in the total only.
    void board_done(const std::string& key);
    // A message that must be seen whole (a failed board): on its own line,
    // never overwritten by the progress line; shown also when quiet.
    void line(const std::string& text);
    // Draw now whatever the throttle says (the first line of a command, so a
    // user sees at once that it runs).
    void show();
    // Clear a drawn line (on a terminal) or print the last state (otherwise).
    void finish();

private:
    void draw(bool force);  // mutex held
    void clear();           // mutex held

    std::mutex mutex_;
    std::string label_;
    std::size_t total_;
    bool quiet_;
    bool terminal_;
    bool drawn_ = false;
    bool finished_ = false;
    fan_out_progress last_{};
    std::size_t channels_tuned_ = 0;
    std::string last_text_;
    std::unordered_map<std::string, double> partial_;  // board in flight → fraction of its channels tuned
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point drawn_at_{};
};

// "41s", "3m05s", "1h02m"; "?" for no estimate.
std::string eta_text(double seconds);

// 12345 → "12,345": counts a user reads at a glance.
std::string grouped(std::size_t n);

}  // namespace tw::cli
