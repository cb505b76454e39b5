//! Persistent network namespaces bound to files, and running code inside one.
//!
//! A namespace handle is any file that refers to a network namespace: a file bound with
//! [`create`] (like `ip netns add`, but at any path) or `/proc/PID/ns/net`.
//! Code runs "inside" a namespace on a fresh std thread that `setns()`s into it
//! ([`run_in`]); the calling thread never changes namespace, so it is safe to call from
//! `tokio::task::spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::error::{Error, Result};

/// iproute2's directory for named namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";

/// Create a persistent network namespace bound at `path`.
///
/// Parent directories are created; then an empty file is created, a fresh thread
/// `unshare(CLONE_NEWNET)`s and bind-mounts `/proc/thread-self/ns/net` onto the file.
/// For paths in `/run/netns` the directory is made a shared mount point first, as
/// iproute2 does (best effort), so `ip netns exec NAME` works.
///
/// Fails with EEXIST if `path` already holds a namespace. A leftover plain file (an
/// interrupted earlier `create`) is reused.
pub fn create(path: &Path) -> Result<()> {
    let op = || format!("create netns {}", path.display());
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| Error::Invalid(format!("netns path {} has no parent", path.display())))?;
    fs::create_dir_all(parent).map_err(|e| Error::io(op(), e))?;
    if parent == Path::new(NETNS_RUN_DIR) {
        make_shared_mount(parent);
    }
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o000)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if exists(path) {
                return Err(Error::io(op(), e));
            }
            // A plain file left by an interrupted create: reuse it.
        }
        Err(e) => return Err(Error::io(op(), e)),
    }
    let target = path.to_path_buf();
    let res = std::thread::Builder::new()
        .name("kinet-netns-new".into())
        .spawn(move || -> Result<()> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::errno_op("unshare(CLONE_NEWNET)", e))?;
            nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                Some("none"),
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::errno_op(format!("bind-mount netns onto {}", target.display()), e))
        })
        .map_err(|e| Error::io(op(), e))?
        .join()
        .unwrap_or_else(|_| Err(Error::Invalid("netns create thread panicked".into())));
    if res.is_err() {
        let _ = fs::remove_file(path);
    }
    res
}

/// Make `dir` a shared mount point (recursively), as `ip netns add` does for /run/netns.
/// Best effort: failures are logged and ignored.
fn make_shared_mount(dir: &Path) {
    let shared = || {
        nix::mount::mount(
            None::<&str>,
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => {}
        Err(Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself, then retry.
            let r = nix::mount::mount(
                Some(dir),
                dir,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .and_then(|_| shared());
            if let Err(e) = r {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot make netns dir a shared mount");
            }
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot make netns dir a shared mount")
        }
    }
}

/// Remove a namespace created by [`create`]: unmount (MNT_DETACH) and unlink the file.
/// Ok if it does not exist. The namespace itself lives on while processes still use
/// it. Unlinking the file also detaches copies of the bind mount that other mount
/// namespaces (e.g. pod holders, created with a copy of the host's mounts) still hold,
/// so they do not keep the namespace and its links alive.
pub fn delete(path: &Path) -> Result<()> {
    let op = || format!("delete netns {}", path.display());
    // Stacked mounts are possible (e.g. created twice by a buggy caller): unmount all.
    for _ in 0..16 {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(Errno::EINVAL) => break,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(Error::errno_op(op(), e)),
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(op(), e)),
    }
}

/// True if `path` refers to a namespace (a bound namespace file or `/proc/PID/ns/*`).
pub fn exists(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
        .unwrap_or(false)
}

/// Inode number identifying the namespace `path` refers to (equal inodes = same namespace).
pub fn inode(path: &Path) -> Result<u64> {
    fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| Error::io(format!("stat {}", path.display()), e))
}

/// Run `f` on a fresh std thread that has `setns()`'d into the network namespace at `ns`
/// (a bound file or `/proc/PID/ns/net`), and return its result. Sockets created by `f`
/// stay bound to that namespace after it returns.
pub fn run_in<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    with_netns(ns, f)?
}

/// Like [`run_in`] with any return type; the outer error is about entering the namespace.
pub(crate) fn with_netns<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let file = open_ns(ns)?;
    let ns_display = ns.display().to_string();
    std::thread::Builder::new()
        .name("kinet-netns".into())
        .spawn(move || -> Result<T> {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::errno_op(format!("setns into {ns_display}"), e))?;
            drop(file);
            Ok(f())
        })
        .map_err(|e| Error::io("spawn netns thread", e))?
        .join()
        .unwrap_or_else(|_| Err(Error::Invalid("netns thread panicked".into())))
}

/// Open a namespace file for `setns`/`IFLA_NET_NS_FD` (close-on-exec).
pub(crate) fn open_ns(ns: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(ns)
        .map_err(|e| Error::io(format!("open netns {}", ns.display()), e))
}
