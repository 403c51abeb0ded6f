#pragma once
// tw bench line-server: the server-side baseline of `tw bench fanout
// --server-baseline`: the least an Asio server can do per SCPI round trip, to
// hold `tw sim`'s SCPI service to (docs/BENCHMARKS.md "Fan-out"). One thread,
// one io_context, plain callbacks: each connection reads a line and answers
// it with one fixed reply line of the length the simulator's MEAS? reply has,
// after --latency if given. Prints "scpi ADDRESS,..." (the simulator's
// start-up line, so `tw bench fanout` starts either the same way) and serves
// until SIGTERM or SIGINT.
//
// Errors: a port that cannot be bound throws std::runtime_error (exit 1);
// a connection's I/O error just closes that connection.
//
// Example:
//   tw bench line-server --ports 16 --latency 200us
//   scpi 127.0.0.1:41235,127.0.0.1:39821,...

#include <cstddef>
#include <string>

namespace tw::cli::bench {

struct line_server_options {
    std::size_t ports = 1;
    std::string latency = "0";
};

void run_line_server(const line_server_options& o);

}  // namespace tw::cli::bench
