//! The funded deployment every run's chain is a snapshot of: addresses per role, funding and
//! staking, cached per layout for the whole process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use pinpoint_chain::alloy::primitives::keccak256;
use pinpoint_chain::deploy::DEFAULT_DEPLOYER;
use pinpoint_chain::{Address, Call, DeployConfig, Embedded, Role as ChainRole, Spender, U256};

use crate::error::{Result, SimError};
use crate::scenario::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BaseKey {
    pub roles: Vec<Role>,
    pub fund: u128,
    pub submitter: u128,
    pub committee: u64,
}

type Bases = Mutex<Vec<(BaseKey, Arc<Embedded>)>>;

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| {
        raise_trim_threshold();
        Mutex::new(Vec::new())
    })
}

/// Every EVM call allocates a few hundred KiB (interpreter stacks and memory per call frame)
/// and frees it; with glibc's default 128 KiB trim threshold each free hands the top of the
/// heap back to the kernel and the next call faults it in again, which took about 80% of a
/// `standard-chain` run. glibc raises its trim threshold to twice the size of a freed
/// `mmap`ped chunk (up to 32 MiB chunks), so one 16 MiB allocation, freed, keeps the heap
/// (a 5× speed-up of `standard-chain`, `docs/benchmarks.md`). Other allocators ignore it.
fn raise_trim_threshold() {
    let v: Vec<u8> = Vec::with_capacity(16 << 20);
    drop(std::hint::black_box(v));
}

fn role_address(role: Role, k: usize) -> Address {
    let name = match role {
        Role::Trainer => "trainer",
        Role::Verifier => "verifier",
        Role::Arbiter => "arbiter",
    };
    Address::from_slice(&keccak256(format!("pinpoint-sim {name} {k}").as_bytes())[12..])
}

pub(super) fn chain_role(role: Role) -> ChainRole {
    match role {
        Role::Trainer => ChainRole::Trainer,
        Role::Verifier => ChainRole::Verifier,
        Role::Arbiter => ChainRole::Arbiter,
    }
}

pub(super) fn submitter_address() -> Address {
    Address::from_slice(&keccak256(b"pinpoint-sim submitter")[12..])
}

/// The per-role address lists of a layout, each sorted ascending.
pub(super) fn layout_addresses(roles: &[Role]) -> BTreeMap<ChainRole, Vec<Address>> {
    let mut out: BTreeMap<ChainRole, Vec<Address>> = BTreeMap::new();
    for r in roles {
        let v = out.entry(chain_role(*r)).or_default();
        let k = v.len();
        v.push(role_address(*r, k));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn chain_err(what: &str) -> impl Fn(pinpoint_chain::ChainError) -> SimError + '_ {
    move |e| SimError::Chain(format!("{what}: {e}"))
}

fn build_base(key: &BaseKey) -> Result<Embedded> {
    let config = DeployConfig {
        min_stake: [U256::from(1u8); 4],
        committee_size: key.committee,
        ..DeployConfig::default()
    };
    let mut c = Embedded::in_memory(&config).map_err(chain_err("deploying"))?;
    let mut send = |from: Address, call: Call| {
        c.send_sync(from, &call)
            .map(|_| ())
            .map_err(chain_err("funding the simulated nodes"))
    };
    for (role, addrs) in layout_addresses(&key.roles) {
        for a in addrs {
            let amount = U256::from(key.fund);
            send(DEFAULT_DEPLOYER, Call::Transfer { to: a, amount })?;
            send(
                a,
                Call::Approve {
                    spender: Spender::Staking,
                    amount: U256::MAX,
                },
            )?;
            send(a, Call::Stake { role, amount })?;
        }
    }
    let s = submitter_address();
    send(
        DEFAULT_DEPLOYER,
        Call::Transfer {
            to: s,
            amount: U256::from(key.submitter),
        },
    )?;
    send(
        s,
        Call::Approve {
            spender: Spender::Market,
            amount: U256::MAX,
        },
    )?;
    Ok(c)
}

/// The funded deployment for `key` (built on first use, then shared).
pub(super) fn base_for(key: BaseKey) -> Result<Arc<Embedded>> {
    let mut cache = bases()
        .lock()
        .map_err(|_| SimError::Chain("the chain cache lock is poisoned".into()))?;
    if let Some((_, b)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(Arc::clone(b));
    }
    let b = Arc::new(build_base(&key)?);
    cache.push((key, Arc::clone(&b)));
    Ok(b)
}
