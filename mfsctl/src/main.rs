//! `mfsctl`: the command-line tool of MFS, a mirror file system in user space.
//!
//! `mfsctl run` starts a program under the shim (`libmfs.so`) so that every change it makes
//! under a primary directory is made on the mirrors too; `mfsctl verify` compares the copies.

mod client;
mod daemon;
mod elf;
mod proto;
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
    about = "Mirror file system in user space: run programs under the shim, control the copies, verify them",
    long_about = "MFS mirrors every change a program makes under a primary directory to one or more \
mirror directories, synchronously, before each call returns. It works through an LD_PRELOAD \
library (libmfs.so): no root, no kernel module, no recompiling.\n\n\
Pairs come from --mirror PRIMARY:MIRROR (or the MFS_MIRROR variable) and from a TOML file named \
by --config (or MFS_CONFIG).",
    after_help = "Exit status: 0 on success, 1 when `verify` finds differences or the daemon refuses a \
request, 2 on bad input, 3 when no daemon answers where one is needed; `run` exits with the \
command's own status (127 when it cannot be started).\n\n\
Example:\n  mfsctl run --mirror /srv/data:/mnt/backup/data -- cp -a ~/photos /srv/data/\n  \
mfsctl verify /srv/data /mnt/backup/data\n  mfsctl offline data; mfsctl status; mfsctl online data"
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
itself, and records what a mirror missed in the journal under the configuration's state_dir. \
When no control daemon answers on the session's socket, one is started in the background for \
the session (it replays journals and brings mirrors back; it exits on its own once idle).",
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

    /// The control daemon, in the foreground: copy states, journal replay, resync.
    #[command(
        long_about = "The control daemon. It serves `status`, `offline`, `online` and `resync` on its Unix \
socket (mode 0600; clients of another user are refused), replays journals into copies that \
are behind, probes copies that failures took out of service and brings them back when they \
answer (auto_online), and journals the files that a process killed in the middle of a change \
may have left different.\n\n\
The daemon is never on the write path: programs mirror by themselves and read the copy \
states from the shared state file, so they neither wait for nor fail with the daemon. A \
daemon killed and started again picks the state and the journals up where they were.\n\n\
The socket is $MFS_SOCKET, else the configuration's [daemon] socket, else \
$XDG_RUNTIME_DIR/mfs/mfsd.sock or /tmp/mfs-$UID/mfsd.sock. Its state directory holds \
mfsd.pid, mfsd.log and the journals. `mfsctl run` starts one for its session when none \
answers (detached, exiting when idle). SIGTERM, SIGINT or SIGHUP stop it (a resync in progress \
finishes its round first; an interrupted one resumes with the next daemon).",
        after_help = "Exit status: 0 when stopped, 1 when it cannot start (another daemon runs, the socket \
cannot be bound), 2 on bad input.\n\nExample:\n  mfsctl daemon --config /etc/mfs.toml"
    )]
    Daemon {
        /// Run in the background; return once the daemon answers (its log: STATE_DIR/mfsd.log).
        #[arg(long)]
        detach: bool,
        /// Exit after SECS seconds without requests, nothing to resync, and no registered
        /// process alive.
        #[arg(long, value_name = "SECS")]
        idle_exit: Option<u64>,
    },

    /// Every pair and copy: state, journal, dirty paths, last error, resync progress.
    #[command(
        long_about = "Show every pair the daemon knows and each of its copies: online, offline (and whether an \
administrator or failures took it down, since when) or resyncing; failures counted and the last \
error with its time; journal entries and size; dirty paths the next resync repairs; whether a \
full resync is needed; the running resync's progress and ETA; and conflicts found in two-way \
pairs.",
        after_help = "Exit status: 0, 1 when the daemon refuses, 3 when no daemon answers.\n\nExamples:\n  \
mfsctl status\n  mfsctl status --json | jq '.pairs[0].copies[1].state'"
    )]
    Status {
        /// Print JSON (the fields of docs/PROTOCOL.md) instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Take a mirror out of service: changes are journaled for it instead.
    #[command(
        long_about = "Take a mirror of pair NAME out of service, for maintenance. Once the command returns, \
no change reaches the copy: programs skip it, and journal every path they change. `mfsctl \
online NAME` brings it back. The daemon does not probe a copy taken down by an administrator.",
        after_help = "Exit status: 0, 1 when refused (unknown pair or copy, the copy is already offline), 3 \
when no daemon answers.\n\nExample:\n  mfsctl offline data --copy /mnt/backup/data"
    )]
    Offline {
        /// The pair's name (see `mfsctl status`).
        name: String,
        /// The mirror's root; may be left out when the pair has one mirror.
        #[arg(long, value_name = "PATH")]
        copy: Option<PathBuf>,
    },

    /// Replay a mirror's journal and put it back in service.
    #[command(
        long_about = "Bring a mirror of pair NAME back: replay its journal (only the paths and byte ranges that \
changed are compared and copied, each under the file's coherency lock while programs keep \
writing; a full resync when the journal overflowed), then put it in service. Progress goes to \
stderr. Interrupted, it resumes with the next `online` or `resync`.",
        after_help = "Exit status: 0 once the copy is online, 1 when refused or when the copy failed during \
the resync (it stays offline), 3 when no daemon answers.\n\nExample:\n  mfsctl online data"
    )]
    Online {
        /// The pair's name.
        name: String,
        /// The mirror's root; may be left out when the pair has one mirror.
        #[arg(long, value_name = "PATH")]
        copy: Option<PathBuf>,
    },

    /// Resynchronise a pair's copies now.
    #[command(
        long_about = "Replay pair NAME's journal into every copy that is behind and not taken down by an \
administrator, now. With --full, compare whole trees instead: every entry, type, mode, owner, \
symlink target and content; only what differs is written, and what the mirror has in excess \
is removed. A copy that failures took offline and that is level again goes back in service. \
Runs in parallel over directories, under each file's coherency lock; progress goes to stderr \
(a bar on a terminal). Interrupted, it resumes.",
        after_help = "Exit status: 0, 1 when refused or a copy failed during the resync, 3 when no daemon \
answers.\n\nExamples:\n  mfsctl resync data\n  mfsctl resync data --full"
    )]
    Resync {
        /// The pair's name.
        name: String,
        /// Compare whole trees, not only what the journal names.
        #[arg(long)]
        full: bool,
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
        Command::Daemon { detach, idle_exit } => {
            daemon::run(daemon::Options { config: cli.config.clone(), detach: *detach, idle_exit: *idle_exit })
        }
        Command::Status { json } => client::status(cli.config.as_deref(), *json),
        Command::Offline { name, copy } => {
            client::command(cli.config.as_deref(), proto::Request::Offline { pair: name.clone(), copy: copy.clone() })
        }
        Command::Online { name, copy } => {
            client::command(cli.config.as_deref(), proto::Request::Online { pair: name.clone(), copy: copy.clone() })
        }
        Command::Resync { name, full } => {
            client::command(cli.config.as_deref(), proto::Request::Resync { pair: name.clone(), full: *full })
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
