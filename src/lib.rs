//! fitcheck: train a neural network live and diagnose it. The library holds
//! everything testable; `main.rs` is only the command line.

pub mod compare;
pub mod data;
pub mod diagnose;
pub mod headless;
pub mod history;
pub mod ingest;
pub mod limits;
pub mod nn;
pub mod preset;
pub mod protocol;
pub mod run;
pub mod session;
pub mod settings;
pub mod signals;
pub mod source;
pub mod train;
pub mod tui;
pub mod watch;
