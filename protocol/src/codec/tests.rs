//! Tests of the canonical encoding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Header {
    job: [u8; 32],
    round: u32,
    seq: u64,
    delta: i64,
    flag: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
enum Body {
    Ping,
    Bytes(Vec<u8>),
    Named { name: String, tag: Option<u16> },
    Nested(Inner),
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
enum Inner {
    Hashes(Vec<[u8; 32]>),
    Map(BTreeMap<u32, String>),
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Message {
    header: Header,
    body: Body,
    proof: BoundedVec<[u8; 32], 8>,
}

impl WireMessage for Message {
    const KIND: u16 = 7;
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Other(u8);

impl WireMessage for Other {
    const KIND: u16 = 8;
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u64>(),
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(|(job, round, seq, delta, flag)| Header {
            job,
            round,
            seq,
            delta,
            flag,
        })
}

fn inner() -> impl Strategy<Value = Inner> {
    prop_oneof![
        prop::collection::vec(any::<[u8; 32]>(), 0..4).prop_map(Inner::Hashes),
        prop::collection::btree_map(any::<u32>(), ".{0,8}", 0..6).prop_map(Inner::Map),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::Ping),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        (".{0,16}", any::<Option<u16>>()).prop_map(|(name, tag)| Body::Named { name, tag }),
        inner().prop_map(Body::Nested),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        body(),
        prop::collection::vec(any::<[u8; 32]>(), 0..=8),
    )
        .prop_map(|(header, body, proof)| Message {
            header,
            body,
            proof: BoundedVec::new(proof).unwrap(),
        })
}

fn sample() -> Message {
    Message {
        header: Header {
            job: [3; 32],
            round: 2,
            seq: 9,
            delta: -1,
            flag: true,
        },
        body: Body::Named {
            name: "x".into(),
            tag: Some(5),
        },
        proof: BoundedVec::new(vec![[1; 32]]).unwrap(),
    }
}

fn is_malformed<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(ProtocolError::Malformed { .. }))
}

proptest! {
    #[test]
    fn message_round_trips(msg in message()) {
        let bytes = encode(&msg).unwrap();
        prop_assert_eq!(decode::<Message>(&bytes, &Limits::default()).unwrap(), msg.clone());
        let framed = encode_frame(&msg).unwrap();
        prop_assert_eq!(decode_message::<Message>(&framed, &Limits::default()).unwrap(), msg);
    }

    #[test]
    fn header_round_trips(h in header()) {
        let bytes = encode(&h).unwrap();
        prop_assert_eq!(bytes.len(), 32 + 4 + 8 + 8 + 1);
        prop_assert_eq!(decode::<Header>(&bytes, &Limits::default()).unwrap(), h);
    }

    #[test]
    fn any_appended_byte_is_rejected(msg in message(), extra in any::<u8>()) {
        let mut bytes = encode(&msg).unwrap();
        bytes.push(extra);
        prop_assert!(is_malformed(decode::<Message>(&bytes, &Limits::default())));
    }

    #[test]
    fn any_truncation_is_rejected(msg in message(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&msg).unwrap();
        let cut = cut.index(bytes.len());
        prop_assert!(is_malformed(decode::<Message>(&bytes[..cut], &Limits::default())));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let limits = Limits::default();
        // Whatever decodes must be canonical: re-encoding gives the input back.
        if let Ok(m) = decode::<Message>(&bytes, &limits) {
            prop_assert_eq!(encode(&m).unwrap(), bytes.clone());
        }
        if let Ok(f) = decode_frame(&bytes, &limits) {
            prop_assert_eq!(encode(&f).unwrap(), bytes.clone());
            let _ = f.open::<Message>(&limits);
        }
        let _ = decode::<Body>(&bytes, &limits);
    }

    #[test]
    fn mutated_encodings_never_panic_and_stay_canonical(
        msg in message(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut bytes = encode(&msg).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(m) = decode::<Message>(&bytes, &Limits::default()) {
            prop_assert_eq!(encode(&m).unwrap(), bytes);
        }
    }
}

#[test]
fn trailing_byte_is_rejected_with_reason() {
    let mut bytes = encode(&sample()).unwrap();
    bytes.push(0);
    match decode::<Message>(&bytes, &Limits::default()) {
        Err(ProtocolError::Malformed { what, detail }) => {
            assert!(what.ends_with("Message"), "{what}");
            assert!(detail.contains("1 trailing bytes"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_canonical_bool_is_rejected() {
    let mut bytes = encode(&sample().header).unwrap();
    let flag = bytes.len() - 1;
    assert_eq!(bytes[flag], 1);
    bytes[flag] = 2;
    assert!(is_malformed(decode::<Header>(&bytes, &Limits::default())));
    assert!(is_malformed(decode::<bool>(&[2], &Limits::default())));
}

#[test]
fn non_canonical_option_tag_is_rejected() {
    assert_eq!(
        decode::<Option<u8>>(&[1, 9], &Limits::default()),
        Ok(Some(9))
    );
    assert!(is_malformed(decode::<Option<u8>>(
        &[2, 9],
        &Limits::default()
    )));
    assert!(is_malformed(decode::<Option<u8>>(
        &[0xff, 9],
        &Limits::default()
    )));
}

#[test]
fn unknown_enum_tag_is_rejected() {
    assert!(is_malformed(decode::<Body>(&[4], &Limits::default())));
}

#[test]
fn unsorted_or_duplicate_map_keys_are_rejected() {
    let ok: BTreeMap<u8, u8> = [(1, 10), (2, 20)].into();
    let bytes = encode(&ok).unwrap();
    assert_eq!(bytes, [2, 0, 0, 0, 1, 10, 2, 20]);
    assert_eq!(
        decode::<BTreeMap<u8, u8>>(&bytes, &Limits::default()),
        Ok(ok)
    );
    for bad in [[2, 0, 0, 0, 2, 20, 1, 10], [2, 0, 0, 0, 1, 10, 1, 20]] {
        assert!(is_malformed(decode::<BTreeMap<u8, u8>>(
            &bad,
            &Limits::default()
        )));
    }
}

/// A type whose decoder accepts more than one encoding of a value (the high bit is ignored):
/// only the re-encoding check can catch that.
#[derive(Debug, PartialEq, BorshSerialize)]
struct Lenient(u8);

impl BorshDeserialize for Lenient {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        Ok(Lenient(u8::deserialize_reader(reader)? & 0x7f))
    }
}

#[test]
fn re_encoding_check_rejects_lenient_decoders() {
    assert_eq!(decode::<Lenient>(&[5], &Limits::default()), Ok(Lenient(5)));
    match decode::<Lenient>(&[0x85], &Limits::default()) {
        Err(ProtocolError::Malformed { detail, .. }) => {
            assert!(detail.contains("non-canonical"), "{detail}");
            assert!(detail.contains("byte 0"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let limits = Limits {
        max_frame_bytes: 16,
    };
    // 17 bytes that would not even parse: the size check comes first.
    let bytes = [0xffu8; 17];
    assert_eq!(
        decode::<Message>(&bytes, &limits),
        Err(ProtocolError::TooLarge {
            what: std::any::type_name::<Message>(),
            len: 17,
            limit: 16
        })
    );
    assert!(matches!(
        decode_frame(&vec![0u8; MAX_FRAME_BYTES + 1], &Limits::default()),
        Err(ProtocolError::TooLarge { len, limit: MAX_FRAME_BYTES, .. }) if len == MAX_FRAME_BYTES + 1
    ));
}

#[test]
fn encode_refuses_output_over_the_limit() {
    let limits = Limits {
        max_frame_bytes: 10,
    };
    assert_eq!(encode_with(&vec![0u8; 6], &limits).unwrap().len(), 10);
    assert!(matches!(
        encode_with(&vec![0u8; 7], &limits),
        Err(ProtocolError::TooLarge { limit: 10, .. })
    ));
    assert!(matches!(
        encode(&vec![0u8; MAX_FRAME_BYTES]),
        Err(ProtocolError::TooLarge { .. })
    ));
}

#[test]
fn huge_length_prefixes_fail_fast() {
    // Tiny frames claiming 2^32 - 1 elements. borsh 1 caps preallocation (4 KiB for Vec<T>,
    // 1 MiB for Vec<u8>) and grows only as data arrives, so these fail on the missing data.
    // The allocation bound itself is checked in `protocol/tests/alloc_bomb.rs`.
    let start = Instant::now();
    let limits = Limits::default();
    let claim = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    assert!(is_malformed(decode::<Vec<u64>>(&claim, &limits)));
    assert!(is_malformed(decode::<Vec<u8>>(&claim, &limits)));
    assert!(is_malformed(decode::<Vec<Vec<u8>>>(&claim, &limits)));
    assert!(is_malformed(decode::<String>(&claim, &limits)));
    assert!(is_malformed(decode::<BTreeMap<u64, u64>>(&claim, &limits)));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn bounded_vec_refuses_counts_over_its_cap() {
    let limits = Limits::default();
    let three = BoundedVec::<u8, 3>::new(vec![1, 2, 3]).unwrap();
    let bytes = encode(&three).unwrap();
    assert_eq!(bytes, encode(&vec![1u8, 2, 3]).unwrap());
    assert_eq!(decode::<BoundedVec<u8, 3>>(&bytes, &limits), Ok(three));
    assert!(is_malformed(decode::<BoundedVec<u8, 2>>(&bytes, &limits)));
    assert!(matches!(
        BoundedVec::<u8, 2>::new(vec![0; 3]),
        Err(ProtocolError::TooLarge {
            len: 3,
            limit: 2,
            ..
        })
    ));
    match decode::<BoundedVec<u64, 8>>(&[0xff, 0xff, 0xff, 0xff], &limits) {
        Err(ProtocolError::Malformed { detail, .. }) => {
            assert!(detail.contains("exceeds its cap of 8"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn frame_layout_and_version_and_kind() {
    let limits = Limits::default();
    let bytes = encode_frame(&Other(0xab)).unwrap();
    // version u16 LE, kind u16 LE, body length u32 LE, body.
    assert_eq!(bytes, [1, 0, 8, 0, 1, 0, 0, 0, 0xab]);
    let frame = decode_frame(&bytes, &limits).unwrap();
    assert_eq!(frame.kind, Other::KIND);
    assert_eq!(frame.open::<Other>(&limits), Ok(Other(0xab)));
    assert_eq!(
        frame.open::<Message>(&limits),
        Err(ProtocolError::Unsupported {
            what: "frame kind",
            value: 8
        })
    );

    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(
        decode_frame(&v2, &limits),
        Err(ProtocolError::Unsupported {
            what: "protocol version",
            value: 2
        })
    );

    let mut padded = bytes;
    padded[4] = 2;
    padded.push(0);
    // The body itself has a trailing byte: refused when opened.
    let frame = decode_frame(&padded, &limits).unwrap();
    assert!(is_malformed(frame.open::<Other>(&limits)));
}
