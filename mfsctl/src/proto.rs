//! The control protocol between `mfsctl` commands and `mfsctl daemon`: newline-delimited JSON
//! over the daemon's Unix socket (mode 0600, peers of another uid refused). Each request is
//! one line; the daemon answers with zero or more `progress` lines and then exactly one
//! `done` line, and closes the connection. docs/PROTOCOL.md describes every message.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Protocol version; a request of another version is refused with a reason.
pub const VERSION: u32 = 1;

/// One request line: `{"v":1,"op":"status"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub request: Request,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Is a daemon there (and which)?
    Ping,
    /// Every pair and copy.
    Status,
    /// Takes a copy out of service; answers once no change in flight can still reach it.
    Offline { pair: String, copy: Option<PathBuf> },
    /// Replays a copy's journal and puts it back in service.
    Online { pair: String, copy: Option<PathBuf> },
    /// Replays the journals now (`full`: compares whole trees).
    Resync { pair: String, full: bool },
    /// Makes pairs known to the daemon, as `MFS_MIRROR` and `MFS_CONFIG` give them, and a
    /// process mirroring with them (the daemon stays while it lives).
    Register { mirror: Option<String>, config: Option<PathBuf>, pid: Option<u32> },
    /// Stops the daemon.
    Stop,
}

/// One answer line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Progress(Progress),
    Done(Done),
}

/// The final answer to a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Done {
    pub ok: bool,
    /// Why the request failed (one line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was done (one line), for a successful request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl Done {
    pub fn ok(message: impl Into<String>) -> Done {
        Done { ok: true, message: Some(message.into()), ..Done::default() }
    }

    pub fn error(error: impl Into<String>) -> Done {
        Done { ok: false, error: Some(error.into()), ..Done::default() }
    }
}

/// How far a resynchronisation is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Progress {
    pub pair: String,
    /// Root of the copy being brought level.
    pub copy: PathBuf,
    /// "journal" or "full".
    pub kind: String,
    /// Paths done, and known so far (a full resync learns the total as it walks).
    pub done: u64,
    pub total: u64,
    /// Bytes written to the copy.
    pub bytes: u64,
    pub elapsed_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_secs: Option<f64>,
}

/// `mfsctl status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Status {
    pub daemon_pid: u32,
    pub state_dir: PathBuf,
    /// Changes whenever a copy changes state.
    pub generation: u64,
    pub pairs: Vec<PairStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PairStatus {
    pub name: String,
    pub mode: String,
    pub copies: Vec<CopyStatus>,
    /// Paths changed on both sides while a copy was out of service.
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CopyStatus {
    pub root: PathBuf,
    /// "primary" or "mirror".
    pub role: String,
    /// "online", "offline" or "resyncing".
    pub state: String,
    /// Why it is offline: "administrator" or "failures".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_reason: Option<String>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_since: Option<u64>,
    pub failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// Journal records naming this copy, and the journal files' size.
    pub journal_entries: u64,
    pub journal_bytes: u64,
    /// Paths the next resync repairs.
    pub dirty_paths: u64,
    /// The journal overflowed (or a resync with --full was asked for and not finished).
    pub full_resync: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resync: Option<Progress>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LastError {
    pub errno: i32,
    pub message: String,
    /// Unix seconds.
    pub at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Conflict {
    pub path: String,
    /// Where the losing version was kept.
    pub kept_as: String,
    /// Unix seconds.
    pub at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_are_one_json_line_each() {
        let req = Envelope { v: VERSION, request: Request::Offline { pair: "data".into(), copy: None } };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(line, r#"{"v":1,"op":"offline","pair":"data","copy":null}"#);
        assert_eq!(serde_json::from_str::<Envelope>(&line).unwrap(), req);
        let ping: Envelope = serde_json::from_str(r#"{"v":1,"op":"ping"}"#).unwrap();
        assert_eq!(ping.request, Request::Ping);
        let resync: Envelope = serde_json::from_str(r#"{"v":1,"op":"resync","pair":"p","full":true}"#).unwrap();
        assert_eq!(resync.request, Request::Resync { pair: "p".into(), full: true });
        assert!(serde_json::from_str::<Envelope>(r#"{"v":1,"op":"format-disk"}"#).is_err());
        let done = Reply::Done(Done::error("unknown pair x"));
        let text = serde_json::to_string(&done).unwrap();
        assert!(!text.contains('\n'));
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), done);
    }
}
