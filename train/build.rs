//! Build script of the `pinpoint-train` package, for the speed baselines of the benches (both
//! features off by default; without them it does nothing):
//! - `tch` (libtorch): adds libtorch's library directory to the rpath of every linked target,
//!   so the benches and tests run without `LD_LIBRARY_PATH`;
//! - `openblas`: adds `PINPOINT_OPENBLAS_LIB` (the directory holding `libscipy_openblas.so`,
//!   set by `scripts/bench-torch`) to the link search path and the rpath.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=PINPOINT_OPENBLAS_LIB");
    if std::env::var_os("CARGO_FEATURE_TCH").is_some()
        && let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB")
    {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    if std::env::var_os("CARGO_FEATURE_OPENBLAS").is_some() {
        let Some(lib) = std::env::var_os("PINPOINT_OPENBLAS_LIB") else {
            println!(
                "cargo::error=the `openblas` feature needs PINPOINT_OPENBLAS_LIB, the directory \
                 of libscipy_openblas.so (scripts/bench-torch installs the pinned \
                 scipy-openblas32 wheel and sets it)"
            );
            return;
        };
        let lib = std::path::PathBuf::from(lib);
        if !lib.join("libscipy_openblas.so").is_file() {
            println!(
                "cargo::error=PINPOINT_OPENBLAS_LIB={} has no libscipy_openblas.so",
                lib.display()
            );
            return;
        }
        let lib = lib.display();
        println!("cargo:rustc-link-search=native={lib}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
