//! The one module of `pinpoint-train` that touches the filesystem; everything outside it
//! computes on bytes and values.
//!
//! - [`store`]: atomic checkpoint writes, verified loads, latest-valid selection, the
//!   `hashes.txt` log, the spec and text files, safetensors files.
//! - [`run`]: a run directory: [`run::Run`] (start, resume, logs, checkpoints, final
//!   weights, summary) and [`run::trace_step`].

pub mod run;
pub mod store;
