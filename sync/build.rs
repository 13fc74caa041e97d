//! Declares the `loom` cfg (check-cfg) so `--cfg loom` builds are not "unexpected cfg".

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
