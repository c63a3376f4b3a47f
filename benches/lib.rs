//! The comparison benchmarks of the workspace (`benches/`), and the tests that their contenders
//! do the same work (`tests/bench_contenders.rs`). Nothing to use from here: the library only
//! gives the benchmarks a package, outside the examples, whose dependencies they alone need.
