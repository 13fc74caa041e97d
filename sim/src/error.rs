//! The simulator's error type.

/// Everything that can go wrong setting up or running a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A scenario file could not be read, parsed or validated.
    #[error("scenario {file}: {detail}")]
    Scenario {
        /// The file (or `<string>`).
        file: String,
        /// What is wrong, naming the key.
        detail: String,
    },
    /// A built-in job spec failed to load or train.
    #[error("job spec {name}: {detail}")]
    Spec {
        /// The spec's name.
        name: String,
        /// What failed.
        detail: String,
    },
    /// The protocol state machines refused something the simulator assumed valid.
    #[error("protocol: {0}")]
    Protocol(#[from] pinpoint_protocol::ProtocolError),
    /// The embedded settlement chain could not be set up (`settlement = "embedded"`).
    #[error("embedded chain: {0}")]
    Chain(String),
    /// A seed range like `0..100` could not be parsed.
    #[error("seed range {0:?}: expected A..B with A < B")]
    SeedRange(String),
    /// A `--shard` that is not `I/N` with `I < N`.
    #[error("shard {0:?}: expected I/N with 0 ≤ I < N")]
    Shard(String),
    /// Writing a report failed.
    #[error("report {path}: {detail}")]
    Report {
        /// The path written.
        path: String,
        /// The I/O or encoding error.
        detail: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, SimError>;
