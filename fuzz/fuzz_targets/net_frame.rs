//! Feeds arbitrary bytes to pinpoint-net's stream decoders: a length-prefixed frame (as a
//! request or one-way message arrives) and a reply body. Nothing may panic, and whatever
//! decodes must re-encode to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinpoint_net::framing::{StreamKind, decode_prefixed, decode_reply, encode_frame, encode_reply};

/// A small limit so that the fuzzer also reaches the size checks.
const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_prefixed(data, LIMIT) {
        let again = encode_frame(&frame, LIMIT).expect("a decoded frame re-encodes");
        assert_eq!(again, data, "decode_prefixed accepted a non-canonical frame");
    }
    if let Ok(reply) = decode_reply(data, LIMIT) {
        let again = encode_reply(&reply, LIMIT).expect("a decoded reply re-encodes");
        assert_eq!(&again[4..], data, "decode_reply accepted a non-canonical reply");
    }
    if let Some((&tag, _)) = data.split_first() {
        let _ = StreamKind::from_byte(tag);
    }
});
