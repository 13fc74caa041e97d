//! The node's key files: its ed25519 node key (its network identity, a [`NodeId`]) and its
//! EVM key (the secp256k1 account that holds its stake).
//!
//! Formats (one line each, lower-case hex, a trailing newline):
//! - `node.key`: the 32-byte ed25519 secret seed, 64 hex digits;
//! - `evm.key`: `0x` and the 32-byte secp256k1 secret, the format `pinpoint chain deploy --key`
//!   and [`pinpoint_chain::read_key_file`] read.
//!
//! [`generate`] writes both into a directory with mode 0600 (the directory 0700), refusing
//! to overwrite either file; [`load_node_key`] and [`load_evm_key`] check the permissions (no
//! access for group or others) and the format, with errors that name the file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use pinpoint_chain::{Address, B256, PrivateKeySigner};
use pinpoint_protocol::id::{NodeId, NodeKey};

/// File name of the node key in a key directory.
pub const NODE_KEY_FILE: &str = "node.key";
/// File name of the EVM key in a key directory.
pub const EVM_KEY_FILE: &str = "evm.key";
/// Mode of key files.
pub const KEY_FILE_MODE: u32 = 0o600;

/// A key file problem; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// [`generate`] found a key already there.
    #[error("{path} already exists: refusing to overwrite a key (move it away first)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Group or others may access the file.
    #[error(
        "{path} has permissions {mode:03o}: a key file must be readable by its owner only (chmod 600 {path})"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The content is not a key of the expected kind.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The OS random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Random(String),
}

impl KeyError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    fn format(path: &Path, problem: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// A node's two keys.
#[derive(Debug, Clone)]
pub struct NodeKeys {
    /// The ed25519 network identity.
    pub node: NodeKey,
    /// The EVM account key.
    pub evm: PrivateKeySigner,
}

impl NodeKeys {
    /// The node's network identity.
    pub fn node_id(&self) -> NodeId {
        self.node.node_id()
    }
    /// The EVM account's address.
    pub fn evm_address(&self) -> Address {
        self.evm.address()
    }
}

/// The two key files of a key directory.
pub fn key_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(NODE_KEY_FILE), dir.join(EVM_KEY_FILE))
}

fn random32() -> Result<[u8; 32], KeyError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex32(path: &Path, text: &str, what: &str) -> Result<[u8; 32], KeyError> {
    let bad = || KeyError::format(path, format!("does not hold {what} (64 hex digits)"));
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Creates `dir` (0700) if needed and writes a fresh node key and EVM key with mode 0600.
/// Refuses, writing nothing, if either file exists.
pub fn generate(dir: &Path) -> Result<NodeKeys, KeyError> {
    let (node_path, evm_path) = key_paths(dir);
    for p in [&node_path, &evm_path] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: p.clone() });
        }
    }
    create_private_dir(dir)?;
    let seed = random32()?;
    let node = NodeKey::from_seed(seed);
    let evm = loop {
        // A uniformly random 32-byte string is a valid secp256k1 secret but with
        // probability ~2⁻¹²⁸; draw again in that case.
        if let Ok(k) = PrivateKeySigner::from_bytes(&B256::from(random32()?)) {
            break k;
        }
    };
    write_new(&node_path, &format!("{}\n", hex(&seed)))?;
    if let Err(e) = write_new(
        &evm_path,
        &format!("0x{}\n", hex(evm.to_bytes().as_slice())),
    ) {
        let _ = fs::remove_file(&node_path);
        return Err(e);
    }
    Ok(NodeKeys { node, evm })
}

fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(KeyError::io(dir))
}

/// Writes `text` to a new file with mode 0600 and fsyncs it; never replaces a file.
fn write_new(path: &Path, text: &str) -> Result<(), KeyError> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, KEY_FILE_MODE);
    let mut f = o.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            KeyError::io(path)(e)
        }
    })?;
    f.write_all(text.as_bytes()).map_err(KeyError::io(path))?;
    f.sync_all().map_err(KeyError::io(path))
}

/// Reads a key file after checking that only its owner may access it.
fn read_private(path: &Path) -> Result<String, KeyError> {
    let meta = fs::metadata(path).map_err(KeyError::io(path))?;
    if !meta.is_file() {
        return Err(KeyError::format(path, "is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let text = fs::read_to_string(path).map_err(KeyError::io(path))?;
    Ok(text.trim().to_string())
}

/// Loads a node key file (see the module docs).
pub fn load_node_key(path: &Path) -> Result<NodeKey, KeyError> {
    Ok(NodeKey::from_seed(load_node_seed(path)?))
}

/// Loads a node key file's ed25519 seed (the QUIC identity's certificate is made from it).
pub fn load_node_seed(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = read_private(path)?;
    if text.starts_with("0x") {
        return Err(KeyError::format(
            path,
            "looks like an EVM key (0x…); the node key is 64 hex digits without 0x (node.key)",
        ));
    }
    unhex32(path, &text, "an ed25519 node key")
}

/// Loads an EVM key file (see the module docs).
pub fn load_evm_key(path: &Path) -> Result<PrivateKeySigner, KeyError> {
    let text = read_private(path)?;
    let Some(digits) = text.strip_prefix("0x") else {
        return Err(KeyError::format(
            path,
            "does not start with 0x: not an EVM key (is it the node key?)",
        ));
    };
    let bytes = unhex32(path, digits, "a secp256k1 key")?;
    PrivateKeySigner::from_bytes(&B256::from(bytes))
        .map_err(|_| KeyError::format(path, "is not a valid secp256k1 secret key"))
}

/// Loads both keys of a key directory.
pub fn load(dir: &Path) -> Result<NodeKeys, KeyError> {
    let (node_path, evm_path) = key_paths(dir);
    Ok(NodeKeys {
        node: load_node_key(&node_path)?,
        evm: load_evm_key(&evm_path)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn generate_load_refuse_overwrite() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("keys");
        let keys = generate(&dir).expect("generate");
        let loaded = load(&dir).expect("load");
        assert_eq!(loaded.node_id(), keys.node_id());
        assert_eq!(loaded.evm_address(), keys.evm_address());
        let (node_path, evm_path) = key_paths(&dir);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [&node_path, &evm_path] {
                let mode = fs::metadata(p).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, KEY_FILE_MODE, "{}", p.display());
            }
        }
        // The chain crate reads the same EVM key file.
        let chain = pinpoint_chain::read_key_file(&evm_path).expect("chain reads it");
        assert_eq!(chain.address(), keys.evm_address());
        let before = fs::read(&node_path).expect("read");
        assert!(matches!(generate(&dir), Err(KeyError::Exists { .. })));
        assert_eq!(fs::read(&node_path).expect("read"), before);
    }

    #[cfg(unix)]
    #[test]
    fn loading_checks_permissions_and_format() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        generate(dir).expect("generate");
        let (node_path, evm_path) = key_paths(dir);
        chmod(&node_path, 0o644);
        let e = load_node_key(&node_path).expect_err("world readable");
        assert!(
            matches!(e, KeyError::Permissions { mode: 0o644, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("chmod 600"), "{e}");
        chmod(&node_path, 0o600);
        // Swapped files are told apart.
        let e = load_node_key(&evm_path).expect_err("an EVM key");
        assert!(e.to_string().contains("EVM key"), "{e}");
        let e = load_evm_key(&node_path).expect_err("a node key");
        assert!(e.to_string().contains("0x"), "{e}");
        let bad = dir.join("bad.key");
        write_new(&bad, "xyz\n").expect("write");
        let e = load_node_key(&bad).expect_err("garbage");
        assert!(matches!(e, KeyError::Format { .. }), "{e}");
        assert!(e.to_string().contains("bad.key"), "{e}");
        let zero = dir.join("zero.key");
        write_new(&zero, &format!("0x{}\n", "0".repeat(64))).expect("write");
        assert!(matches!(load_evm_key(&zero), Err(KeyError::Format { .. })));
        let missing = load_node_key(&dir.join("none.key")).expect_err("missing");
        assert!(matches!(missing, KeyError::Io { .. }), "{missing}");
    }
}
