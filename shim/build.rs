//! Builds the C entry points for the variadic libc functions (stable Rust cannot define
//! C-variadic functions).
fn main() {
    println!("cargo:rerun-if-changed=src/variadic.c");
    cc::Build::new().file("src/variadic.c").flag("-fvisibility=hidden").opt_level(2).compile("mfs_variadic");
}
