//! The crate's error type.

use std::io;

/// Errors from kernel calls made by this crate.
///
/// Every variant says which operation failed (`op`), so a message like
/// `netlink veth_add cali1a2b/eth0: File exists (os error 17)` is self-explanatory.
/// Use [`Error::errno`] to branch on the kernel's answer (`libc::EEXIST`, `libc::ENODEV` …).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: io::Error,
    },
    /// The kernel answered a netlink request with an error (NACK).
    /// `errno` is positive (`libc::EEXIST`, …); `message` is the kernel's extended-ack text, if any.
    #[error("netlink {op}: {}{}", io::Error::from_raw_os_error(*errno), message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Netlink {
        op: String,
        errno: i32,
        message: Option<String>,
    },
    /// A netlink reply could not be decoded, or the protocol went wrong.
    #[error("netlink {op}: {detail}")]
    Protocol { op: String, detail: String },
    /// Bad argument (invalid name, key, …).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The errno behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Netlink { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// True if the error is "already exists" (EEXIST).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// True if the error is "no such device / file / process / route" (ENODEV, ENOENT, ESRCH).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENODEV) | Some(libc::ENOENT) | Some(libc::ESRCH)
        )
    }

    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            op: op.into(),
            source,
        }
    }

    pub(crate) fn errno_op(op: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::io(op, io::Error::from_raw_os_error(errno as i32))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
