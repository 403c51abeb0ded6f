#pragma once
// The clients of `tw bench fanout`, run in the child process (`tw bench fanout
// --child-impl IMPL ...`): fiber (tw::spawn + tw::scpi::client, the code a
// user writes), asio-callbacks (a raw callback state machine), asio-spawn
// (boost::asio::spawn coroutines), threads (a std::thread per board, blocking
// sockets). Python asyncio is tools/bench/fanout_asyncio.py, which prints the
// same line.
//
// Each child: raise the descriptor limit, preallocate the latency samples,
// reset the peak-RSS mark, then four phases, each measured (wall and CPU):
//   connect   open every connection (fiber: spawn a fiber per board and build
//             its tw::scpi::client; the driver connects lazily, so its TCP
//             connect falls into the first round trip)
//   first     one round trip per connection
//   timed     R round trips per connection (the timed window; every round
//             trip's latency is recorded)
//   teardown  close every connection and end its fiber/coroutine/thread
//
// Errors: any failure (connect, I/O, unknown implementation) prints one line
// on stderr and ends the process with exit 1 (the parent reports it).
//
// Example (what the parent runs):
//   tw bench fanout --child-impl fiber --targets 127.0.0.1:5025+4 --connections 4 --rounds 20
//   {"impl":"fiber","boards":4,"rounds":20,"wall_s":...,"cpu_us_per_rt":...,...}

#include "fanout.hpp"

namespace tw::cli::bench {

// Measures o.child_impl against o.targets and prints one JSON line on stdout.
void run_fanout_child(const fanout_options& o);

}  // namespace tw::cli::bench
