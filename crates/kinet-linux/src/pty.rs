//! Terminals for `kubectl exec -it`: a pseudo-terminal pair, making it the
//! controlling terminal of a child, and window-size changes.

use std::os::fd::{AsRawFd, OwnedFd};

/// A new pseudo-terminal: (master, slave).
pub fn open() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let p = nix::pty::openpty(None, None)?;
    Ok((p.master, p.slave))
}

/// Makes the child a session leader whose controlling terminal is its stdin
/// (which the caller sets to the pty slave). Add after [`crate::sandbox::join`].
pub fn set_controlling_tty(cmd: &mut tokio::process::Command) {
    // SAFETY: runs between fork and exec; setsid and ioctl are async-signal-safe
    // and touch only the child's own session and its stdin.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sets the window size of a terminal (the master side).
pub fn set_size(master: &impl AsRawFd, cols: u16, rows: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct that lives for the call.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ as _, &ws) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_size_reaches_the_slave() {
        let (m, s) = open().unwrap();
        set_size(&m, 120, 40).unwrap();
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize struct that lives for the call.
        let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCGWINSZ as _, &mut ws) };
        assert_eq!(r, 0);
        assert_eq!((ws.ws_col, ws.ws_row), (120, 40));
    }
}
