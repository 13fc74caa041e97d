//! [`Evm`]: the contracts on any EVM chain over HTTP JSON-RPC (anvil, an L2), through alloy.
//!
//! Transactions are built and signed locally: the nonce of each signer is cached and
//! re-read from the node after a failed submission; gas is estimated (a revert at estimation
//! is decoded and returned, nothing is sent); fees come from `eth_feeHistory`; the receipt is
//! polled, and a transaction the node no longer knows (dropped from its pool) is resubmitted
//! with the same signed bytes. Transport failures are retried with exponential backoff and
//! become [`ChainError::Unreachable`].

use std::{collections::BTreeMap, future::Future, time::Duration};

use alloy::{
    eips::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, Bytes},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, TransactionRequest},
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind},
};

use crate::{
    Result,
    call::{Addresses, Call},
    deploy::{DeployConfig, deploy_plan},
    error::ChainError,
    event::{LoggedEvent, decode_log},
    revert::decode_revert,
    settlement::{Receipt, Settlement},
};

/// Retry and polling settings of an [`Evm`] client.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per RPC request before [`ChainError::Unreachable`].
    pub attempts: u32,
    /// Delay before the first retry; doubled at each further one.
    pub initial_backoff: Duration,
    /// Interval between receipt polls.
    pub poll_interval: Duration,
    /// How long to wait for a receipt (resubmitting dropped transactions) before
    /// [`ChainError::ReceiptTimeout`].
    pub receipt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts from 250 ms, receipts polled every 500 ms for up to 2 minutes.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(250),
            poll_interval: Duration::from_millis(500),
            receipt_timeout: Duration::from_secs(120),
        }
    }
}

/// A JSON-RPC settlement client. See the [module docs](self).
#[derive(Debug)]
pub struct Evm {
    url: String,
    provider: DynProvider,
    wallet: EthereumWallet,
    signers: Vec<Address>,
    addresses: Addresses,
    chain_id: u64,
    retry: RetryPolicy,
    nonces: BTreeMap<Address, u64>,
}

impl Evm {
    /// Connects to `url` with the given signing keys and the deployed `addresses`. With
    /// `expected_chain_id`, a different chain is [`ChainError::WrongChainId`].
    pub async fn connect(
        url: &str,
        keys: Vec<PrivateKeySigner>,
        expected_chain_id: Option<u64>,
        addresses: Addresses,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let parsed = url
            .parse()
            .map_err(|e| ChainError::InvalidArgument(format!("RPC URL {url:?}: {e}")))?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(parsed)
            .erased();
        let signers = keys.iter().map(|k| k.address()).collect();
        let mut keys = keys.into_iter();
        let mut wallet = EthereumWallet::new(
            keys.next()
                .ok_or_else(|| ChainError::InvalidArgument("no signing key given".into()))?,
        );
        for k in keys {
            wallet.register_signer(k);
        }
        let mut evm = Evm {
            url: url.to_string(),
            provider,
            wallet,
            signers,
            addresses,
            chain_id: 0,
            retry,
            nonces: BTreeMap::new(),
        };
        let p = evm.provider.clone();
        evm.chain_id = evm.rpc("eth_chainId", || p.get_chain_id()).await?;
        if let Some(expected) = expected_chain_id
            && expected != evm.chain_id
        {
            return Err(ChainError::WrongChainId {
                expected,
                actual: evm.chain_id,
            });
        }
        Ok(evm)
    }

    /// Deploys the contracts from `key`'s account (its next nonce) and connects to them.
    pub async fn deploy(
        url: &str,
        key: PrivateKeySigner,
        config: &DeployConfig,
        expected_chain_id: Option<u64>,
        retry: RetryPolicy,
    ) -> Result<Self> {
        config.validate()?;
        let deployer = key.address();
        let placeholder = Addresses {
            token: Address::ZERO,
            staking: Address::ZERO,
            market: Address::ZERO,
        };
        let mut evm = Self::connect(url, vec![key], expected_chain_id, placeholder, retry).await?;
        let nonce = evm.next_nonce(deployer).await?;
        let (addresses, txs) = deploy_plan(deployer, nonce, config);
        for tx in txs {
            evm.execute(deployer, tx.to, tx.data).await?;
        }
        evm.addresses = addresses;
        Ok(evm)
    }

    /// Checks that each of the three addresses holds contract code on this chain, so that a
    /// wrong addresses file or a wrong endpoint is a clear error instead of an ABI decoding
    /// failure on the first read.
    ///
    /// Errors: [`ChainError::InvalidArgument`] naming the first address without code; RPC
    /// errors.
    pub async fn check_deployed(&self) -> Result<()> {
        for (name, address) in [
            ("token", self.addresses.token),
            ("staking", self.addresses.staking),
            ("market", self.addresses.market),
        ] {
            let p = self.provider.clone();
            let code = self
                .rpc("eth_getCode", || p.get_code_at(address).into_future())
                .await?;
            if code.is_empty() {
                return Err(ChainError::InvalidArgument(format!(
                    "no contract code at the {name} address {address} on {} (chain id {}): \
                     is this the right endpoint and addresses file?",
                    self.url, self.chain_id
                )));
            }
        }
        Ok(())
    }

    /// A development chain (anvil) only: moves its clock `secs` seconds forward and mines a
    /// block, so that [`Settlement::now`] reads the new time (`evm_increaseTime`, `evm_mine`).
    ///
    /// Errors: [`ChainError::Rpc`] when the endpoint has no such methods (not a development
    /// chain), [`ChainError::Unreachable`].
    pub async fn dev_advance_time(&self, secs: u64) -> Result<()> {
        let p = self.provider.clone();
        self.rpc("evm_increaseTime", || {
            p.raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (secs,))
        })
        .await?;
        self.rpc("evm_mine", || {
            p.raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        })
        .await?;
        Ok(())
    }

    /// A development chain (anvil) only: sets `who`'s ether balance to `wei`, to pay for gas
    /// (`anvil_setBalance`).
    ///
    /// Errors: as [`Evm::dev_advance_time`].
    pub async fn dev_set_balance(&self, who: Address, wei: alloy::primitives::U256) -> Result<()> {
        let p = self.provider.clone();
        self.rpc("anvil_setBalance", || {
            p.raw_request::<_, serde_json::Value>("anvil_setBalance".into(), (who, wei))
        })
        .await?;
        Ok(())
    }

    /// The chain id the endpoint serves.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The underlying provider (for test-only RPCs such as `evm_increaseTime`).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Sends a raw transaction (`to = None` deploys `data`) from a signer of this client and
    /// awaits its receipt.
    pub async fn execute(
        &mut self,
        from: Address,
        to: Option<Address>,
        data: Bytes,
    ) -> Result<Receipt> {
        if !self.signers.contains(&from) {
            return Err(ChainError::NoSigner(from));
        }
        let nonce = self.next_nonce(from).await?;
        let mut tx = TransactionRequest::default()
            .with_from(from)
            .with_input(data)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id);
        tx = match to {
            Some(to) => tx.with_to(to),
            None => tx.into_create(),
        };
        let p = self.provider.clone();
        let gas = self
            .rpc("eth_estimateGas", || {
                p.estimate_gas(tx.clone()).into_future()
            })
            .await?;
        let fees = self
            .rpc("eth_feeHistory", || p.estimate_eip1559_fees())
            .await?;
        let tx = tx
            .with_gas_limit(gas.saturating_mul(12) / 10)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = tx
            .build(&self.wallet)
            .await
            .map_err(|e| ChainError::Rpc(format!("signing: {e}")))?;
        let hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        if let Err(e) = self
            .rpc("eth_sendRawTransaction", || p.send_raw_transaction(&raw))
            .await
        {
            self.nonces.remove(&from); // re-read from the node next time
            return Err(e);
        }
        self.nonces.insert(from, nonce + 1);
        self.await_receipt(hash, &raw).await
    }

    async fn next_nonce(&mut self, who: Address) -> Result<u64> {
        if let Some(n) = self.nonces.get(&who) {
            return Ok(*n);
        }
        let p = self.provider.clone();
        let n = self
            .rpc("eth_getTransactionCount", || {
                p.get_transaction_count(who).pending().into_future()
            })
            .await?;
        self.nonces.insert(who, n);
        Ok(n)
    }

    async fn await_receipt(&self, hash: B256, raw: &[u8]) -> Result<Receipt> {
        let p = self.provider.clone();
        let polls = (self.retry.receipt_timeout.as_millis()
            / self.retry.poll_interval.as_millis().max(1))
        .max(1);
        for _ in 0..polls {
            let receipt = self
                .rpc("eth_getTransactionReceipt", || {
                    p.get_transaction_receipt(hash).into_future()
                })
                .await?;
            if let Some(r) = receipt {
                if !r.status() {
                    return Err(ChainError::Reverted {
                        reason: format!("transaction {hash} reverted on chain"),
                    });
                }
                let events = r
                    .inner
                    .logs()
                    .iter()
                    .filter_map(|l| {
                        decode_log(&self.addresses, l.address(), l.topics(), &l.data().data)
                    })
                    .collect();
                return Ok(Receipt {
                    block: r.block_number.unwrap_or_default(),
                    tx_hash: hash,
                    gas_used: r.gas_used,
                    events,
                });
            }
            let known = self
                .rpc("eth_getTransactionByHash", || {
                    p.get_transaction_by_hash(hash).into_future()
                })
                .await?;
            if known.is_none() {
                // Dropped from the pool: send the same signed bytes again.
                let _ = self
                    .rpc("eth_sendRawTransaction", || p.send_raw_transaction(raw))
                    .await;
            }
            tokio::time::sleep(self.retry.poll_interval).await;
        }
        Err(ChainError::ReceiptTimeout(hash.to_string()))
    }

    /// Runs one RPC request, retrying transport failures with exponential backoff.
    async fn rpc<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, RpcError<TransportErrorKind>>>,
    {
        let mut delay = self.retry.initial_backoff;
        let attempts = self.retry.attempts.max(1);
        for attempt in 1..=attempts {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transport_error() => {
                    if attempt == attempts {
                        return Err(ChainError::Unreachable {
                            url: self.url.clone(),
                            attempts,
                            cause: format!("{what}: {e}"),
                        });
                    }
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                Err(e) => return Err(map_rpc_error(what, e)),
            }
        }
        Err(ChainError::Unreachable {
            url: self.url.clone(),
            attempts,
            cause: what.to_string(),
        })
    }
}

fn map_rpc_error(what: &str, e: RpcError<TransportErrorKind>) -> ChainError {
    match e.as_error_resp().and_then(|p| p.as_revert_data()) {
        Some(data) => decode_revert(&data),
        None => ChainError::Rpc(format!("{what}: {e}")),
    }
}

impl Settlement for Evm {
    fn addresses(&self) -> Addresses {
        self.addresses
    }

    async fn send(&mut self, from: Address, call: Call) -> Result<Receipt> {
        let (to, data) = call.encode(&self.addresses);
        self.execute(from, Some(to), data).await
    }

    async fn call_raw(&self, to: Address, data: Bytes) -> Result<Bytes> {
        let p = self.provider.clone();
        let tx = TransactionRequest::default().with_to(to).with_input(data);
        self.rpc("eth_call", || p.call(tx.clone()).into_future())
            .await
    }

    async fn events_since(&self, from_block: u64) -> Result<Vec<LoggedEvent>> {
        let p = self.provider.clone();
        let a = self.addresses;
        // A follower that is up to date asks from the block after the newest; nodes answer
        // that with an error (anvil: "BlockOutOfRangeError"), so it is answered here: nothing.
        let head = self
            .rpc("eth_blockNumber", || p.get_block_number().into_future())
            .await?;
        if from_block > head {
            return Ok(Vec::new());
        }
        let filter = Filter::new()
            .address(vec![a.token, a.staking, a.market])
            .from_block(from_block)
            .to_block(head);
        let logs = self.rpc("eth_getLogs", || p.get_logs(&filter)).await?;
        Ok(logs
            .iter()
            .filter_map(|l| {
                let event = decode_log(&a, l.address(), l.topics(), &l.data().data)?;
                Some(LoggedEvent {
                    block: l.block_number.unwrap_or_default(),
                    event,
                })
            })
            .collect())
    }

    async fn now(&self) -> Result<u64> {
        let p = self.provider.clone();
        let block = self
            .rpc("eth_getBlockByNumber", || {
                p.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                    .into_future()
            })
            .await?;
        block
            .map(|b| b.header.timestamp)
            .ok_or_else(|| ChainError::Rpc("no latest block".into()))
    }

    async fn nonce(&self, who: Address) -> Result<u64> {
        let p = self.provider.clone();
        self.rpc("eth_getTransactionCount", || {
            p.get_transaction_count(who).pending().into_future()
        })
        .await
    }
}

/// Reads a signing key from a file holding one hex private key (with or without `0x`,
/// surrounding whitespace ignored).
pub fn read_key_file(path: &std::path::Path) -> Result<PrivateKeySigner> {
    let text = std::fs::read_to_string(path).map_err(ChainError::io(format!(
        "reading the key file {}",
        path.display()
    )))?;
    text.trim().parse().map_err(|_| {
        ChainError::InvalidArgument(format!(
            "{} does not hold a hex secp256k1 private key",
            path.display()
        ))
    })
}
