//! # pinpoint-chain: settlement on an EVM
//!
//! WIP
pub mod bindings;
pub mod call;
pub mod deploy;
pub mod embedded;
pub mod error;
pub mod event;
pub mod revert;
pub mod rpc;
pub mod settlement;

pub use alloy;
pub use alloy::primitives::{Address, B256, U256};
pub use alloy::signers::local::PrivateKeySigner;
pub use call::{Addresses, Call, Finding, JobParams, PIN, Role, Spender};
pub use deploy::{DeployConfig, deploy_plan};
pub use embedded::Embedded;
pub use error::{ChainError, Result};
pub use event::{ChainEvent, LoggedEvent};
pub use rpc::{Evm, RetryPolicy, read_key_file};
pub use settlement::{Position, Receipt, Settlement, Totals};
