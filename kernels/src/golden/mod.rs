//! The golden suite: a fixed list of op invocations on Philox-generated inputs whose output
//! hashes are committed in `kernels/tests/golden/hashes.txt`.
//!
//! Any backend, thread count or instruction set must reproduce every hash. A changed hash
//! means an op's evaluation order changed — which changes the network's bits and must be a
//! deliberate, documented decision (docs/numerics.md §9).
//!
//! Call order: [`run`] computes every row for a [`Cpu`]; [`expected`] parses the committed
//! hashes; [`compare`] joins the two into [`Check`]s. The `pinpoint kernels selftest`
//! command and the integration tests are thin layers over these three.

use std::collections::BTreeMap;

use crate::cpu::Cpu;
use crate::error::{KernelError, Result};
use crate::rng::Philox;
use crate::tensor::{Tensor, TensorHash};

mod cases;

/// The committed expected hashes (`name shape hash` per line).
pub const EXPECTED_HASHES: &str = include_str!("../../tests/golden/hashes.txt");

/// Seed of every golden input.
pub const GOLDEN_SEED: u64 = 0x7069_6e70_6f69_6e74; // "pinpoint"

/// One output of one golden invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `case` or `case/output`.
    pub name: String,
    /// Shape of the output, e.g. `[257,1023]`.
    pub shape: String,
    /// Canonical hash of the output.
    pub hash: TensorHash,
}

/// A computed row set against the committed one.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The row computed here (`None` when a committed row was not produced).
    pub row: Row,
    /// The committed hash, if the row is known.
    pub expected: Option<TensorHash>,
}

impl Check {
    /// True when the computed hash equals the committed one.
    pub fn ok(&self) -> bool {
        self.expected == Some(self.row.hash)
    }
}

/// Inputs for golden cases: deterministic, from [`GOLDEN_SEED`], one stream per input.
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    rng: Philox,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            rng: Philox::from_seed(GOLDEN_SEED),
        }
    }
}

impl Inputs {
    /// Uniform values in `[lo, hi)` (depends on Philox and `fma` only).
    pub fn uniform(&self, stream: u64, shape: &[usize], lo: f32, hi: f32) -> Tensor {
        self.rng.uniform_tensor(stream, shape, lo, hi)
    }

    /// Standard normal values scaled by `std` (depends on the RepOps `ln`, `sqrt`, `sin`, `cos`).
    pub fn normal(&self, stream: u64, shape: &[usize], std: f32) -> Tensor {
        self.rng.normal_tensor(stream, shape, 0.0, std)
    }

    /// `n` integer ids in `0..bound` (top bits of Philox words; `bound` ≥ 1).
    pub fn ids(&self, stream: u64, n: usize, bound: u32) -> Vec<u32> {
        let mut out = Vec::with_capacity(n);
        let mut g = 0u64;
        while out.len() < n {
            for w in self.rng.block_at(stream, g) {
                if out.len() < n {
                    out.push(((u64::from(w) * u64::from(bound.max(1))) >> 32) as u32);
                }
            }
            g += 1;
        }
        out
    }
}

/// Named outputs of one golden invocation (`""` names a case's single output).
pub type Outputs = Vec<(&'static str, Tensor)>;

/// A named golden invocation producing one or more named outputs.
pub struct Case {
    /// Unique name, e.g. `gemm.nn.257x255x1023`.
    pub name: &'static str,
    /// Computes the outputs.
    pub run: fn(&Cpu, &Inputs) -> Result<Outputs>,
}

/// Every golden case, in a fixed order.
pub fn cases() -> Vec<Case> {
    cases::all()
}

fn shape_string(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(","))
}

/// Runs every case on `cx` and returns its rows in order. `progress` is called after each
/// case with (done, total).
pub fn run(cx: &Cpu, mut progress: impl FnMut(usize, usize)) -> Result<Vec<Row>> {
    let inputs = Inputs::default();
    let all = cases();
    let total = all.len();
    let mut rows = Vec::new();
    for (i, case) in all.iter().enumerate() {
        let outputs = (case.run)(cx, &inputs)?;
        for (out_name, t) in outputs {
            let name = if out_name.is_empty() {
                case.name.to_string()
            } else {
                format!("{}/{}", case.name, out_name)
            };
            rows.push(Row {
                name,
                shape: shape_string(t.shape()),
                hash: t.hash(),
            });
        }
        progress(i + 1, total);
    }
    Ok(rows)
}

/// Parses a hashes file: `name shape hash` per line; blank lines and `#` comments ignored.
pub fn parse(text: &str) -> Result<BTreeMap<String, (String, TensorHash)>> {
    let mut map = BTreeMap::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |detail: String| KernelError::InvalidArgument {
            op: "golden::parse",
            detail: format!("line {}: {detail}", lineno + 1),
        };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name, shape, hash] = parts[..] else {
            return Err(bad(format!("expected `name shape hash`, got {line:?}")));
        };
        let hash = TensorHash::from_hex(hash).ok_or_else(|| bad(format!("bad hash {hash:?}")))?;
        if map
            .insert(name.to_string(), (shape.to_string(), hash))
            .is_some()
        {
            return Err(bad(format!("duplicate row {name}")));
        }
    }
    Ok(map)
}

/// The committed expected hashes.
pub fn expected() -> Result<BTreeMap<String, (String, TensorHash)>> {
    parse(EXPECTED_HASHES)
}

/// Joins computed rows with the committed ones. Committed rows that were not computed come
/// back as failed checks with a zero hash, so a silently dropped case cannot pass.
pub fn compare(rows: &[Row], expected: &BTreeMap<String, (String, TensorHash)>) -> Vec<Check> {
    let mut seen = std::collections::BTreeSet::new();
    let mut checks: Vec<Check> = rows
        .iter()
        .map(|row| {
            seen.insert(row.name.clone());
            let expected = expected
                .get(&row.name)
                .filter(|(shape, _)| *shape == row.shape)
                .map(|(_, h)| *h);
            Check {
                row: row.clone(),
                expected,
            }
        })
        .collect();
    for (name, (shape, hash)) in expected {
        if !seen.contains(name) {
            checks.push(Check {
                row: Row {
                    name: name.clone(),
                    shape: shape.clone(),
                    hash: TensorHash([0; 32]),
                },
                expected: Some(*hash),
            });
        }
    }
    checks
}

/// Renders rows in the hashes-file format, with a header comment.
pub fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "# pinpoint golden hashes: `name shape blake3-tensor-hash`.\n\
         # Generated by `PINPOINT_BLESS=1 cargo test -p pinpoint-kernels --test it golden`.\n\
         # A change here is a change of the network's numerics: see docs/numerics.md §9.\n",
    );
    for r in rows {
        s.push_str(&format!("{} {} {}\n", r.name, r.shape, r.hash));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_garbage() {
        assert!(parse("a [1] zz").is_err());
        assert!(parse("a [1]").is_err());
        let h = Tensor::scalar(1.0).hash();
        let dup = format!("a [] {h}\na [] {h}\n");
        assert!(parse(&dup).is_err());
        let ok = format!("# c\n\na [] {h}\n");
        assert_eq!(parse(&ok).unwrap().len(), 1);
    }

    #[test]
    fn missing_rows_fail() {
        let h = Tensor::scalar(1.0).hash();
        let exp = parse(&format!("a [] {h}\nb [] {h}\n")).unwrap();
        let rows = vec![Row {
            name: "a".into(),
            shape: "[]".into(),
            hash: h,
        }];
        let checks = compare(&rows, &exp);
        assert_eq!(checks.len(), 2);
        assert!(checks[0].ok());
        assert!(!checks[1].ok());
    }

    #[test]
    fn ids_are_in_range() {
        let ids = Inputs::default().ids(9, 1000, 7);
        assert!(ids.iter().all(|&i| i < 7));
        assert!((0..7).all(|v| ids.contains(&v)));
    }
}
