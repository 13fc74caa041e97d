//! The `pinpoint` command-line tool: a thin layer over the workspace crates.
// The unit-test build sees the dev-dependencies too; the plain build is checked strictly.
#![cfg_attr(test, allow(unused_crate_dependencies))]

mod chain_cmd;
mod devnet_cmd;
mod job_cmd;
mod kernels_cmd;
mod keys_cmd;
mod node_cmd;
mod sim_cmd;
mod train_cmd;

use clap::{Parser, Subcommand};

/// Large allocations (tensor data above all) start on a cache line, as libtorch's do: the
/// kernels' 64-byte vectors then never straddle two lines (`pinpoint_kernels::alloc`).
#[global_allocator]
static ALLOC: pinpoint_kernels::alloc::CacheAligned = pinpoint_kernels::alloc::CacheAligned;

/// pinpoint: a decentralized, verifiable machine-learning compute network.
///
/// Training and inference run on RepOps, reproducible operators that give the same bits on
/// every machine, so a refereed dispute can pinpoint the one operator where two parties
/// disagree.
#[derive(Debug, Parser)]
#[command(name = "pinpoint", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// RepOps kernels: check that this machine computes the network's bits.
    Kernels {
        #[command(subcommand)]
        command: kernels_cmd::KernelsCommand,
    },
    /// Settlement contracts: deploy them to a JSON-RPC endpoint, show a chain's state.
    Chain {
        #[command(subcommand)]
        command: chain_cmd::ChainCommand,
    },
    // No doc comment here: it would replace `TrainArgs`'s, which holds the examples.
    Train(train_cmd::TrainArgs),
    /// Deterministic Byzantine simulations: run seed ranges, replay one seed.
    Sim {
        #[command(subcommand)]
        command: sim_cmd::SimCommand,
    },
    /// A node's key files: create them, show its NodeId and EVM address.
    Keys {
        #[command(subcommand)]
        command: keys_cmd::KeysCommand,
    },
    // No doc comment here: it would replace `NodeArgs`'s, which holds the examples.
    Node(node_cmd::NodeArgs),
    // No doc comment here: it would replace `DevnetArgs`'s, which holds the examples.
    Devnet(devnet_cmd::DevnetArgs),
    // No doc comment here: it would replace `JobArgs`'s, which holds the examples.
    Job(job_cmd::JobArgs),
}

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    // Before any thread starts: training steps reuse freed tensor memory instead of faulting
    // fresh pages in every step (pinpoint_train::memory).
    pinpoint_train::memory::retain_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Kernels { command } => kernels_cmd::run(command),
        Command::Train(args) => train_cmd::run(args),
        Command::Sim { command } => sim_cmd::run(command),
        Command::Chain { command } => chain_cmd::run(command),
        Command::Keys { command } => keys_cmd::run(command),
        Command::Node(args) => node_cmd::run(args),
        Command::Devnet(args) => devnet_cmd::run(args),
        Command::Job(args) => job_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`pinpoint sim run … | head`) would
/// panic. Restore the default action: the process then ends quietly when its reader goes
/// away, like other Unix tools (the shell reports status 141).
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any other thread exists; `signal` with `SIG_DFL`
    // installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn large_allocations_start_on_a_cache_line() {
        use pinpoint_kernels::alloc::{ALIGNED_MIN_BYTES, CACHE_LINE};
        for len in [ALIGNED_MIN_BYTES / 4, 100_000, 1 << 22] {
            let v = vec![1.0f32; len];
            assert_eq!(v.as_ptr() as usize % CACHE_LINE, 0, "{len} f32");
            let t = pinpoint_kernels::Tensor::new(&[len], v).expect("tensor");
            assert_eq!(t.data().as_ptr() as usize % CACHE_LINE, 0);
        }
    }
}
