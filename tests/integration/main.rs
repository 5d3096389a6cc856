//! Integration tests: the CLI with a scripted generator, the candle engine
//! on tiny random checkpoints, and the real models end to end.

mod batch;
mod cli;
mod common;
mod engine;
mod matrix;
mod newsletter;
mod real;
mod translate;
