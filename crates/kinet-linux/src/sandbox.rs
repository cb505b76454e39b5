//! Pod sandboxes: the infra ("pause") process that holds a pod's namespaces, and
//! commands that join them.
//!
//! [`spawn_holder`] double-forks (the holder is reparented to init, so it never becomes
//! a zombie of the caller and survives it) and sets the holder up before `execve`:
//! new net (or an existing one), uts, ipc and mount namespaces, hostname, private `/`,
//! bind mounts, `lo` up, stdio on /dev/null, default signal handling.
//!
//! [`join`] / [`join_std`] make a `Command` enter the namespaces of a running holder
//! before it execs, like `nsenter -t PID -n -u -i -m`.
//!
//! Everything that runs between `fork` and `exec` uses only async-signal-safe system
//! calls on data prepared before the fork.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use crate::error::{Error, Result};
use crate::mounts::{self, ContainerMounts, Report};
use crate::netns;

/// What the infra process of a pod looks like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolderSpec {
    /// Hostname in the pod's new UTS namespace (1-64 bytes).
    pub hostname: String,
    /// `(host_file, target)` bind mounts made in the pod's private mount namespace, e.g.
    /// a per-pod hosts file onto `/etc/hosts`. Both must exist; nothing is created on
    /// the host side. Directories work too (recursive bind).
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// Program and arguments to exec, e.g. `["sleep", "infinity"]`; `argv[0]` is looked up
    /// in `PATH` unless it contains a `/`.
    pub argv: Vec<String>,
    /// `None`: a new, empty network namespace (with `lo` up). `Some(path)`: join that
    /// network namespace instead (`hostNetwork: true` pods join their node's).
    pub netns: Option<PathBuf>,
    /// Existing directories that get a tmpfs in the pod's mount namespace (emptyDir
    /// volumes with `medium: Memory`); the host never sees it.
    pub tmpfs: Vec<PathBuf>,
    /// Make the pod's view of the host read-only (recursively, after `binds`; the
    /// `tmpfs` mounts stay writable), so that nothing joining the pod's mount
    /// namespace can write the host's files.
    pub read_only: bool,
}

// Record tags and setup stages reported by the holder through the status pipe.
const TAG_PID: i32 = 1;
const TAG_ERR: i32 = 2;
const STAGE_FORK: i32 = 1;
const STAGE_SETSID: i32 = 2;
const STAGE_SETNS: i32 = 3;
const STAGE_UNSHARE: i32 = 4;
const STAGE_HOSTNAME: i32 = 5;
const STAGE_PRIVATE: i32 = 6;
const STAGE_LO_UP: i32 = 7;
const STAGE_CHDIR: i32 = 8;
const STAGE_STDIO: i32 = 9;
const STAGE_EXEC: i32 = 10;
const STAGE_READ_ONLY: i32 = 11;
/// `STAGE_BIND + i`: bind mount number `i` failed.
const STAGE_BIND: i32 = 100;
/// `STAGE_TMPFS + i`: tmpfs number `i` failed.
const STAGE_TMPFS: i32 = 10_000;

/// Everything the forked children need, prepared (allocated) before forking.
struct Prepared {
    hostname: Vec<u8>,
    binds: Vec<(CString, CString)>,
    tmpfs: Vec<CString>,
    read_only: bool,
    prog: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    netns: Option<OwnedFd>,
    devnull: OwnedFd,
}

fn cstring(s: &OsStr, what: &str) -> anyhow::Result<CString> {
    CString::new(s.as_bytes()).with_context(|| format!("{what} contains a NUL byte"))
}

/// Look `name` up in `PATH` (unless it contains a '/').
fn resolve_program(name: &str) -> anyhow::Result<PathBuf> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if let Ok(m) = std::fs::metadata(&p)
            && m.is_file()
            && m.permissions().mode() & 0o111 != 0
        {
            return Ok(p);
        }
    }
    bail!("{name}: command not found in PATH")
}

fn prepare(spec: &HolderSpec) -> anyhow::Result<Prepared> {
    if spec.hostname.is_empty() || spec.hostname.len() > 64 {
        bail!("hostname {:?} must be 1-64 bytes", spec.hostname);
    }
    let Some(arg0) = spec.argv.first() else {
        bail!("holder argv is empty");
    };
    let prog = resolve_program(arg0)?;
    let mut binds = Vec::new();
    for (src, dst) in &spec.binds {
        std::fs::metadata(src).with_context(|| format!("bind source {}", src.display()))?;
        std::fs::metadata(dst)
            .with_context(|| format!("bind target {} (it must already exist)", dst.display()))?;
        binds.push((
            cstring(src.as_os_str(), "bind source")?,
            cstring(dst.as_os_str(), "bind target")?,
        ));
    }
    let mut tmpfs = Vec::new();
    for dir in &spec.tmpfs {
        if !std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
            bail!(
                "tmpfs target {} must be an existing directory",
                dir.display()
            );
        }
        tmpfs.push(cstring(dir.as_os_str(), "tmpfs target")?);
    }
    let argv = spec
        .argv
        .iter()
        .map(|a| cstring(OsStr::new(a), "argument"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let envp = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let netns = match &spec.netns {
        Some(p) => Some(OwnedFd::from(netns::open_ns(p)?)),
        None => None,
    };
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("open /dev/null")?;
    Ok(Prepared {
        hostname: spec.hostname.as_bytes().to_vec(),
        binds,
        tmpfs,
        read_only: spec.read_only,
        prog: cstring(prog.as_os_str(), "program")?,
        argv,
        envp,
        netns,
        devnull: devnull.into(),
    })
}

fn stage_name(stage: i32) -> String {
    match stage {
        STAGE_FORK => "fork".into(),
        STAGE_SETSID => "setsid".into(),
        STAGE_SETNS => "setns(net)".into(),
        STAGE_UNSHARE => "unshare(net/uts/ipc/mnt)".into(),
        STAGE_HOSTNAME => "sethostname".into(),
        STAGE_PRIVATE => "make / rprivate".into(),
        STAGE_LO_UP => "set lo up".into(),
        STAGE_CHDIR => "chdir /".into(),
        STAGE_STDIO => "redirect stdio".into(),
        STAGE_EXEC => "exec".into(),
        STAGE_READ_ONLY => "make / read-only".into(),
        s if s >= STAGE_TMPFS => format!("tmpfs #{}", s - STAGE_TMPFS),
        s if s >= STAGE_BIND => format!("bind mount #{}", s - STAGE_BIND),
        s => format!("stage {s}"),
    }
}

/// Spawn the infra process of a pod (see [`HolderSpec`]) and return its pid.
///
/// The holder runs in a new session, with stdin/stdout/stderr on /dev/null, and is
/// reparented to init (double fork), so it outlives the caller and never turns into the
/// caller's zombie (unless the caller is a child subreaper or PID 1: then reap it).
pub fn spawn_holder(spec: &HolderSpec) -> anyhow::Result<u32> {
    let p = prepare(spec)?;
    let mut argv_ptrs: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;

    // SAFETY: fork() in a possibly multi-threaded process; the child only runs
    // async-signal-safe system calls on memory prepared above, and never returns.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(io::Error::last_os_error()).context("fork");
    }
    if child == 0 {
        // SAFETY: we are the freshly forked (single-threaded) child; see holder_intermediate.
        unsafe { holder_intermediate(&p, argv_ptrs.as_ptr(), envp_ptrs.as_ptr(), wr.as_raw_fd()) }
    }
    drop(wr);
    // Reap the intermediate child (it exits right after forking the holder).
    while let Err(nix::errno::Errno::EINTR) =
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None)
    {}
    let mut status = Vec::new();
    File::from(rd)
        .read_to_end(&mut status)
        .context("read holder status")?;
    let mut pid = None;
    for rec in status.chunks_exact(12) {
        let word = |i: usize| i32::from_ne_bytes(rec[i * 4..i * 4 + 4].try_into().unwrap());
        match word(0) {
            TAG_PID => pid = Some(word(1) as u32),
            TAG_ERR => {
                let err = io::Error::from_raw_os_error(word(2));
                let what = match word(1) {
                    s if s >= STAGE_TMPFS => {
                        let dir = &spec.tmpfs[(s - STAGE_TMPFS) as usize];
                        format!("mount a tmpfs on {}", dir.display())
                    }
                    s if s >= STAGE_BIND => {
                        let (src, dst) = &spec.binds[(s - STAGE_BIND) as usize];
                        format!("bind mount {} onto {}", src.display(), dst.display())
                    }
                    STAGE_EXEC => format!("exec {:?}", spec.argv),
                    s => stage_name(s),
                };
                return Err(anyhow!("spawn pod holder: {what}: {err}"));
            }
            _ => {}
        }
    }
    pid.ok_or_else(|| anyhow!("spawn pod holder: the holder did not report its pid"))
}

/// Write one 12-byte status record (async-signal-safe).
unsafe fn report(fd: RawFd, tag: i32, a: i32, b: i32) {
    let mut rec = [0u8; 12];
    rec[0..4].copy_from_slice(&tag.to_ne_bytes());
    rec[4..8].copy_from_slice(&a.to_ne_bytes());
    rec[8..12].copy_from_slice(&b.to_ne_bytes());
    // SAFETY: rec is a valid 12-byte buffer; a short write to a pipe of <= PIPE_BUF
    // bytes cannot happen.
    unsafe { libc::write(fd, rec.as_ptr().cast(), rec.len()) };
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// First child: fork the holder and exit at once, so the holder is reparented to init.
///
/// # Safety
/// Must only be called in a freshly forked child. Never returns.
unsafe fn holder_intermediate(
    p: &Prepared,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    wr: RawFd,
) -> ! {
    // SAFETY: async-signal-safe calls only.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            report(wr, TAG_ERR, STAGE_FORK, errno());
            libc::_exit(1);
        }
        if pid > 0 {
            libc::_exit(0);
        }
        holder_child(p, argv, envp, wr)
    }
}

/// The holder itself: set up namespaces and exec. Reports its pid, then either execs
/// (closing the close-on-exec status pipe) or reports the failing stage and exits.
///
/// # Safety
/// Must only be called in a freshly forked child. Never returns.
unsafe fn holder_child(
    p: &Prepared,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    wr: RawFd,
) -> ! {
    // SAFETY: every call below is an async-signal-safe system call on memory prepared
    // before the fork; pointers come from live CStrings / arrays owned by `p` or the
    // parent's stack frame, which the forked copy still holds.
    unsafe {
        let fail = |stage: i32| -> ! {
            report(wr, TAG_ERR, stage, errno());
            libc::_exit(127)
        };
        report(wr, TAG_PID, libc::getpid(), 0);
        if libc::setsid() < 0 {
            fail(STAGE_SETSID);
        }
        let mut flags = libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNS;
        match &p.netns {
            Some(fd) => {
                if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) < 0 {
                    fail(STAGE_SETNS);
                }
            }
            None => flags |= libc::CLONE_NEWNET,
        }
        if libc::unshare(flags) < 0 {
            fail(STAGE_UNSHARE);
        }
        if libc::sethostname(p.hostname.as_ptr().cast(), p.hostname.len()) < 0 {
            fail(STAGE_HOSTNAME);
        }
        let root = c"/";
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) < 0
        {
            fail(STAGE_PRIVATE);
        }
        for (i, (src, dst)) in p.binds.iter().enumerate() {
            if libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) < 0
            {
                fail(STAGE_BIND + i as i32);
            }
        }
        if p.read_only && crate::mounts::read_only_tree(root) < 0 {
            fail(STAGE_READ_ONLY);
        }
        for (i, dir) in p.tmpfs.iter().enumerate() {
            if libc::mount(
                c"tmpfs".as_ptr(),
                dir.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=0777".as_ptr().cast(),
            ) < 0
            {
                fail(STAGE_TMPFS + i as i32);
            }
        }
        if set_lo_up() < 0 {
            fail(STAGE_LO_UP);
        }
        if libc::chdir(root.as_ptr()) < 0 {
            fail(STAGE_CHDIR);
        }
        let null = p.devnull.as_raw_fd();
        for fd in 0..3 {
            if libc::dup2(null, fd) < 0 {
                fail(STAGE_STDIO);
            }
        }
        reset_signals();
        // Don't leak the caller's descriptors into the holder (CLOSE_RANGE_CLOEXEC = 4;
        // best effort, needs Linux 5.11). Everything this code opened is close-on-exec.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 4u32);
        libc::execve(p.prog.as_ptr(), argv, envp);
        fail(STAGE_EXEC)
    }
}

/// Bring `lo` up with SIOCSIFFLAGS (async-signal-safe). Returns -1 on error.
unsafe fn set_lo_up() -> libc::c_int {
    // SAFETY: plain system calls on a zeroed, correctly sized ifreq.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return -1;
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let mut rc = libc::ioctl(s, libc::SIOCGIFFLAGS as _, &mut ifr);
        if rc == 0 {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(s, libc::SIOCSIFFLAGS as _, &ifr);
        }
        let e = errno();
        libc::close(s);
        if rc < 0 {
            *libc::__errno_location() = e;
            return -1;
        }
        0
    }
}

/// Gives SIGPIPE its default action (end the process quietly), as C and Go
/// programs have it: Rust ignores SIGPIPE, so `kinet status | head -1` would
/// otherwise fail writing to the closed pipe. For the CLI's commands, not for
/// servers, which must survive a peer that went away.
pub fn sigpipe_default() {
    // SAFETY: installing SIG_DFL for SIGPIPE touches no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Unblock all signals and restore default dispositions (ignored signals stay ignored
/// across exec otherwise; Rust ignores SIGPIPE). Async-signal-safe.
unsafe fn reset_signals() {
    // SAFETY: sigset/sigaction structs are zero-initialised and fully set up before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        for sig in 1..65 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}

/// How [`join_with`] / [`join_std_with`] enter a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinOptions {
    /// Working directory inside the pod's mount namespace (default "/").
    pub workdir: Option<PathBuf>,
    /// Start a new session (setsid), e.g. for long-running container processes that must
    /// not get the caller's terminal signals.
    pub setsid: bool,
    /// Give the process a mount namespace of its own, made from the pod's with these
    /// volume mounts (see [`crate::mounts`]).
    pub mounts: Option<ContainerMounts>,
}

/// Namespace descriptors of a target process, opened before fork.
struct Joiner {
    /// (fd, CLONE_NEW* flag), in the order they are entered (mount last).
    fds: Vec<(OwnedFd, libc::c_int)>,
    workdir: CString,
    setsid: bool,
    mounts: Option<mounts::Prepared>,
}

impl Joiner {
    /// `sink`: the write end of a [`Report`] pipe for mount failures.
    fn new(pid: u32, opts: &JoinOptions, sink: Option<OwnedFd>) -> anyhow::Result<Joiner> {
        check_pid(pid)?;
        let mut fds = Vec::new();
        for (name, flag) in [
            ("ipc", libc::CLONE_NEWIPC),
            ("uts", libc::CLONE_NEWUTS),
            ("net", libc::CLONE_NEWNET),
            ("mnt", libc::CLONE_NEWNS),
        ] {
            let path = format!("/proc/{pid}/ns/{name}");
            let f = File::open(&path).with_context(|| format!("open {path}"))?;
            fds.push((OwnedFd::from(f), flag));
        }
        let workdir = opts.workdir.clone().unwrap_or_else(|| PathBuf::from("/"));
        let mounts = match &opts.mounts {
            None => None,
            Some(m) => {
                let points = mounts::mountpoints(pid)?;
                let plan = mounts::plan(m, &points, &mounts::HostView)?;
                Some(mounts::Prepared::new(&plan, sink)?)
            }
        };
        Ok(Joiner {
            fds,
            workdir: cstring(workdir.as_os_str(), "workdir")?,
            setsid: opts.setsid,
            mounts,
        })
    }

    /// Runs in the forked child before exec: async-signal-safe calls only.
    fn enter(&mut self) -> io::Result<()> {
        // SAFETY: setns/chdir/setsid on descriptors and a CString owned by self; no
        // allocation happens here (io::Error from a raw errno does not allocate).
        unsafe {
            for (fd, flag) in &self.fds {
                if libc::setns(fd.as_raw_fd(), *flag) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(m) = &mut self.mounts {
                m.run()?;
            }
            if libc::chdir(self.workdir.as_ptr()) < 0 {
                return Err(io::Error::last_os_error());
            }
            if self.setsid && libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            reset_signals();
        }
        Ok(())
    }
}

/// Make `cmd` enter the net, uts, ipc and mount namespaces of `pid` before it execs, then
/// chdir to `workdir` (default "/"). The namespace files are opened now, so errors such
/// as "no such process" show here, not at spawn.
pub fn join(
    cmd: &mut tokio::process::Command,
    pid: u32,
    workdir: Option<&Path>,
) -> anyhow::Result<()> {
    join_std(cmd.as_std_mut(), pid, workdir)
}

/// [`join`] with options.
pub fn join_with(
    cmd: &mut tokio::process::Command,
    pid: u32,
    opts: &JoinOptions,
) -> anyhow::Result<()> {
    join_std_with(cmd.as_std_mut(), pid, opts)
}

/// [`join_with`] for a container with its own mounts: the returned [`Report`] turns a
/// failed spawn's error into the mount step that failed (`Report::explain`).
pub fn join_container(
    cmd: &mut tokio::process::Command,
    pid: u32,
    opts: &JoinOptions,
) -> anyhow::Result<Report> {
    let (mut report, sink) = Report::pipe()?;
    let j = Joiner::new(pid, opts, Some(sink))?;
    if let Some(p) = &j.mounts {
        report.set_descriptions(p);
    }
    install(cmd.as_std_mut(), j);
    Ok(report)
}

/// [`join`] for `std::process::Command`.
pub fn join_std(
    cmd: &mut std::process::Command,
    pid: u32,
    workdir: Option<&Path>,
) -> anyhow::Result<()> {
    let opts = JoinOptions {
        workdir: workdir.map(Path::to_path_buf),
        ..JoinOptions::default()
    };
    join_std_with(cmd, pid, &opts)
}

/// [`join_std`] with options.
pub fn join_std_with(
    cmd: &mut std::process::Command,
    pid: u32,
    opts: &JoinOptions,
) -> anyhow::Result<()> {
    let j = Joiner::new(pid, opts, None)?;
    install(cmd, j);
    Ok(())
}

/// Run `j.enter()` in `cmd`'s forked child before it execs.
fn install(cmd: &mut std::process::Command, mut j: Joiner) {
    use std::os::unix::process::CommandExt;
    // SAFETY: Joiner::enter only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || j.enter());
    }
}

/// A signal for [`kill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
    Int,
    Hup,
}

impl Signal {
    fn raw(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal as S;
        match self {
            Signal::Term => S::SIGTERM,
            Signal::Kill => S::SIGKILL,
            Signal::Int => S::SIGINT,
            Signal::Hup => S::SIGHUP,
        }
    }
}

/// Refuse pids that `kill(2)` would interpret as groups or that are not real targets.
fn check_pid(pid: u32) -> Result<()> {
    if pid <= 1 || pid > i32::MAX as u32 {
        return Err(Error::Invalid(format!("refusing to act on pid {pid}")));
    }
    Ok(())
}

/// Send `sig` to `pid`. Ok if the process is already gone.
pub fn kill(pid: u32, sig: Signal) -> Result<()> {
    check_pid(pid)?;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig.raw()) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(Error::errno_op(format!("kill {pid} {sig:?}"), e)),
    }
}

/// True if `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    if check_pid(pid).is_err() {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Format: "pid (comm) S ..."; comm may contain spaces and parentheses.
    match stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next())
    {
        Some('Z') | Some('X') | Some('x') => false,
        Some(_) => true,
        None => false,
    }
}

/// SIGTERM, wait up to `grace` for `pid` to go, then SIGKILL and wait (up to 5 s) again.
/// Ok(true) if it is gone.
pub fn terminate(pid: u32, grace: Duration) -> Result<bool> {
    kill(pid, Signal::Term)?;
    if wait_gone(pid, grace) {
        return Ok(true);
    }
    kill(pid, Signal::Kill)?;
    Ok(wait_gone(pid, Duration::from_secs(5)))
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
