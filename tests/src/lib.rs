//! Test support for MFS: building the shim and the C test programs, running programs under
//! `libmfs.so` in throw-away scratch trees, and comparing a primary tree with its mirror
//! independently of the product's own code.
//!
//! The integration tests in `tests/tests/` use it; `tests/README.md` describes the layout,
//! the directives a C test program can carry and how to run one program by hand.

pub mod artifacts;
pub mod compare;
pub mod control;
pub mod directives;
pub mod netfs;
pub mod scratch;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use artifacts::{c_program, c_program_names, mfsctl, shim};
pub use compare::{compare_trees, Difference};
pub use directives::Directives;
pub use scratch::{Mirroring, Outcome, Scratch};

/// How long one child program may run before the harness kills it.
pub const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The workspace root (the directory holding the workspace `Cargo.toml`).
pub fn workspace_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        here.parent().unwrap_or(here).to_path_buf()
    })
}

/// The cargo target directory (`CARGO_TARGET_DIR` when set, else `target/` in the workspace).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => workspace_root().join(d),
        _ => workspace_root().join("target"),
    }
}

/// Runs the system C compiler (`cc ARGS...`) and panics with its diagnostics when it fails:
/// for tests that build helper libraries and programs of their own from `tests/data/`.
pub fn cc(args: &[&str]) {
    let out = std::process::Command::new("cc").args(args).output().expect("run cc");
    assert!(out.status.success(), "cc {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The directory holding the C test sources.
pub fn c_tests_dir() -> PathBuf {
    workspace_root().join("c-tests")
}

/// Runs one C test program the standard way and checks everything the harness checks:
/// `prog PRIMARY MIRROR [STATE]` under the shim, from a scratch working directory outside
/// both trees; exit status 0; then (unless the program says `// mfs-compare: no`) identical
/// trees. On failure the scratch directory is kept and the message says where.
pub fn run_c_test(name: &str) -> Result<(), String> {
    let source = c_tests_dir().join(format!("{name}.c"));
    let directives = Directives::from_file(&source).map_err(|e| format!("{name}: {e}"))?;
    let binary = c_program(name)?;
    let scratch = Scratch::new(name).map_err(|e| format!("{name}: cannot make a scratch directory: {e}"))?;
    let mut args = vec![scratch.primary().as_os_str().to_owned(), scratch.mirror().as_os_str().to_owned()];
    if directives.args_state {
        args.push(scratch.state().as_os_str().to_owned());
    }
    let mirroring =
        if directives.config.is_empty() { Mirroring::Env } else { Mirroring::Config(directives.config.clone()) };
    let outcome = scratch.run(&binary, &args, &mirroring);
    let failure = match &outcome {
        Err(e) => Some(format!("{name}: {e}")),
        Ok(o) if !o.success() => Some(format!("{name}: {}\n{}", o.status_text(), scratch.report(o))),
        Ok(_) if directives.compare => {
            let diffs = compare_trees(&scratch.primary(), &scratch.mirror());
            (!diffs.is_empty()).then(|| {
                let list: Vec<String> = diffs.iter().map(|d| format!("  {d}")).collect();
                let out = outcome.as_ref().map(|o| scratch.report(o)).unwrap_or_default();
                format!("{name}: primary and mirror differ:\n{}\n{out}", list.join("\n"))
            })
        }
        Ok(_) => None,
    };
    match failure {
        Some(msg) => {
            scratch.keep();
            Err(format!("{msg}\n(scratch directory kept at {})", scratch.root().display()))
        }
        None => Ok(()),
    }
}
