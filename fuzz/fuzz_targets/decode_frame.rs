//! Feeds arbitrary bytes to the canonical decoder: as a frame, as a sample message, and as a
//! framed sample message. Nothing may panic, and whatever decodes must re-encode to the input.
#![no_main]

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use libfuzzer_sys::fuzz_target;
use pinpoint_protocol::codec::{
    BoundedVec, Frame, Limits, WireMessage, decode, decode_frame, encode,
};

#[derive(Debug, BorshSerialize, BorshDeserialize)]
struct Sample {
    job: [u8; 32],
    round: u32,
    seq: u64,
    flag: bool,
    note: Option<String>,
    body: Body,
    proof: BoundedVec<[u8; 32], 64>,
}

#[derive(Debug, BorshSerialize, BorshDeserialize)]
enum Body {
    Empty,
    Bytes(Vec<u8>),
    Hashes(Vec<[u8; 32]>),
    Map(BTreeMap<u32, Vec<u8>>),
    Nested(Option<Inner>),
}

#[derive(Debug, BorshSerialize, BorshDeserialize)]
enum Inner {
    Flag(bool),
    Text(String),
}

impl WireMessage for Sample {
    const KIND: u16 = 1;
}

fn check_canonical<T: BorshSerialize>(value: &T, input: &[u8]) {
    let again = encode(value).expect("a decoded value re-encodes");
    assert_eq!(again, input, "decode accepted a non-canonical encoding");
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(frame) = decode_frame(data, &limits) {
        check_canonical(&frame, data);
        if let Ok(msg) = frame.open::<Sample>(&limits) {
            check_canonical(&msg, &frame.body);
        }
    }
    if let Ok(msg) = decode::<Sample>(data, &limits) {
        check_canonical(&msg, data);
    }
    if let Ok(frame) = decode::<Frame>(data, &limits) {
        check_canonical(&frame, data);
    }
});
