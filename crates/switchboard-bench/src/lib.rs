//! Benchmark harnesses and the baselines they are measured against; see `BENCHMARKS.md`.

pub mod load;
