//! # pinpoint-train: verifiable training programs
//!
//! Built on the RepOps kernels and graph IR of `pinpoint-kernels`. The crate has no clock and
//! no OS randomness; files are read and written only in [`fs`].
//!
//! - [`data`]: deterministic datasets. A batch is a pure function of `(seed, split, step,
//!   batch size)` computed from Philox counters, so any step's batch can be produced alone.
//! - [`vocab`]: the fixed character vocabulary with a byte-level fallback.
//! - [`spec`]: the [`JobSpec`] (TOML in, validated, canonical binary encoding, hash).
//! - [`state`]: the training state `S_t` and its hash `h(S_t)`.
//! - [`checkpoint`]: the checkpoint file format (bytes in, bytes out; no I/O).
//! - [`safetensors`]: export of named tensors in the safetensors format (bytes; no I/O).
//! - [`trainer`]: the [`Trainer`]: spec → programs, `S_0`, step `t` (`S_{t−1} → S_t`),
//!   evaluation (pure; no files, no clock).
//! - [`fs`]: the one module that touches the filesystem: [`fs::store`] (atomic checkpoint
//!   writes, verified loads, latest-valid selection, the `hashes.txt` log) and [`fs::run`] (a
//!   run directory: [`fs::run::Run`] and [`fs::run::trace_step`]).
//!
//! File formats and hashes are specified in `docs/training.md`.

// The benches' and tests/libtorch.rs's dev-dependencies are also given to the unit-test build,
// which does not use them.
#[cfg(test)]
use {criterion as _, matrixmultiply as _, tempfile as _};
// The libtorch baseline (feature `tch`) serves the benches and tests/libtorch.rs only.
#[cfg(feature = "tch")]
use {tch as _, torch_sys as _};

pub mod checkpoint;
pub mod data;
pub mod digest;
pub mod error;
pub mod fs;
pub mod memory;
pub mod safetensors;
pub mod spec;
pub mod state;
pub mod trainer;
pub mod vocab;

pub use digest::Digest;
pub use error::{DataError, SpecError, StateError, StoreError, StoreProblem, TrainError};
pub use spec::{JobSpec, LoadedSpec};
pub use state::TrainState;
pub use trainer::Trainer;
