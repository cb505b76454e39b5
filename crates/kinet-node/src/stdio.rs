//! A container run's standard streams: its output to its CRI log (one
//! `<time> stdout|stderr F <line>` entry per line) and to attached clients, and
//! what those clients type to its stdin — through the container's terminal with
//! `tty`.

use crate::attach::{AttachPoint, Input};
use crate::runner::RunnerSpec;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

fn now_nanos() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A run's CRI log file, shared by its stdout and stderr pumps.
pub(crate) type Log = Arc<tokio::sync::Mutex<tokio::fs::File>>;

/// A run's input and output: its attach point and the tasks that copy.
pub(crate) struct Io {
    point: Arc<AttachPoint>,
    exit: watch::Sender<Option<i32>>,
    out: Option<JoinHandle<()>>,
    err: Option<JoinHandle<()>>,
    input: Option<JoinHandle<()>>,
}

impl Io {
    /// Makes the run attachable and starts copying: stdout (the terminal, with a
    /// tty) and stderr to the log and attached clients, their input to its stdin.
    pub(crate) fn connect(
        spec: &RunnerSpec,
        child: &mut Child,
        master: Option<OwnedFd>,
        log: Log,
    ) -> Io {
        let pty_fd = |m: &Option<OwnedFd>| {
            m.as_ref()
                .and_then(|m| m.try_clone().ok())
                .map(|fd| tokio::fs::File::from_std(std::fs::File::from(fd)))
        };
        let (point, feed) = AttachPoint::new(
            spec.stdin,
            spec.stdin_once,
            spec.tty,
            master.as_ref().and_then(|m| m.try_clone().ok()),
        );
        let point = Arc::new(point);
        spec.agent
            .attach
            .insert(&spec.uid, &spec.name, point.clone());
        let out = match pty_fd(&master) {
            Some(m) => Some(tokio::spawn(pump(
                m,
                "stdout",
                log.clone(),
                feed.out.clone(),
            ))),
            None => child
                .stdout
                .take()
                .map(|o| tokio::spawn(pump(o, "stdout", log.clone(), feed.out.clone()))),
        };
        let err = child
            .stderr
            .take()
            .map(|e| tokio::spawn(pump(e, "stderr", log.clone(), feed.out.clone())));
        let input = feed.stdin.map(|rx| {
            let tty = master.is_some();
            let w: Option<Box<dyn AsyncWrite + Send + Unpin>> = match pty_fd(&master) {
                Some(m) => Some(Box::new(m)),
                None => child.stdin.take().map(|s| Box::new(s) as _),
            };
            tokio::spawn(forward_input(rx, w, tty))
        });
        drop(master);
        Io {
            point,
            exit: feed.exit,
            out,
            err,
            input,
        }
    }

    /// After the run: drains its output (half a second at most), stops its input,
    /// tells attached clients its exit code and removes the attach point.
    pub(crate) async fn finish(self, spec: &RunnerSpec, code: i32) {
        for h in [self.out, self.err].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_millis(500), h).await;
        }
        if let Some(i) = self.input {
            i.abort();
        }
        let _ = self.exit.send(Some(code));
        spec.agent.attach.remove(&spec.uid, &spec.name, &self.point);
    }
}

/// Copies what attached clients type to the container's stdin (`w`); the end of
/// their input is ^D on a terminal, a closed pipe otherwise.
async fn forward_input(
    mut rx: mpsc::UnboundedReceiver<Input>,
    mut w: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    tty: bool,
) {
    while let Some(m) = rx.recv().await {
        let Some(wr) = w.as_mut() else { continue };
        let res = match m {
            Input::Data(d) => wr.write_all(&d).await,
            Input::Close if tty => wr.write_all(&[4]).await,
            Input::Close => {
                w = None;
                Ok(())
            }
        };
        if res.is_err() {
            w = None;
        }
    }
}

/// Copies a container's output to its CRI log (one entry per line) and to the
/// clients attached to it (as it comes).
async fn pump<R: AsyncRead + Unpin>(
    mut r: R,
    stream: &'static str,
    file: Log,
    out: tokio::sync::broadcast::Sender<crate::attach::Chunk>,
) {
    let ch = if stream == "stderr" { 2 } else { 1 };
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let _ = out.send((ch, bytes::Bytes::copy_from_slice(&buf[..n])));
        pending.extend_from_slice(&buf[..n]);
        let mut entries = String::new();
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            entries.push_str(&format!("{} {stream} F {text}\n", now_nanos()));
        }
        if !entries.is_empty() {
            let mut f = file.lock().await;
            let _ = f.write_all(entries.as_bytes()).await;
        }
    }
    if !pending.is_empty() {
        let text = String::from_utf8_lossy(&pending);
        let entry = format!("{} {stream} F {text}\n", now_nanos());
        let mut f = file.lock().await;
        let _ = f.write_all(entry.as_bytes()).await;
    }
}
