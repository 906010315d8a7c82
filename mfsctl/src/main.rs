//! `mfsctl`: the command-line tool of MFS, a mirror file system in user space.
//!
//! `mfsctl run` starts a program under the shim (`libmfs.so`) so that every change it makes
//! under a primary directory is made on the mirrors too; `mfsctl verify` compares the copies.

mod elf;
mod run;
mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for bad input: a malformed argument, a missing path, an unknown pair.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "mfsctl",
    version,
    about = "Mirror file system in user space: run programs under the shim, verify the copies",
    long_about = "MFS mirrors every change a program makes under a primary directory to one or more \
mirror directories, synchronously, before each call returns. It works through an LD_PRELOAD \
library (libmfs.so): no root, no kernel module, no recompiling.\n\n\
Pairs come from --mirror PRIMARY:MIRROR (or the MFS_MIRROR variable) and from a TOML file named \
by --config (or MFS_CONFIG).",
    after_help = "Exit status: 0 on success, 1 when `verify` finds differences, 2 on bad input; \
`run` exits with the command's own status (127 when it cannot be started).\n\n\
Example:\n  mfsctl run --mirror /srv/data:/mnt/backup/data -- cp -a ~/photos /srv/data/\n  \
mfsctl verify /srv/data /mnt/backup/data"
)]
struct Cli {
    /// TOML configuration file (default: $MFS_CONFIG). See examples/mfs.toml for every key.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command with its file changes mirrored.
    #[command(
        override_usage = "mfsctl run [--mirror PRIMARY:MIRROR]... [--config FILE] -- CMD [ARGS]...",
        long_about = "Run CMD with libmfs.so preloaded, so that every change it (and every dynamically \
linked program it starts) makes under a primary directory is also made under the mirror \
directories before the call returns.\n\n\
The configuration is checked first: a missing or overlapping directory, or a malformed --mirror, \
stops here with a one-line reason. A warning is printed when CMD cannot be interposed (a \
statically linked or Go program, or a set-user-ID/set-group-ID file that changes identity): such \
a program runs, but nothing it changes is mirrored.\n\n\
libmfs.so is taken from $MFS_SHIM when set, else from the directory of the mfsctl executable. It \
is appended to LD_PRELOAD; MFS_MIRROR and MFS_CONFIG are set for CMD from --mirror and --config \
(relative paths are made absolute). Mirroring needs no daemon: the shim applies every change \
itself, and records what a mirror missed in the journal under the configuration's state_dir.",
        after_help = "Exit status: CMD's own status (a signal that kills CMD kills mfsctl's process the same \
way, since CMD replaces it); 127 when CMD cannot be started; 2 on bad input.\n\n\
Examples:\n  mfsctl run --mirror /srv/data:/mnt/backup/data -- make -C /srv/data/src\n  \
mfsctl run --mirror 'odd\\:name:/mnt/m' -- sh -c 'echo hi > odd:name/f'\n  \
mfsctl run --config /etc/mfs.toml -- rsync -a ~/work/ /srv/data/work/"
    )]
    Run {
        /// A pair to mirror, PRIMARY:MIRROR; repeatable. A backslash escapes ':', ',' and '\'
        /// inside a path. Default: $MFS_MIRROR (and the pairs of the configuration file).
        #[arg(long = "mirror", value_name = "PRIMARY:MIRROR")]
        mirrors: Vec<OsString>,

        /// The command and its arguments (put them after `--`).
        #[arg(value_name = "CMD", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },

    /// Compare a primary tree with its mirrors and list every difference.
    #[command(
        override_usage = "mfsctl verify [--config FILE] PRIMARY MIRROR\n       mfsctl verify [--config FILE] NAME",
        long_about = "Compare the copies of a pair: entries present on one side only, file types, sizes, \
permission bits, owners, symlink targets and file contents (modification times, link counts and \
extended attributes are not compared). Symlinks are compared as links and never followed. One \
line per difference goes to stdout, for example:\n\n  \
only in primary: docs/new.txt\n  type differs: build (directory vs file)\n  \
mode differs: bin/tool (0755 vs 0644)\n  content differs: data/table.db\n\n\
With NAME, the pair comes from the configuration (--config or $MFS_CONFIG, and $MFS_MIRROR) \
and every mirror of it is compared; with several mirrors each line starts with the mirror's \
root. A summary goes to stderr, with progress when stderr is a terminal and the comparison takes \
more than a second. Files being written while the comparison runs may show as different.",
        after_help = "Exit status: 0 when the copies are identical, 1 when differences were listed, 2 on bad \
input (a missing directory, an unknown pair).\n\n\
Examples:\n  mfsctl verify /srv/data /mnt/backup/data\n  mfsctl verify --config /etc/mfs.toml data"
    )]
    Verify {
        /// PRIMARY MIRROR, or the NAME of a configured pair.
        #[arg(value_name = "NAME|PRIMARY MIRROR", num_args = 1..=2, required = true)]
        targets: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Run { mirrors, command } => run::run(cli.config.as_deref(), mirrors, command),
        Command::Verify { targets } => {
            verify::target(targets, cli.config.as_deref()).and_then(|target| verify::verify(&target))
        }
    };
    match outcome {
        Ok(status) => ExitCode::from(u8::try_from(status).unwrap_or(EXIT_BAD_INPUT)),
        Err(e) => {
            eprintln!("mfsctl: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_the_command_after_the_options() {
        let cli =
            Cli::try_parse_from(["mfsctl", "run", "--mirror", "/a:/b", "--mirror", "/c:/d", "--", "ls", "-l"]).unwrap();
        match cli.command {
            Command::Run { mirrors, command } => {
                assert_eq!(mirrors, ["/a:/b", "/c:/d"]);
                assert_eq!(command, ["ls", "-l"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        // Options of the command are its own, even without `--`.
        let cli = Cli::try_parse_from(["mfsctl", "--config", "/f", "run", "sh", "-c", "exit 7"]).unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("/f")));
        assert!(matches!(cli.command, Command::Run { ref command, .. } if command == &["sh", "-c", "exit 7"]));
        assert!(Cli::try_parse_from(["mfsctl", "run", "--mirror", "/a:/b"]).is_err());
    }

    #[test]
    fn verify_takes_one_or_two_operands() {
        for args in [&["mfsctl", "verify", "data"][..], &["mfsctl", "verify", "/p", "/m"]] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
        assert!(Cli::try_parse_from(["mfsctl", "verify"]).is_err());
        assert!(Cli::try_parse_from(["mfsctl", "verify", "a", "b", "c"]).is_err());
    }
}
