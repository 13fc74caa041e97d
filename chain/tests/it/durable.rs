//! The embedded chain's durable log: state survives a restart, a torn last record is dropped
//! with nothing else lost, corruption before the end is an error, and time cannot go back.

use std::io::Write;

use alloy::primitives::U256;
use anyhow::Result;
use pinpoint_chain::{
    Call, ChainError, Embedded, Role, Settlement, Spender, deploy::DEFAULT_DEPLOYER,
};

use crate::common::*;

fn log_file(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("txlog.bin")
}

#[tokio::test]
async fn state_survives_restart_and_torn_tail() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = test_config();
    let who = alloy::primitives::Address::repeat_byte(0x42);
    {
        let (mut c, report) = Embedded::open(dir.path(), &cfg)?;
        assert_eq!(report.records, 0);
        c.set_time(c.time() + 50)?;
        c.send(
            DEFAULT_DEPLOYER,
            Call::Transfer {
                to: who,
                amount: pin(1_000),
            },
        )
        .await?;
        c.send(
            who,
            Call::Approve {
                spender: Spender::Staking,
                amount: pin(500),
            },
        )
        .await?;
        c.send(
            who,
            Call::Stake {
                role: Role::Trainer,
                amount: pin(500),
            },
        )
        .await?;
        // A reverted call is not logged.
        assert!(
            c.send(
                who,
                Call::Burn {
                    amount: pin(10_000)
                }
            )
            .await
            .is_err()
        );
    }
    let len_after_three = std::fs::metadata(log_file(dir.path()))?.len();
    let (c, report) = Embedded::open(dir.path(), &cfg)?;
    assert_eq!((report.records, report.dropped_tail_bytes), (3, 0));
    assert_eq!(c.balance_of(who).await?, pin(500));
    assert_eq!(c.position(who, Role::Trainer).await?.active, pin(500));
    assert_eq!(c.time(), pinpoint_chain::embedded::GENESIS_TIME + 50);
    assert_eq!(
        c.events_since(0).await?.len(),
        2 + 1 + 1 + 2,
        "events rebuilt on replay"
    );
    drop(c);

    // Crash in the middle of appending a 4th record: a partial frame at the end.
    {
        let (mut c, _) = Embedded::open(dir.path(), &cfg)?;
        c.send(who, Call::Burn { amount: pin(1) }).await?;
    }
    let full = std::fs::read(log_file(dir.path()))?;
    for cut in [
        1usize,
        7,
        20,
        (full.len() as u64 - len_after_three) as usize - 1,
    ] {
        std::fs::write(log_file(dir.path()), &full[..full.len() - cut])?;
        let (c, report) = Embedded::open(dir.path(), &cfg)?;
        assert_eq!(report.records, 3, "cut {cut}");
        assert_eq!(
            report.dropped_tail_bytes,
            full.len() as u64 - len_after_three - cut as u64
        );
        assert_eq!(
            c.balance_of(who).await?,
            pin(500),
            "the first three survive"
        );
        drop(c);
        assert_eq!(
            std::fs::metadata(log_file(dir.path()))?.len(),
            len_after_three,
            "tail cut off on disk"
        );
    }
    // A flipped byte inside the last record is a torn tail too; inside an earlier one it is corruption.
    let mut bad = full.clone();
    let n = bad.len();
    bad[n - 3] ^= 0xff;
    std::fs::write(log_file(dir.path()), &bad)?;
    let (_, report) = Embedded::open(dir.path(), &cfg)?;
    assert_eq!(report.records, 3);
    let mut bad = full.clone();
    bad[20] ^= 0xff;
    std::fs::write(log_file(dir.path()), &bad)?;
    assert!(matches!(
        Embedded::open(dir.path(), &cfg),
        Err(ChainError::CorruptLog { .. })
    ));
    // Not a log at all.
    std::fs::write(log_file(dir.path()), b"hello world, not a log")?;
    assert!(matches!(
        Embedded::open(dir.path(), &cfg),
        Err(ChainError::CorruptLog { .. })
    ));
    Ok(())
}

#[test]
fn other_config_and_time_going_back_are_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut c, _) = Embedded::open(dir.path(), &test_config())?;
    let mut other = test_config();
    other.committee_size = 3;
    assert!(matches!(
        Embedded::open(dir.path(), &other),
        Err(ChainError::InvalidArgument(_))
    ));
    let t = c.time();
    assert!(matches!(
        c.set_time(t - 1),
        Err(ChainError::InvalidArgument(_))
    ));
    other.committee_size = 2;
    assert!(matches!(
        Embedded::in_memory(&other),
        Err(ChainError::InvalidArgument(_))
    ));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(log_file(dir.path()))?;
    f.write_all(&[1, 2])?;
    drop(f);
    let (c2, report) = Embedded::open(dir.path(), &test_config())?;
    assert_eq!(report.dropped_tail_bytes, 2);
    assert_eq!(c2.block_number(), c.block_number());
    let _ = U256::ZERO;
    Ok(())
}
