//! The fixed character vocabulary shared by every token dataset, with a byte-level fallback.
//!
//! | ids | tokens |
//! |---|---|
//! | 0, 1, 2 | `<pad>`, `<bos>`, `<eos>` |
//! | 3 ..= 12 | `'0'` ..= `'9'` |
//! | 13, 14 | `'+'`, `'='` |
//! | 15 ..= 40 | `'a'` ..= `'z'` |
//! | 41, 42 | `' '`, `'\n'` |
//! | 43 ..= 298 | byte `b` as `43 + b`, for every byte not in the rows above |
//!
//! Encoding is per byte: a byte with a row of its own gets that id, any other byte its
//! fallback id. So the arithmetic tasks need only ids `0..15`, the letter tasks `0..41`, and
//! arbitrary text the whole [`VOCAB_SIZE`].

/// Padding.
pub const PAD: u32 = 0;
/// Beginning of sequence.
pub const BOS: u32 = 1;
/// End of sequence.
pub const EOS: u32 = 2;
/// The digit `'0'`; digit `d` is `DIGIT0 + d`.
pub const DIGIT0: u32 = 3;
/// `'+'`.
pub const PLUS: u32 = 13;
/// `'='`.
pub const EQUALS: u32 = 14;
/// The letter `'a'`; letter `k` (0-based) is `LETTER_A + k`.
pub const LETTER_A: u32 = 15;
/// `' '`.
pub const SPACE: u32 = 41;
/// `'\n'`.
pub const NEWLINE: u32 = 42;
/// First fallback id: byte `b` without a row of its own is `BYTE_BASE + b`.
pub const BYTE_BASE: u32 = 43;
/// Number of ids.
pub const VOCAB_SIZE: u32 = BYTE_BASE + 256;

/// Ids used by digit-only tasks (`<pad>` … `'='`).
pub const ARITH_VOCAB: u32 = EQUALS + 1;
/// Ids used by letter tasks (`<pad>` … `'z'`).
pub const LETTER_VOCAB: u32 = LETTER_A + 26;

/// The id of an ASCII character with a row of its own, if any.
pub fn char_id(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(DIGIT0 + u32::from(b - b'0')),
        b'+' => Some(PLUS),
        b'=' => Some(EQUALS),
        b'a'..=b'z' => Some(LETTER_A + u32::from(b - b'a')),
        b' ' => Some(SPACE),
        b'\n' => Some(NEWLINE),
        _ => None,
    }
}

/// The token of one byte: its own row, else the fallback `BYTE_BASE + b`.
pub fn byte_token(b: u8) -> u32 {
    char_id(b).unwrap_or(BYTE_BASE + u32::from(b))
}

/// Encodes bytes one token per byte.
pub fn encode(bytes: &[u8]) -> Vec<u32> {
    bytes.iter().map(|&b| byte_token(b)).collect()
}

/// The byte a token stands for; `None` for the special tokens, for ids `≥ VOCAB_SIZE`, and for
/// fallback ids of bytes that have a row of their own (never produced by [`encode`]).
pub fn token_byte(id: u32) -> Option<u8> {
    match id {
        0..=2 => None,
        3..=12 => Some(b'0' + (id - DIGIT0) as u8),
        PLUS => Some(b'+'),
        EQUALS => Some(b'='),
        15..=40 => Some(b'a' + (id - LETTER_A) as u8),
        SPACE => Some(b' '),
        NEWLINE => Some(b'\n'),
        _ if id < VOCAB_SIZE => {
            let b = (id - BYTE_BASE) as u8;
            if char_id(b).is_some() { None } else { Some(b) }
        }
        _ => None,
    }
}

/// Decodes tokens to bytes; `None` if any token is special or invalid.
pub fn decode(ids: &[u32]) -> Option<Vec<u8>> {
    ids.iter().map(|&id| token_byte(id)).collect()
}

/// A readable rendering for logs and tests: bytes as characters (lossy UTF-8), specials as
/// `<pad>`, `<bos>`, `<eos>`, anything else as `<id N>`.
pub fn render(ids: &[u32]) -> String {
    let mut out = String::new();
    let mut bytes = Vec::new();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| {
        out.push_str(&String::from_utf8_lossy(bytes));
        bytes.clear();
    };
    for &id in ids {
        match (id, token_byte(id)) {
            (_, Some(b)) => bytes.push(b),
            (PAD, None) | (BOS, None) | (EOS, None) => {
                flush(&mut bytes, &mut out);
                out.push_str(["<pad>", "<bos>", "<eos>"][id as usize]);
            }
            (other, None) => {
                flush(&mut bytes, &mut out);
                out.push_str(&format!("<id {other}>"));
            }
        }
    }
    flush(&mut bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ids() {
        assert_eq!(encode(b"09+=az \n"), vec![3, 12, 13, 14, 15, 40, 41, 42]);
        assert_eq!(byte_token(b'A'), BYTE_BASE + 65);
        assert_eq!(byte_token(0xff), VOCAB_SIZE - 1);
        assert_eq!(VOCAB_SIZE, 299);
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let ids = encode(&all);
        assert!(ids.iter().all(|&i| i < VOCAB_SIZE));
        assert_eq!(decode(&ids), Some(all));
        assert_eq!(decode(&[PAD]), None);
        assert_eq!(decode(&[BYTE_BASE + u32::from(b'7')]), None);
        assert_eq!(render(&[DIGIT0 + 1, PLUS, EOS, 999]), "1+<eos><id 999>");
    }
}
