//! Tests of the wire messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pinpoint_kernels::Tensor;
use pinpoint_kernels::graph::{Ids, Value};
use proptest::prelude::*;

use super::*;
use crate::codec::{
    BoundedVec, Limits, PROTOCOL_VERSION, decode, decode_message, encode, encode_frame,
};
use crate::id::NodeId;
use crate::merkle::StepCommitment;

fn node() -> impl Strategy<Value = NodeId> {
    any::<[u8; 32]>().prop_map(|s| NodeKey::from_seed(s).node_id())
}

fn proof() -> impl Strategy<Value = WireProof> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(any::<[u8; 32]>(), 0..8),
    )
        .prop_map(|(index, n_leaves, s)| WireProof {
            index,
            n_leaves,
            siblings: BoundedVec::new(s).unwrap(),
        })
}

fn blob() -> impl Strategy<Value = ValueBlob> {
    (
        any::<u8>(),
        prop::collection::vec(any::<u64>(), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<[u8; 32]>(),
    )
        .prop_map(|(dtype, shape, data, hash)| ValueBlob {
            dtype,
            shape: BoundedVec::new(shape).unwrap(),
            data: BoundedVec::new(data).unwrap(),
            hash,
        })
}

fn named() -> impl Strategy<Value = NamedHash> {
    (prop::collection::vec(any::<u8>(), 1..8), any::<[u8; 32]>()).prop_map(|(n, hash)| NamedHash {
        name: BoundedVec::new(n).unwrap(),
        hash,
    })
}

fn agreed_proof() -> impl Strategy<Value = AgreedProof> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(named(), 0..3),
        prop::collection::vec(named(), 0..3),
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec(prop::collection::vec(any::<[u8; 32]>(), 1..3), 0..3),
    )
        .prop_map(
            |(step, data_cursor, p, o, first, start, outs)| AgreedProof {
                state: StateManifest {
                    step,
                    data_cursor,
                    params: BoundedVec::new(p).unwrap(),
                    optim: BoundedVec::new(o).unwrap(),
                },
                chain: ChainSegment {
                    first,
                    start,
                    outputs: BoundedVec::new(
                        outs.into_iter()
                            .map(|v| BoundedVec::new(v).unwrap())
                            .collect(),
                    )
                    .unwrap(),
                },
            },
        )
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        (node(), node()).prop_map(|(winner, loser)| Outcome::Winner { winner, loser }),
        (node(), node()).prop_map(|(challenger, defendant)| Outcome::BothLose {
            challenger,
            defendant
        }),
    ]
}

fn resolution() -> impl Strategy<Value = Resolution> {
    let fault = prop_oneof![
        Just(Fault::Timeout),
        Just(Fault::BadProof),
        Just(Fault::Equivocation),
        Just(Fault::BadInput),
        Just(Fault::Malformed),
    ];
    prop_oneof![
        (
            any::<u64>(),
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(step, node, c, d, r)| Resolution::Recomputed {
                step,
                node,
                challenger_hash: c,
                defendant_hash: d,
                recomputed_hash: r,
            }),
        (node(), fault).prop_map(|(offender, fault)| Resolution::Forfeit { offender, fault }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let h = any::<[u8; 32]>;
    prop_oneof![
        (
            h(),
            node(),
            h(),
            any::<u128>(),
            any::<u16>(),
            any::<(u64, u64, u64)>()
        )
            .prop_map(
                |(job, submitter, spec_hash, payment, replicas, (a, c, w))| {
                    Message::JobAnnounce(JobAnnounce {
                        job,
                        submitter,
                        spec_hash,
                        payment,
                        replicas,
                        assign_deadline_ms: a,
                        commit_deadline_ms: c,
                        challenge_window_ms: w,
                    })
                }
            ),
        (h(), prop::collection::vec(node(), 0..5)).prop_map(|(job, t)| {
            Message::JobAssign(JobAssign {
                job,
                trainers: BoundedVec::new(t).unwrap(),
            })
        }),
        (h(), node(), h(), any::<u64>(), h()).prop_map(|(job, trainer, root, steps, fin)| {
            Message::JobCommit(JobCommit {
                job,
                trainer,
                root,
                steps,
                final_state_hash: fin,
            })
        }),
        (h(), node(), node(), h(), h(), any::<u64>()).prop_map(|(job, c, d, cr, dr, steps)| {
            Message::DisputeOpen(DisputeOpen {
                job,
                challenger: c,
                defendant: d,
                challenger_root: cr,
                defendant_root: dr,
                steps,
            })
        }),
        (any::<u32>(), any::<u64>())
            .prop_map(|(round, step)| Message::StepQuery(StepQuery { round, step })),
        (any::<u64>(), h(), proof()).prop_map(|(step, state_hash, proof)| {
            Message::StepAnswer(StepAnswer {
                step,
                state_hash,
                proof,
            })
        }),
        (any::<u64>(), h(), any::<u64>()).prop_map(|(lo, graph_hash, nodes)| {
            Message::NodePhaseStart(NodePhaseStart {
                lo,
                graph_hash,
                nodes,
            })
        }),
        (any::<u32>(), any::<u64>())
            .prop_map(|(round, index)| Message::NodeQuery(NodeQuery { round, index })),
        (any::<u64>(), h(), proof(), any::<Option<[u8; 32]>>()).prop_map(
            |(index, link, proof, chain_root)| {
                Message::NodeAnswer(NodeAnswer {
                    index,
                    link,
                    proof,
                    chain_root,
                })
            }
        ),
        any::<u64>().prop_map(|index| Message::InputQuery(InputQuery { index })),
        (
            any::<u64>(),
            prop::collection::vec(blob(), 0..3),
            agreed_proof()
        )
            .prop_map(|(index, b, proof)| {
                Message::InputTransfer(InputTransfer {
                    index,
                    inputs: BoundedVec::new(b).unwrap(),
                    proof,
                })
            }),
        (h(), outcome(), resolution()).prop_map(|(job, outcome, resolution)| {
            Message::Verdict(Verdict {
                job,
                outcome,
                resolution,
            })
        }),
        (h(), node(), node(), any::<u64>(), h(), proof(), h()).prop_map(
            |(job, verifier, trainer, step, claimed_hash, claimed_proof, recomputed_hash)| {
                Message::SampleChallenge(SampleChallenge {
                    job,
                    verifier,
                    trainer,
                    step,
                    claimed_hash,
                    claimed_proof,
                    recomputed_hash,
                })
            }
        ),
        (
            any::<u64>(),
            node(),
            prop::collection::vec(any::<u8>(), 0..128)
        )
            .prop_map(|(round, peer, p)| Message::SwarmRollout(
                SwarmRollout::new(round, peer, p).unwrap()
            )),
        any::<u64>().prop_map(|step| Message::OpeningRequest(OpeningRequest { step })),
        (any::<u64>(), h(), proof(), h(), proof()).prop_map(
            |(step, prev_hash, prev_proof, hash, proof)| {
                Message::StepOpening(WireOpening {
                    step,
                    prev_hash,
                    prev_proof,
                    hash,
                    proof,
                })
            }
        ),
        (node(), prop::collection::vec(any::<u8>(), 0..256))
            .prop_map(|(to, p)| Message::App(AppMessage::new(to, p).unwrap())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips_through_a_frame(msg in message()) {
        let bytes = encode_frame(&msg).unwrap();
        let back: Message = decode_message(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(&back, &msg);
        // The body's first byte is the variant tag.
        prop_assert_eq!(encode(&msg).unwrap()[0], msg.kind());
    }

    #[test]
    fn every_signed_message_round_trips_and_verifies(
        msg in message(), seed in any::<[u8; 32]>(), round in any::<u32>(), seq in any::<u64>(),
        job in any::<[u8; 32]>(),
    ) {
        let job = msg.job().copied().unwrap_or(job);
        let signed = msg.clone().sign(&NodeKey::from_seed(seed), job, round, seq).unwrap();
        let bytes = encode_frame(&signed).unwrap();
        let back: SignedMessage = decode_message(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(&back, &signed);
        verify_message(&back).unwrap();
    }

    #[test]
    fn trailing_bytes_are_rejected(msg in message(), extra in 1usize..4) {
        let mut body = encode(&msg).unwrap();
        body.extend(std::iter::repeat_n(0u8, extra));
        let err = decode::<Message>(&body, &Limits::default()).unwrap_err();
        prop_assert!(matches!(err, ProtocolError::Malformed { .. }), "{err}");
    }
}

#[test]
fn kind_constants_match_frame_kinds() {
    assert_eq!(<Message as WireMessage>::KIND, MESSAGE_KIND);
    assert_eq!(<SignedMessage as WireMessage>::KIND, SIGNED_MESSAGE_KIND);
    assert_ne!(MESSAGE_KIND, SIGNED_MESSAGE_KIND);
}

#[test]
fn unknown_variant_tag_is_rejected() {
    let msg = Message::InputQuery(InputQuery { index: 3 });
    let mut bytes = encode_frame(&msg).unwrap();
    // Frame: version u16 ‖ kind u16 ‖ body length u32 ‖ body; the body starts with the tag.
    assert_eq!(bytes[..2], PROTOCOL_VERSION.to_le_bytes());
    assert_eq!(bytes[8], kind::INPUT_QUERY);
    for tag in [kind::APP + 1, 0xff] {
        bytes[8] = tag;
        let err = decode_message::<Message>(&bytes, &Limits::default()).unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed { .. }), "{err}");
    }
}

#[test]
fn oversized_messages_are_rejected() {
    // Over the frame limit: refused before parsing.
    let msg = Message::SwarmRollout(SwarmRollout::new(1, node_id(1), vec![7; 1000]).unwrap());
    let bytes = encode_frame(&msg).unwrap();
    let small = Limits {
        max_frame_bytes: 512,
    };
    let err = decode_message::<Message>(&bytes, &small).unwrap_err();
    assert!(matches!(err, ProtocolError::TooLarge { .. }), "{err}");

    // Over a field cap: refused at construction …
    let err = SwarmRollout::new(1, node_id(1), vec![0; MAX_ROLLOUT_BYTES as usize + 1]);
    assert!(matches!(err, Err(ProtocolError::TooLarge { .. })));
    let err = AppMessage::new(node_id(1), vec![0; MAX_APP_BYTES as usize + 1]);
    assert!(matches!(err, Err(ProtocolError::TooLarge { .. })));
    // … and while decoding, right after the count (here: a proof claiming 65 siblings).
    let mut body = vec![kind::STEP_ANSWER];
    body.extend(5u64.to_le_bytes());
    body.extend([9u8; 32]);
    body.extend(0u64.to_le_bytes());
    body.extend(10u64.to_le_bytes());
    body.extend((MAX_PROOF_SIBLINGS + 1).to_le_bytes());
    body.extend(vec![0u8; 32 * (MAX_PROOF_SIBLINGS as usize + 1)]);
    let err = decode::<Message>(&body, &Limits::default()).unwrap_err();
    assert!(matches!(err, ProtocolError::Malformed { .. }), "{err}");
    // The same with 64 siblings decodes.
    let cap = MAX_PROOF_SIBLINGS as usize;
    let mut ok = body[..1 + 8 + 32 + 16].to_vec();
    ok.extend(MAX_PROOF_SIBLINGS.to_le_bytes());
    ok.extend(vec![0u8; 32 * cap]);
    let msg = decode::<Message>(&ok, &Limits::default()).unwrap();
    assert!(matches!(msg, Message::StepAnswer(a) if a.proof.siblings.len() == cap));
    // Too many trainers or inputs cannot be built either.
    assert!(
        BoundedVec::<NodeId, MAX_TRAINERS>::new(vec![node_id(1); MAX_TRAINERS as usize + 1])
            .is_err()
    );
    assert!(BoundedVec::<ValueBlob, MAX_NODE_INPUTS>::new(vec![]).is_ok());
}

fn node_id(seed: u8) -> NodeId {
    NodeKey::from_seed([seed; 32]).node_id()
}

#[test]
fn changing_the_variant_breaks_the_signature() {
    // StepQuery and NodeQuery have the same field layout (u32, u64): only the tag differs.
    let key = NodeKey::from_seed([1; 32]);
    let signed = Message::StepQuery(StepQuery { round: 4, step: 17 })
        .sign(&key, [2; 32], 4, 0)
        .unwrap();
    verify_message(&signed).unwrap();
    let mut forged = signed.clone();
    forged.statement = Message::NodeQuery(NodeQuery {
        round: 4,
        index: 17,
    });
    assert_eq!(
        encode(&forged.statement).unwrap()[1..],
        encode(&signed.statement).unwrap()[1..]
    );
    let err = verify_message(&forged).unwrap_err();
    assert!(matches!(err, ProtocolError::BadSignature(_)), "{err}");
}

#[test]
fn job_in_message_must_match_envelope() {
    let key = NodeKey::from_seed([1; 32]);
    let commit = Message::JobCommit(JobCommit {
        job: [3; 32],
        trainer: key.node_id(),
        root: [0; 32],
        steps: 8,
        final_state_hash: [1; 32],
    });
    assert!(matches!(
        commit.clone().sign(&key, [4; 32], 0, 0),
        Err(ProtocolError::InvalidArgument(_))
    ));
    // Signed directly with the wrong envelope job: the signature holds, the check does not.
    let signed = Signed::sign(&key, [4; 32], 0, 0, commit).unwrap();
    signed.verify().unwrap();
    assert!(matches!(
        verify_message(&signed),
        Err(ProtocolError::InvalidArgument(_))
    ));
}

fn values() -> Vec<Value> {
    vec![
        Value::F32(Tensor::new(&[2, 3], vec![1.0, -0.0, 2.5, f32::NAN, 1e-40, -7.0]).unwrap()),
        Value::F32(Tensor::scalar(3.25)),
        Value::F32(Tensor::new(&[0, 4], vec![]).unwrap()),
        Value::U32(Ids::new(&[4], vec![0, 1, u32::MAX, 42]).unwrap()),
    ]
}

#[test]
fn value_blobs_round_trip_with_hashes() {
    for v in values() {
        let blob = ValueBlob::from_value(&v).unwrap();
        assert_eq!(blob.hash, v.hash().0);
        let bytes = encode(&blob).unwrap();
        let back: ValueBlob = decode(&bytes, &Limits::default()).unwrap();
        let value = back.to_value_checked(&v.hash().0).unwrap();
        // Bit-exact (NaN payloads and -0.0 included): compare hashes and bits.
        assert_eq!(value.hash(), v.hash());
        match (&value, &v) {
            (Value::F32(a), Value::F32(b)) => {
                let bits = |t: &Tensor| t.data().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(a.shape(), b.shape());
                assert_eq!(bits(a), bits(b));
            }
            (a, b) => assert_eq!(a, b),
        }
    }
}

#[test]
fn value_blob_hash_mismatch_is_rejected() {
    let v = &values()[0];
    let good = ValueBlob::from_value(v).unwrap();
    // One flipped data bit: the claimed hash no longer matches.
    let mut data = good.data.to_vec();
    data[4] ^= 1;
    let bad = ValueBlob {
        data: BoundedVec::new(data).unwrap(),
        ..good.clone()
    };
    assert!(matches!(
        bad.to_value(),
        Err(ProtocolError::HashMismatch { .. })
    ));
    // A wrong claimed hash.
    let mut bad = good.clone();
    bad.hash[0] ^= 1;
    assert!(matches!(
        bad.to_value(),
        Err(ProtocolError::HashMismatch { .. })
    ));
    // A dtype change (same bytes as ids): different hash domain.
    let mut bad = good.clone();
    bad.dtype = pinpoint_kernels::graph::DType::U32.tag();
    assert!(matches!(
        bad.to_value(),
        Err(ProtocolError::HashMismatch { .. })
    ));
    // Consistent blob, but not the value the parties agreed on.
    assert!(matches!(
        good.to_value_checked(&[0; 32]),
        Err(ProtocolError::HashMismatch { .. })
    ));
    good.to_value_checked(&v.hash().0).unwrap();
}

#[test]
fn malformed_value_blobs_are_rejected() {
    let good = ValueBlob::from_value(&values()[3]).unwrap();
    let mut bad = good.clone();
    bad.dtype = 9;
    assert!(matches!(
        bad.to_value(),
        Err(ProtocolError::Unsupported { .. })
    ));
    let mut bad = good.clone();
    bad.data = BoundedVec::new(good.data[..15].to_vec()).unwrap();
    assert!(matches!(
        bad.to_value(),
        Err(ProtocolError::Malformed { .. })
    ));
    let mut bad = good;
    bad.shape = BoundedVec::new(vec![u64::MAX, u64::MAX]).unwrap();
    assert!(matches!(
        bad.to_value(),
        Err(ProtocolError::Malformed { .. })
    ));
}

#[test]
fn step_answer_proof_verifies_after_transport() {
    let hashes: Vec<[u8; 32]> = (0..9u8).map(|i| [i; 32]).collect();
    let commitment = StepCommitment::new(&hashes).unwrap();
    let proof = WireProof::new(commitment.proof(5).unwrap()).unwrap();
    let msg = Message::StepAnswer(StepAnswer {
        step: 5,
        state_hash: hashes[5],
        proof,
    });
    let back: Message = decode_message(&encode_frame(&msg).unwrap(), &Limits::default()).unwrap();
    let Message::StepAnswer(a) = back else {
        panic!("wrong variant")
    };
    a.proof.verify(&commitment.root(), &a.state_hash).unwrap();
    assert!(a.proof.verify(&commitment.root(), &hashes[4]).is_err());
}

#[test]
fn rollout_hash_is_checked() {
    let mut r = SwarmRollout::new(3, node_id(2), b"rollouts".to_vec()).unwrap();
    r.verify_hash().unwrap();
    r.hash[31] ^= 1;
    assert!(matches!(
        r.verify_hash(),
        Err(ProtocolError::HashMismatch { .. })
    ));
}
