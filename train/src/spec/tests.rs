//! Tests of the spec: TOML parsing, validation errors, canonical encoding and hash.

use super::*;

const ADDITION: &str = include_str!("../../../examples/addition.toml");
const MLP: &str = include_str!("../../../examples/mlp.toml");

fn parse(s: &str) -> Result<LoadedSpec, SpecError> {
    LoadedSpec::from_toml_str(s)
}

fn invalid_field(s: &str) -> String {
    match parse(s) {
        Err(SpecError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

fn toml_message(s: &str) -> String {
    match parse(s) {
        Err(SpecError::Toml(m)) => m,
        other => panic!("expected a TOML error, got {other:?}"),
    }
}

#[test]
fn examples_parse_and_build_their_datasets() {
    for text in [ADDITION, MLP] {
        let loaded = parse(text).unwrap();
        assert_eq!(loaded.text_path, None);
        let spec = &loaded.spec;
        let ds = spec.dataset(None).unwrap();
        ds.batch(spec.seed, crate::data::Split::Train, 0, 4)
            .unwrap();
        assert_eq!(
            spec.hash().unwrap(),
            parse(text).unwrap().spec.hash().unwrap()
        );
    }
    let add = parse(ADDITION).unwrap().spec;
    assert!(matches!(add.optimizer, OptimizerSpec::AdamW { .. }));
    assert_eq!(add.schedule.warmup_steps, 0);
    let mlp = parse(MLP).unwrap().spec;
    assert_eq!(mlp.schedule.warmup_steps, 0);
    assert_ne!(add.hash().unwrap(), mlp.hash().unwrap());
}

const SMALL: &str = r#"
seed = 42
steps = 10
checkpoint_every = 5
batch_size = 8
[model]
kind = "transformer"
vocab = 15
context = 11
layers = 1
width = 16
heads = 2
mlp_ratio = 2
[data]
kind = "addition"
digits = 3
[optimizer]
kind = "adamw"
lr = 1e-3
beta1 = 0.9
beta2 = 0.999
eps = 1e-8
weight_decay = 0.0
[eval]
every = 5
batches = 1
batch_size = 16
"#;

#[test]
fn hash_is_pinned() {
    let spec = parse(SMALL).unwrap().spec;
    let bytes = spec.encode().unwrap();
    // seed, steps, k (u64), batch (u32), model tag 1 + 6 u32, data tag 0 + u32, optimizer
    // tag 1 + 5 f32, warmup u64, eval u64 + 2 u32.
    assert_eq!(bytes.len(), 8 * 3 + 4 + 1 + 24 + 1 + 4 + 1 + 20 + 8 + 16);
    assert_eq!(&bytes[..8], &42u64.to_le_bytes());
    assert_eq!(
        spec.hash().unwrap().to_hex(),
        "bb4f573f647ae2a50095078ef1c60405b2a78ae00d185434b8b89aa6c30b5ee3"
    );
}

#[test]
fn toml_round_trip() {
    for text in [ADDITION, MLP, SMALL] {
        let a = parse(text).unwrap();
        let b = parse(&a.to_toml().unwrap()).unwrap();
        assert_eq!(a, b);
    }
    let text = r#"
seed = 1
steps = 10
checkpoint_every = 10
batch_size = 4
[model]
kind = "transformer"
vocab = 299
context = 8
layers = 1
width = 8
heads = 1
mlp_ratio = 1
[data]
kind = "text"
path = "corpus.txt"
blake3 = "AF1349B9F5F9A1A6A0404DEA36DCC9499BCB25C9ADC112B7CC9A93CAE41F3262"
[optimizer]
kind = "sgd"
lr = 1
momentum = 0
weight_decay = -0.0
[eval]
every = 10
batches = 1
batch_size = 1
"#;
    let a = parse(text).unwrap();
    assert_eq!(a.text_path.as_deref(), Some("corpus.txt"));
    assert_eq!(a, parse(&a.to_toml().unwrap()).unwrap());
    let OptimizerSpec::Sgd { weight_decay, .. } = a.spec.optimizer else {
        panic!()
    };
    assert_eq!(weight_decay.to_bits(), 0, "-0 is normalized");
    // Text data: only the content hash is in the spec; bytes must match it.
    assert!(a.spec.dataset(None).is_err());
    assert!(matches!(
        a.spec.dataset(Some(b"not empty")),
        Err(DataError::TextHashMismatch { .. })
    ));
    // The path is not part of the hash.
    let moved = parse(&text.replace("corpus.txt", "elsewhere/c.txt")).unwrap();
    assert_eq!(moved.spec.hash().unwrap(), a.spec.hash().unwrap());
}

#[test]
fn malformed_specs_name_the_problem() {
    let m = toml_message(&SMALL.replace("lr = 1e-3\n", ""));
    assert!(m.contains("missing field `lr`"), "{m}");
    let m = toml_message(&SMALL.replace("heads = 2", "heads = 2\nattention = 3"));
    assert!(m.contains("unknown field `attention`"), "{m}");
    let m = toml_message(&SMALL.replace("seed = 42", "seed = 42\ncolour = 1"));
    assert!(m.contains("unknown field `colour`"), "{m}");
    let m = toml_message(&SMALL.replace("kind = \"addition\"", "kind = \"chess\""));
    assert!(m.contains("chess"), "{m}");
    let m = toml_message(&SMALL.replace("steps = 10", "steps = ten"));
    assert!(m.contains("line 3"), "{m}");
    let m = toml_message(&SMALL.replace("steps = 10", "steps = -1"));
    assert!(m.contains("steps") || m.contains("line 3"), "{m}");
    let m = toml_message("seed = [");
    assert!(m.contains("line 1"), "{m}");

    assert_eq!(
        invalid_field(&SMALL.replace("heads = 2", "heads = 3")),
        "model.heads"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("lr = 1e-3", "lr = 0")),
        "optimizer.lr"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("lr = 1e-3", "lr = 1e300")),
        "optimizer.lr"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("lr = 1e-3", "lr = nan")),
        "optimizer.lr"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("beta2 = 0.999", "beta2 = 1.0")),
        "optimizer.beta2"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("steps = 10", "steps = 0")),
        "steps"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("checkpoint_every = 5", "checkpoint_every = 11")),
        "checkpoint_every"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("digits = 3", "digits = 1")),
        "data.digits"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("vocab = 15", "vocab = 10")),
        "model.vocab"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("context = 11", "context = 10")),
        "model.context"
    );
    assert_eq!(
        invalid_field(&SMALL.replace("\nevery = 5", "\nevery = 0")),
        "eval.every"
    );
    let err = parse(&SMALL.replace("heads = 2", "heads = 3")).unwrap_err();
    assert!(err.to_string().contains("model.heads"), "{err}");
    assert!(err.to_string().contains("not a multiple"), "{err}");
    // A model that does not fit the data.
    assert_eq!(
        invalid_field(&MLP.replace("classes = 3\nturns", "classes = 4\nturns")),
        "model.classes"
    );
    assert_eq!(
        invalid_field(&MLP.replace("input = 2", "input = 3")),
        "model.input"
    );
    let spirals_on_transformer = SMALL.replace(
        "kind = \"addition\"\ndigits = 3",
        "kind = \"spirals\"\nclasses = 3\nturns = 1.0\nnoise = 0.1",
    );
    assert_eq!(invalid_field(&spirals_on_transformer), "data.kind");
}

#[test]
fn canonical_decoding() {
    let spec = parse(SMALL).unwrap().spec;
    let bytes = spec.encode().unwrap();
    assert_eq!(JobSpec::decode(&bytes).unwrap(), spec);
    // Trailing bytes.
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(JobSpec::decode(&long), Err(SpecError::Decode(_))));
    // Truncated.
    assert!(matches!(
        JobSpec::decode(&bytes[..bytes.len() - 1]),
        Err(SpecError::Decode(_))
    ));
    // A model tag that does not exist.
    let mut bad = bytes.clone();
    bad[28] = 7;
    assert!(matches!(JobSpec::decode(&bad), Err(SpecError::Decode(_))));
    // lr as -0.0: decodes, but is not canonical.
    let lr_at = 28 + 1 + 24 + 1 + 4 + 1;
    assert_eq!(&bytes[lr_at..lr_at + 4], &1e-3f32.to_bits().to_le_bytes());
    let mut neg = bytes.clone();
    neg[lr_at..lr_at + 4].copy_from_slice(&(-0.0f32).to_bits().to_le_bytes());
    assert!(JobSpec::decode(&neg).is_err());
    // NaN and out-of-range values.
    let mut nan = bytes.clone();
    nan[lr_at..lr_at + 4].copy_from_slice(&f32::NAN.to_bits().to_le_bytes());
    assert!(JobSpec::decode(&nan).is_err());
    let mut zero_steps = bytes.clone();
    zero_steps[8..16].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(
        JobSpec::decode(&zero_steps),
        Err(SpecError::Invalid { field, .. }) if field == "steps"
    ));
    // Hand-built invalid specs cannot be hashed.
    let mut hand = spec.clone();
    hand.batch_size = 0;
    assert!(hand.hash().is_err());
}
