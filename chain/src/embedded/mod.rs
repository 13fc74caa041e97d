//! [`Embedded`]: the contracts on an in-process revm, deployed from the checked-in artifacts,
//! optionally durable through an append-only transaction log ([`log`]).
//!
//! Every successful transaction is its own block, at the chain's current time, which only the
//! caller moves ([`Embedded::set_time`]); a reverted transaction changes nothing and is not
//! logged (as if a node had rejected it at gas estimation). Gas price and base fee are 0.

pub mod log;

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use revm::{
    Context, DatabaseCommit, DatabaseRef, ExecuteEvm, MainBuilder, MainContext,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    database_interface::WrapDatabaseRef,
};

use crate::{
    Result,
    call::{Addresses, Call},
    deploy::{DEFAULT_DEPLOYER, DeployConfig, deploy_plan},
    error::ChainError,
    event::{LoggedEvent, decode_log},
    revert::decode_revert,
    settlement::{Receipt, Settlement},
};
use log::{LogRecord, OpenReport, TxLog, log_path};

/// Chain id of the embedded chain.
pub const EMBEDDED_CHAIN_ID: u64 = 7_367_022;
/// Timestamp of the embedded chain's genesis (its deployment).
pub const GENESIS_TIME: u64 = 1_700_000_000;
/// Gas limit of every embedded transaction.
const GAS_LIMIT: u64 = 10_000_000;

/// The contracts on an in-process EVM. See the [module docs](self).
#[derive(Debug)]
pub struct Embedded {
    db: CacheDB<EmptyDB>,
    config: DeployConfig,
    addresses: Addresses,
    now: u64,
    block: u64,
    events: Vec<LoggedEvent>,
    log: Option<TxLog>,
}

impl Embedded {
    /// A fresh chain in memory only: genesis at [`GENESIS_TIME`], contracts deployed by
    /// [`DEFAULT_DEPLOYER`] (who holds the whole supply).
    pub fn in_memory(config: &DeployConfig) -> Result<Self> {
        config.validate()?;
        let mut chain = Embedded {
            db: CacheDB::default(),
            config: config.clone(),
            addresses: deploy_plan(DEFAULT_DEPLOYER, 0, config).0,
            now: GENESIS_TIME,
            block: 0,
            events: Vec::new(),
            log: None,
        };
        let (addresses, txs) = deploy_plan(DEFAULT_DEPLOYER, 0, config);
        for tx in txs {
            chain
                .execute(DEFAULT_DEPLOYER, tx.to, tx.data)
                .map_err(|e| ChainError::Evm(format!("deploying the contracts: {e}")))?;
        }
        debug_assert_eq!(chain.addresses, addresses);
        Ok(chain)
    }

    /// Opens the durable chain in `dir` (created if absent, with `config`), replaying its log.
    /// An existing chain keeps the config it was created with; passing a different one is an
    /// error. Returns the chain and what the replay found (a torn last record is dropped).
    pub fn open(dir: &Path, config: &DeployConfig) -> Result<(Self, OpenReport)> {
        let cfg_path = dir.join("config.json");
        if !cfg_path.exists() {
            std::fs::create_dir_all(dir)
                .map_err(ChainError::io(format!("creating {}", dir.display())))?;
            let json = serde_json::to_string_pretty(config)
                .map_err(|e| ChainError::InvalidArgument(e.to_string()))?;
            write_atomic(&cfg_path, json.as_bytes())?;
        }
        let (chain, report) = Self::open_existing(dir)?;
        if &chain.config != config {
            return Err(ChainError::InvalidArgument(format!(
                "{} holds a chain deployed with another config",
                dir.display()
            )));
        }
        Ok((chain, report))
    }

    /// Opens an existing durable chain in `dir` with the config stored there.
    pub fn open_existing(dir: &Path) -> Result<(Self, OpenReport)> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(ChainError::io(format!(
            "reading {} (is this an embedded chain directory?)",
            cfg_path.display()
        )))?;
        let config: DeployConfig = serde_json::from_str(&text).map_err(|e| ChainError::Decode {
            what: "embedded chain config",
            why: e.to_string(),
        })?;
        let mut chain = Self::in_memory(&config)?;
        let (log, records, report) = TxLog::open(&log_path(dir))?;
        for (i, rec) in records.into_iter().enumerate() {
            chain.now = chain.now.max(rec.time);
            chain
                .execute(rec.from, rec.to, rec.data)
                .map_err(|e| ChainError::CorruptLog {
                    path: log_path(dir).display().to_string(),
                    offset: i as u64,
                    why: format!("record {i} does not replay: {e}"),
                })?;
        }
        chain.log = Some(log);
        Ok((chain, report))
    }

    /// The default directory of the durable embedded chain: `./.pinpoint/chain`.
    pub fn default_dir() -> PathBuf {
        PathBuf::from(".pinpoint").join("chain")
    }

    /// An in-memory copy of the current state (for many property-test cases from one
    /// deployment); the copy does not write to the log.
    pub fn snapshot(&self) -> Self {
        Embedded {
            db: self.db.clone(),
            config: self.config.clone(),
            addresses: self.addresses,
            now: self.now,
            block: self.block,
            events: self.events.clone(),
            log: None,
        }
    }

    /// The config the contracts were deployed with.
    pub fn config(&self) -> &DeployConfig {
        &self.config
    }

    /// The chain's time: the timestamp of the next transaction's block.
    pub fn time(&self) -> u64 {
        self.now
    }

    /// Moves the chain's time to `t` (seconds); time never goes back.
    pub fn set_time(&mut self, t: u64) -> Result<()> {
        if t < self.now {
            return Err(ChainError::InvalidArgument(format!(
                "time cannot go back from {} to {t}",
                self.now
            )));
        }
        self.now = t;
        Ok(())
    }

    /// Number of the latest block.
    pub fn block_number(&self) -> u64 {
        self.block
    }

    /// Sends `call` as `from` (synchronous form of [`Settlement::send`]).
    pub fn send_sync(&mut self, from: Address, call: &Call) -> Result<Receipt> {
        let (to, data) = call.encode(&self.addresses);
        self.execute(from, Some(to), data)
    }

    /// Executes a raw transaction (`to = None` deploys `data`) and, if it succeeds, commits it,
    /// logs it and records its events. Returns the receipt; a revert is a typed error.
    pub fn execute(&mut self, from: Address, to: Option<Address>, data: Bytes) -> Result<Receipt> {
        let rec = LogRecord {
            time: self.now,
            from,
            to,
            data,
        };
        let nonce = self
            .db
            .basic_ref(from)
            .map_err(|e| ChainError::Evm(e.to_string()))?
            .map_or(0, |a| a.nonce);
        let out = self.run(&rec, nonce)?;
        let (gas_used, logs) = match out.result {
            ExecutionResult::Success { gas, logs, .. } => (gas.tx_gas_used(), logs),
            ExecutionResult::Revert { output, .. } => return Err(decode_revert(&output)),
            ExecutionResult::Halt { reason, .. } => {
                return Err(ChainError::Reverted {
                    reason: format!("halted: {reason:?}"),
                });
            }
        };
        if let Some(log) = self.log.as_mut() {
            log.append(&rec)?;
        }
        self.db.commit(out.state);
        self.block += 1;
        let events: Vec<_> = logs
            .iter()
            .filter_map(|l| decode_log(&self.addresses, l.address, l.topics(), &l.data.data))
            .collect();
        self.events.extend(events.iter().map(|e| LoggedEvent {
            block: self.block,
            event: e.clone(),
        }));
        Ok(Receipt {
            block: self.block,
            tx_hash: keccak256(rec.payload()),
            gas_used,
            events,
        })
    }

    /// Read-only call against the current state (synchronous form of
    /// [`Settlement::call_raw`]).
    pub fn call_sync(&self, to: Address, data: Bytes) -> Result<Bytes> {
        let rec = LogRecord {
            time: self.now,
            from: Address::ZERO,
            to: Some(to),
            data,
        };
        match self.run(&rec, 0)?.result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(decode_revert(&output)),
            ExecutionResult::Halt { reason, .. } => Err(ChainError::Reverted {
                reason: format!("halted: {reason:?}"),
            }),
        }
    }

    fn run(
        &self,
        rec: &LogRecord,
        nonce: u64,
    ) -> Result<revm::context::result::ExecResultAndState<ExecutionResult>> {
        let tx = TxEnv::builder()
            .caller(rec.from)
            .kind(rec.to.map_or(TxKind::Create, TxKind::Call))
            .data(rec.data.clone())
            .gas_limit(GAS_LIMIT)
            .nonce(nonce)
            .chain_id(Some(EMBEDDED_CHAIN_ID))
            .build()
            .map_err(|e| ChainError::Evm(format!("{e:?}")))?;
        let (time, number) = (self.now, self.block + 1);
        let mut evm = Context::mainnet()
            .with_db(WrapDatabaseRef(&self.db))
            .modify_cfg_chained(|c| c.chain_id = EMBEDDED_CHAIN_ID)
            .modify_block_chained(|b| {
                b.timestamp = U256::from(time);
                b.number = U256::from(number);
            })
            .build_mainnet();
        evm.transact(tx).map_err(|e| ChainError::Evm(e.to_string()))
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(ChainError::io(format!("writing {}", path.display())))
}

impl Settlement for Embedded {
    fn addresses(&self) -> Addresses {
        self.addresses
    }

    async fn send(&mut self, from: Address, call: Call) -> Result<Receipt> {
        self.send_sync(from, &call)
    }

    async fn call_raw(&self, to: Address, data: Bytes) -> Result<Bytes> {
        self.call_sync(to, data)
    }

    async fn events_since(&self, from_block: u64) -> Result<Vec<LoggedEvent>> {
        Ok(self
            .events
            .iter()
            .filter(|e| e.block >= from_block)
            .cloned()
            .collect())
    }

    async fn now(&self) -> Result<u64> {
        Ok(self.now)
    }

    async fn nonce(&self, who: Address) -> Result<u64> {
        Ok(self
            .db
            .basic_ref(who)
            .map_err(|e| ChainError::Evm(e.to_string()))?
            .map_or(0, |a| a.nonce))
    }
}

/// A hash helper for tests and the simulator: a `B256` from a label.
pub fn label_hash(label: &str) -> B256 {
    keccak256(label.as_bytes())
}
