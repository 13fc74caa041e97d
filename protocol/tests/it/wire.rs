//! A signed statement through the wire codec: what a peer sends, what a receiver accepts.

use borsh::{BorshDeserialize, BorshSerialize};
use pinpoint_protocol::ProtocolError;
use pinpoint_protocol::codec::{self, Limits, WireMessage};
use pinpoint_protocol::id::{NodeKey, ReplayGuard, Signed};
use pinpoint_protocol::merkle::StepCommitment;

/// A commitment to a training run's state hashes, as a trainer would announce it.
#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize)]
struct Commit {
    root: [u8; 32],
    steps: u64,
}

type SignedCommit = Signed<Commit>;

/// The wire message carrying it.
#[derive(Debug, Clone, BorshSerialize, BorshDeserialize)]
struct Announce(SignedCommit);

impl WireMessage for Announce {
    const KIND: u16 = 0x7e57;
}

fn send(s: &SignedCommit) -> Vec<u8> {
    codec::encode_frame(&Announce(s.clone())).unwrap()
}

fn receive(bytes: &[u8], limits: &Limits) -> Result<SignedCommit, ProtocolError> {
    codec::decode_message::<Announce>(bytes, limits).map(|a| a.0)
}

fn commit(key: &NodeKey, seq: u64) -> SignedCommit {
    let states: Vec<[u8; 32]> = (0..9u8).map(|i| [i; 32]).collect();
    let c = StepCommitment::new(&states).unwrap();
    Signed::sign(
        key,
        [7; 32],
        0,
        seq,
        Commit {
            root: c.root(),
            steps: c.steps(),
        },
    )
    .unwrap()
}

#[test]
fn signed_frame_round_trip_then_replay_is_refused() {
    let key = NodeKey::from_seed([1; 32]);
    let bytes = send(&commit(&key, 1));
    let got = receive(&bytes, &Limits::default()).unwrap();
    got.verify().unwrap();
    let mut guard = ReplayGuard::default();
    guard.accept(&got).unwrap();
    assert!(matches!(guard.accept(&got), Err(ProtocolError::Replay(_))));
    guard.accept(&commit(&key, 2)).unwrap();
    assert!(matches!(
        guard.accept(&commit(&key, 1)),
        Err(ProtocolError::Replay(_))
    ));
}

#[test]
fn forged_and_tampered_frames_are_refused() {
    let key = NodeKey::from_seed([1; 32]);
    let other = NodeKey::from_seed([2; 32]);
    // A statement signed by `other` but claiming to come from `key`.
    let mut forged = commit(&other, 1);
    forged.signer = key.node_id();
    let got = receive(&send(&forged), &Limits::default()).unwrap();
    assert!(matches!(got.verify(), Err(ProtocolError::BadSignature(_))));
    assert!(ReplayGuard::default().accept(&got).is_err());

    // One changed byte of the statement breaks the signature.
    let mut s = commit(&key, 1);
    s.statement.steps += 1;
    assert!(matches!(s.verify(), Err(ProtocolError::BadSignature(_))));
}

#[test]
fn oversized_and_trailing_frames_are_refused() {
    let key = NodeKey::from_seed([1; 32]);
    let bytes = send(&commit(&key, 1));
    let tight = Limits {
        max_frame_bytes: bytes.len() - 1,
    };
    assert!(matches!(
        receive(&bytes, &tight),
        Err(ProtocolError::TooLarge { .. })
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        receive(&longer, &Limits::default()),
        Err(ProtocolError::Malformed { .. })
    ));
}
