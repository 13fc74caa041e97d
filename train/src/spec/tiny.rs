//! [`TinyMlp`]: the small spirals MLP job that tests, the simulator and the protocol's
//! fixtures train (a 2-`hidden`-2 MLP, AdamW, spirals data), written once as spec TOML.

/// A tiny spirals MLP job; [`TinyMlp::toml`] is its spec text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TinyMlp {
    /// The spec's seed.
    pub seed: u64,
    /// Steps `T`.
    pub steps: u64,
    /// Checkpoint period.
    pub checkpoint_every: u64,
    /// Width of the one hidden layer.
    pub hidden: u64,
    /// Activation name (`relu`, `tanh`, `gelu`, …).
    pub activation: &'static str,
    /// Warm-up steps of the learning-rate schedule.
    pub warmup_steps: u64,
    /// Evaluation period.
    pub eval_every: u64,
}

impl TinyMlp {
    /// The job as spec TOML.
    pub fn toml(&self) -> String {
        let TinyMlp {
            seed,
            steps,
            checkpoint_every,
            hidden,
            activation,
            warmup_steps,
            eval_every,
        } = *self;
        format!(
            r#"
seed = {seed}
steps = {steps}
checkpoint_every = {checkpoint_every}
batch_size = 4
[model]
kind = "mlp"
input = 2
hidden = [{hidden}]
classes = 2
activation = "{activation}"
[data]
kind = "spirals"
classes = 2
turns = 0.5
noise = 0.0
[optimizer]
kind = "adamw"
lr = 0.01
beta1 = 0.9
beta2 = 0.99
eps = 1e-8
weight_decay = 0.0
[schedule]
warmup_steps = {warmup_steps}
[eval]
every = {eval_every}
batches = 1
batch_size = 8
"#
        )
    }
}
