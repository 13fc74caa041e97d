//! Feeds arbitrary bytes to the decoder of every wire message, bare and signed. Nothing may
//! panic; whatever decodes must re-encode to the input, and verifying a decoded signed
//! message must return (an error is fine), never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinpoint_protocol::codec::{Limits, decode, decode_message, encode};
use pinpoint_protocol::wire::{Message, SignedMessage, verify_message};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(msg) = decode::<Message>(data, &limits) {
        assert_eq!(encode(&msg).expect("re-encodes"), data);
    }
    if let Ok(signed) = decode::<SignedMessage>(data, &limits) {
        assert_eq!(encode(&signed).expect("re-encodes"), data);
        let _ = verify_message(&signed);
    }
    let _ = decode_message::<SignedMessage>(data, &limits);
});
