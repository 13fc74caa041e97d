//! Build script of the `pinpoint-train` package: with the `tch` feature (the libtorch baseline), adds
//! libtorch's library directory to the rpath of every linked target, so the benches and tests
//! run without `LD_LIBRARY_PATH`. Without the feature it does nothing.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() {
        return;
    }
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
