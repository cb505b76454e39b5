//! Attaching to a running container (what `kubectl attach`, `kubectl run -it` and
//! `kubectl debug -it` do): the container's output fans out to every attached
//! client as well as to its log; its stdin (when the container has `stdin: true`)
//! takes what attached clients type; with `tty: true` it all goes through the
//! container's terminal.

use bytes::Bytes;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{broadcast, mpsc, watch};

/// Output of a container run: (1 stdout | 2 stderr, bytes).
pub type Chunk = (u8, Bytes);

/// What attached clients send to the container's stdin.
#[derive(Debug)]
pub enum Input {
    Data(Bytes),
    /// The client closed its stdin: with `stdinOnce`, the container's stdin ends.
    Close,
}

/// One container run that clients can attach to.
pub struct AttachPoint {
    pub tty: bool,
    stdin_once: bool,
    out: broadcast::Sender<Chunk>,
    stdin: Option<mpsc::UnboundedSender<Input>>,
    pty: Option<Arc<OwnedFd>>,
    /// The exit code, set once the run's output has been drained.
    exit: watch::Receiver<Option<i32>>,
    /// Set once a client's stdin closed (stdinOnce: nobody writes again).
    stdin_closed: AtomicBool,
}

/// The container side of an [`AttachPoint`].
pub struct Feed {
    pub out: broadcast::Sender<Chunk>,
    /// What clients type, when the container has stdin.
    pub stdin: Option<mpsc::UnboundedReceiver<Input>>,
    pub exit: watch::Sender<Option<i32>>,
}

/// An attached client's ends.
pub struct Attached {
    pub stdin: Option<DuplexStream>,
    pub stdout: Option<DuplexStream>,
    pub stderr: Option<DuplexStream>,
    pub tty: Option<Arc<OwnedFd>>,
    pub exit: watch::Receiver<Option<i32>>,
}

impl AttachPoint {
    pub fn new(stdin: bool, stdin_once: bool, tty: bool, pty: Option<OwnedFd>) -> (Self, Feed) {
        let (out, _) = broadcast::channel(1024);
        let (in_tx, in_rx) = if stdin {
            let (t, r) = mpsc::unbounded_channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        let (exit_tx, exit_rx) = watch::channel(None);
        (
            AttachPoint {
                tty,
                stdin_once,
                out: out.clone(),
                stdin: in_tx,
                pty: pty.map(Arc::new),
                exit: exit_rx,
                stdin_closed: AtomicBool::new(false),
            },
            Feed {
                out,
                stdin: in_rx,
                exit: exit_tx,
            },
        )
    }

    pub fn has_stdin(&self) -> bool {
        self.stdin.is_some() && !self.stdin_closed.load(Ordering::SeqCst)
    }

    pub fn exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Attaches a client. Output written before this call is not replayed (as with
    /// a container runtime); a tty merges stderr into stdout.
    pub fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Attached {
        let mut rx = self.out.subscribe();
        let mut exit = self.exit.clone();
        let (out_w, out_r) = tokio::io::duplex(64 * 1024);
        let (err_w, err_r) = tokio::io::duplex(64 * 1024);
        let want_err = stderr && !self.tty;
        tokio::spawn(async move {
            let mut w = [Some(out_w), Some(err_w)];
            loop {
                tokio::select! {
                    biased;
                    m = rx.recv() => match m {
                        Ok((ch, b)) => put(&mut w, ch, &b).await,
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    ok = async { exit.wait_for(Option::is_some).await.is_ok() } => {
                        if !ok {
                            break;
                        }
                        // the run is over and its output drained: flush what is queued
                        while let Ok((ch, b)) = rx.try_recv() {
                            put(&mut w, ch, &b).await;
                        }
                        break;
                    }
                }
            }
        });
        let input = match (&self.stdin, stdin && self.has_stdin()) {
            (Some(tx), true) => {
                let tx = tx.clone();
                let once = self.stdin_once;
                let (w, mut r) = tokio::io::duplex(64 * 1024);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tx
                                    .send(Input::Data(Bytes::copy_from_slice(&buf[..n])))
                                    .is_err()
                                {
                                    return;
                                }
                            }
                        }
                    }
                    if once {
                        let _ = tx.send(Input::Close);
                    }
                });
                if once {
                    self.stdin_closed.store(true, Ordering::SeqCst);
                }
                Some(w)
            }
            _ => None,
        };
        Attached {
            stdin: input,
            stdout: stdout.then_some(out_r),
            stderr: want_err.then_some(err_r),
            tty: self.pty.clone(),
            exit: self.exit.clone(),
        }
    }
}

/// Writes a chunk to the client's stdout (1) or stderr (2); a client gone stays gone.
async fn put(w: &mut [Option<DuplexStream>; 2], ch: u8, b: &[u8]) {
    let slot = &mut w[if ch == 2 { 1 } else { 0 }];
    if let Some(x) = slot
        && x.write_all(b).await.is_err()
    {
        *slot = None;
    }
}

/// The attach points of a node's running containers, by pod UID and container name.
#[derive(Default)]
pub struct Registry {
    points: Mutex<HashMap<(String, String), Arc<AttachPoint>>>,
}

impl Registry {
    pub fn insert(&self, uid: &str, container: &str, p: Arc<AttachPoint>) {
        self.points
            .lock()
            .unwrap()
            .insert((uid.to_string(), container.to_string()), p);
    }

    /// Removes the entry if it is still `p` (a restart may have replaced it).
    pub fn remove(&self, uid: &str, container: &str, p: &Arc<AttachPoint>) {
        let mut m = self.points.lock().unwrap();
        let k = (uid.to_string(), container.to_string());
        if m.get(&k).is_some_and(|cur| Arc::ptr_eq(cur, p)) {
            m.remove(&k);
        }
    }

    pub fn get(&self, uid: &str, container: &str) -> Option<Arc<AttachPoint>> {
        self.points
            .lock()
            .unwrap()
            .get(&(uid.to_string(), container.to_string()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_fans_out_and_stdin_once_closes() {
        let (p, mut feed) = AttachPoint::new(true, true, false, None);
        let a = p.attach(true, true, true);
        let b = p.attach(false, true, false);
        assert!(b.stdin.is_none(), "stdinOnce: the first client holds stdin");
        assert!(!p.has_stdin());
        feed.out.send((1, Bytes::from_static(b"out\n"))).unwrap();
        feed.out.send((2, Bytes::from_static(b"err\n"))).unwrap();
        let mut w = a.stdin.unwrap();
        w.write_all(b"typed").await.unwrap();
        drop(w);
        let mut got = Vec::new();
        let rx = feed.stdin.as_mut().unwrap();
        while let Some(m) = rx.recv().await {
            match m {
                Input::Data(d) => got.extend_from_slice(&d),
                Input::Close => break,
            }
        }
        assert_eq!(got, b"typed");
        feed.exit.send(Some(3)).unwrap();
        let mut s = String::new();
        a.stdout.unwrap().read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "out\n");
        let mut s = String::new();
        a.stderr.unwrap().read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "err\n");
        let mut s = String::new();
        b.stdout.unwrap().read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "out\n");
        assert!(b.stderr.is_none());
        assert_eq!(*a.exit.borrow(), Some(3));
    }

    #[tokio::test]
    async fn a_tty_has_no_separate_stderr() {
        let (p, _feed) = AttachPoint::new(true, false, true, None);
        let a = p.attach(true, true, true);
        assert!(a.stderr.is_none());
        assert!(a.stdin.is_some());
        assert!(
            p.has_stdin(),
            "without stdinOnce stdin stays open to others"
        );
    }

    #[test]
    fn registry_keeps_the_newest_run() {
        let r = Registry::default();
        let (a, _) = AttachPoint::new(false, false, false, None);
        let (b, _) = AttachPoint::new(false, false, false, None);
        let (a, b) = (Arc::new(a), Arc::new(b));
        r.insert("u", "c", a.clone());
        r.insert("u", "c", b.clone());
        r.remove("u", "c", &a);
        assert!(Arc::ptr_eq(&r.get("u", "c").unwrap(), &b));
        r.remove("u", "c", &b);
        assert!(r.get("u", "c").is_none());
    }
}
