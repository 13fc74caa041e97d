//! `pinpoint keys …`: create and show a node's key files (logic in `pinpoint_actors::keys`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use pinpoint_actors::keys;

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    // No doc comments here: they would replace the argument structs', which hold the examples.
    New(NewArgs),
    Show(ShowArgs),
}

/// Create a node's keys: node.key (ed25519, its network identity) and evm.key (secp256k1,
/// the account that holds its stake), both with permissions 0600.
///
/// Refuses to overwrite an existing key. Keep a backup: a lost EVM key loses the stake.
///
/// Examples:
///   pinpoint keys new --out keys
///   pinpoint keys show --dir keys
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct NewArgs {
    /// Directory to write node.key and evm.key into (created with permissions 0700).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Show a node's identity: its NodeId (the ed25519 public key peers see) and the address of
/// its EVM account.
///
/// Example:
///   pinpoint keys show --dir keys
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ShowArgs {
    /// Directory holding node.key and evm.key.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

pub(crate) fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::New(a) => {
            let k = keys::generate(&a.out)?;
            let (node, evm) = keys::key_paths(&a.out);
            eprintln!("wrote {} and {}", node.display(), evm.display());
            print_keys(&k);
        }
        KeysCommand::Show(a) => print_keys(&keys::load(&a.dir)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_keys(k: &keys::NodeKeys) {
    println!("node_id     {}", k.node_id().to_hex());
    println!("evm_address {}", k.evm_address());
}
