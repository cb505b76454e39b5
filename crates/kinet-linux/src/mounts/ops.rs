//! The child side of [`super`]: a plan turned into prepared system calls
//! ([`Prepared::new`]), run between `fork` and `exec` ([`Prepared::run`], all
//! async-signal-safe), and the parent's [`Report`] of the step that failed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use super::{Leaf, Plan};

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

#[derive(Debug)]
pub(super) enum Op {
    Unshare,
    OpenSelfNs,
    MountTmpfs {
        path: CString,
        data: CString,
    },
    Mkdir(CString),
    Touch(CString),
    /// open_tree(2) a copy of the mounts at `path`; `no_symlinks`: refuse a path
    /// with any symbolic link in it (openat2's RESOLVE_NO_SYMLINKS).
    Clone {
        path: CString,
        slot: usize,
        no_symlinks: bool,
    },
    Overlay {
        dir: CString,
        data: CString,
    },
    Reroot,
    Attach {
        slot: usize,
        target: CString,
    },
    Symlink {
        to: CString,
        link: CString,
    },
    /// mount_setattr(2): set and clear `MOUNT_ATTR_*` flags of the mount at `path`.
    SetAttr {
        path: CString,
        set: u64,
        clr: u64,
        recursive: bool,
    },
    Detach(CString),
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;

/// Makes the mount at `path` and every mount below it read-only (mount_setattr(2));
/// -1 with errno on failure. Async-signal-safe.
///
/// # Safety
/// A plain system call on a valid C string.
pub(crate) unsafe fn read_only_tree(path: &std::ffi::CStr) -> libc::c_long {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: path is a valid C string and attr a correctly sized mount_attr.
    unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    }
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A planned mount namespace, ready to be made between `fork` and `exec`.
pub struct Prepared {
    pub(super) ops: Vec<Op>,
    /// What each op does, for error messages.
    what: Vec<String>,
    pub(super) slots: Vec<RawFd>,
    self_ns: RawFd,
    report: Option<OwnedFd>,
}

fn cpath(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .with_context(|| format!("path {} contains a NUL byte", p.display()))
}

impl Prepared {
    /// Turns a plan into system calls. `report` receives the failing op, if any.
    ///
    /// The order: unshare; clone every mount that is needed later (volumes, the host's
    /// device nodes) while the pod's tree is intact; the overlays (a missing mount
    /// point's ancestor, the writable layer's) with the mounts under them put back;
    /// the private `/dev` and tmpfs; the volumes (making their mount points); then,
    /// with a layer, the whole tree read-only and the writable parts writable again
    /// (a mount keeps its flags when it is cloned, so this comes last).
    pub fn new(plan: &Plan, report: Option<OwnedFd>) -> anyhow::Result<Prepared> {
        let mut ops = Vec::new();
        let mut what = Vec::new();
        let mut slots = 0usize;
        let mut push = |op: Op, w: String| {
            ops.push(op);
            what.push(w);
        };
        let tmpfs = |p: &Path, data: &str| -> anyhow::Result<Op> {
            Ok(Op::MountTmpfs {
                path: cpath(p)?,
                data: CString::new(data)?,
            })
        };
        push(Op::Unshare, "unshare the mount namespace".into());
        if plan.overlays.iter().any(|o| o.dir == Path::new("/")) {
            push(Op::OpenSelfNs, "open /proc/self/ns/mnt".into());
        }
        let s = &plan.scratch;
        if !plan.overlays.is_empty() {
            push(
                tmpfs(s, "mode=0700")?,
                format!("mount a tmpfs on {}", s.display()),
            );
            for i in 0..plan.overlays.len() {
                for l in ["u", "w"] {
                    let d = s.join(format!("{l}{i}"));
                    push(Op::Mkdir(cpath(&d)?), format!("mkdir {}", d.display()));
                }
            }
        }
        let mut clone = |push: &mut dyn FnMut(Op, String),
                         p: &Path,
                         no_symlinks: bool|
         -> anyhow::Result<usize> {
            push(
                Op::Clone {
                    path: cpath(p)?,
                    slot: slots,
                    no_symlinks,
                },
                format!("open_tree {}", p.display()),
            );
            slots += 1;
            Ok(slots - 1)
        };
        // a writable volume in a layered container is taken as its path says, with
        // no symbolic link on the way (the caller resolved it): a link a container
        // swapped in meanwhile must not lead a writable mount to the host's files
        let layered = plan.layer.is_some();
        let mut bind_slots = Vec::new();
        for b in &plan.binds {
            bind_slots.push(clone(&mut push, &b.source, layered && !b.read_only)?);
        }
        let layer = plan.layer.clone().unwrap_or_default();
        let mut dev_slots = Vec::new();
        for n in &layer.dev_nodes {
            dev_slots.push(clone(&mut push, n, false)?);
        }
        let pts = Path::new("/dev/pts");
        let pts_slot = if layer.dev_pts {
            Some(clone(&mut push, pts, false)?)
        } else {
            None
        };
        for (i, o) in plan.overlays.iter().enumerate() {
            let mut sub_slots = Vec::new();
            for m in &o.submounts {
                sub_slots.push(clone(&mut push, m, false)?);
            }
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                o.dir.display(),
                s.join(format!("u{i}")).display(),
                s.join(format!("w{i}")).display()
            );
            push(
                Op::Overlay {
                    dir: cpath(&o.dir)?,
                    data: CString::new(data.clone())?,
                },
                format!("mount overlay ({data}) on {}", o.dir.display()),
            );
            if o.dir == Path::new("/") {
                push(Op::Reroot, "enter the new root".into());
            }
            for (m, slot) in o.submounts.iter().zip(sub_slots) {
                push(
                    Op::Attach {
                        slot,
                        target: cpath(m)?,
                    },
                    format!("put {} back", m.display()),
                );
            }
        }
        if !plan.overlays.is_empty() {
            push(Op::Detach(cpath(s)?), format!("unmount {}", s.display()));
        }
        // paths made writable again once the tree is read-only: (path, recursive)
        let mut writable: Vec<(PathBuf, bool)> = plan
            .overlays
            .iter()
            .filter(|o| o.writable)
            .map(|o| (o.dir.clone(), false))
            .collect();
        if layer.private_dev {
            let dev = Path::new("/dev");
            push(
                tmpfs(dev, "mode=0755,size=65536k")?,
                "mount a tmpfs on /dev".into(),
            );
            writable.push((dev.into(), false));
            for (n, slot) in layer.dev_nodes.iter().zip(dev_slots) {
                push(Op::Touch(cpath(n)?), format!("create {}", n.display()));
                push(
                    Op::Attach {
                        slot,
                        target: cpath(n)?,
                    },
                    format!("bind mount the host's {}", n.display()),
                );
                writable.push((n.clone(), false));
            }
            if let Some(slot) = pts_slot {
                push(Op::Mkdir(cpath(pts)?), "mkdir /dev/pts".into());
                push(
                    Op::Attach {
                        slot,
                        target: cpath(pts)?,
                    },
                    "bind mount the host's /dev/pts".into(),
                );
                writable.push((pts.into(), false));
            }
            let shm = Path::new("/dev/shm");
            push(Op::Mkdir(cpath(shm)?), "mkdir /dev/shm".into());
            push(
                tmpfs(shm, "mode=1777,size=65536k")?,
                "mount a tmpfs on /dev/shm".into(),
            );
            writable.push((shm.into(), false));
            for (link, to) in [
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
            ] {
                let l = dev.join(link);
                push(
                    Op::Symlink {
                        to: CString::new(to)?,
                        link: cpath(&l)?,
                    },
                    format!("symlink {} -> {to}", l.display()),
                );
            }
        }
        for (d, mode) in &layer.tmpfs {
            push(
                tmpfs(d, &format!("mode={mode:04o}"))?,
                format!("mount a tmpfs on {}", d.display()),
            );
            writable.push((d.clone(), false));
        }
        if layer.privileged {
            for k in ["/proc", "/sys", "/dev"] {
                writable.push((k.into(), true));
            }
        }
        for (b, slot) in plan.binds.iter().zip(bind_slots) {
            for d in &b.mkdirs {
                push(Op::Mkdir(cpath(d)?), format!("mkdir {}", d.display()));
            }
            match b.leaf {
                Leaf::Exists => {}
                Leaf::Dir => push(
                    Op::Mkdir(cpath(&b.target)?),
                    format!("mkdir {}", b.target.display()),
                ),
                Leaf::File => push(
                    Op::Touch(cpath(&b.target)?),
                    format!("create {}", b.target.display()),
                ),
            }
            push(
                Op::Attach {
                    slot,
                    target: cpath(&b.target)?,
                },
                format!(
                    "bind mount {} on {}",
                    b.source.display(),
                    b.target.display()
                ),
            );
        }
        if plan.layer.is_some() {
            push(
                Op::SetAttr {
                    path: c"/".into(),
                    set: MOUNT_ATTR_RDONLY,
                    clr: 0,
                    recursive: true,
                },
                "make the host's tree read-only".into(),
            );
            for (p, recursive) in &writable {
                push(
                    Op::SetAttr {
                        path: cpath(p)?,
                        set: 0,
                        clr: MOUNT_ATTR_RDONLY,
                        recursive: *recursive,
                    },
                    format!("make {} writable", p.display()),
                );
            }
        }
        // each volume as its mount asks, in order (an inner mount after its outer one)
        for b in &plan.binds {
            let (set, clr, w) = if b.read_only {
                (MOUNT_ATTR_RDONLY, 0, "read-only")
            } else {
                (0, MOUNT_ATTR_RDONLY, "writable")
            };
            if b.read_only || plan.layer.is_some() {
                push(
                    Op::SetAttr {
                        path: cpath(&b.target)?,
                        set,
                        clr,
                        recursive: false,
                    },
                    format!("make {} {w}", b.target.display()),
                );
            }
        }
        Ok(Prepared {
            ops,
            what,
            slots: vec![-1; slots],
            self_ns: -1,
            report,
        })
    }

    /// Makes the mounts. Runs in the forked child: async-signal-safe calls only (no
    /// allocation: every buffer was made by [`Prepared::new`]).
    pub fn run(&mut self) -> io::Result<()> {
        for i in 0..self.ops.len() {
            if let Err(e) = self.step(i) {
                if let Some(r) = &self.report {
                    let rec = [
                        (i as u32).to_ne_bytes(),
                        (e.raw_os_error().unwrap_or(0) as u32).to_ne_bytes(),
                    ];
                    let bytes: [u8; 8] = [
                        rec[0][0], rec[0][1], rec[0][2], rec[0][3], rec[1][0], rec[1][1],
                        rec[1][2], rec[1][3],
                    ];
                    // SAFETY: an 8-byte write from a stack buffer to a pipe.
                    unsafe { libc::write(r.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn step(&mut self, i: usize) -> io::Result<()> {
        let check = |r: libc::c_long| {
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r)
            }
        };
        let empty = c"";
        // SAFETY: plain system calls on CStrings and descriptors owned by self; no
        // allocation happens here.
        unsafe {
            match &self.ops[i] {
                Op::Unshare => {
                    check(libc::unshare(libc::CLONE_NEWNS) as _)?;
                }
                Op::OpenSelfNs => {
                    let fd = check(libc::open(
                        c"/proc/self/ns/mnt".as_ptr(),
                        libc::O_RDONLY | libc::O_CLOEXEC,
                    ) as _)?;
                    self.self_ns = fd as RawFd;
                }
                Op::MountTmpfs { path, data } => {
                    check(libc::mount(
                        c"tmpfs".as_ptr(),
                        path.as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        data.as_ptr().cast(),
                    ) as _)?;
                }
                Op::Mkdir(p) => {
                    if libc::mkdir(p.as_ptr(), 0o755) < 0 {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::EEXIST) {
                            return Err(e);
                        }
                    }
                }
                Op::Touch(p) => {
                    let fd = check(libc::open(
                        p.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                        0o644,
                    ) as _)?;
                    libc::close(fd as RawFd);
                }
                Op::Clone {
                    path,
                    slot,
                    no_symlinks,
                } => {
                    let flags = OPEN_TREE_CLONE
                        | libc::O_CLOEXEC as libc::c_uint
                        | libc::AT_RECURSIVE as libc::c_uint;
                    let fd = if *no_symlinks {
                        let mut how: libc::open_how = std::mem::zeroed();
                        how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
                        how.resolve = RESOLVE_NO_SYMLINKS;
                        let at = check(libc::syscall(
                            libc::SYS_openat2,
                            libc::AT_FDCWD,
                            path.as_ptr(),
                            &how as *const libc::open_how,
                            std::mem::size_of::<libc::open_how>(),
                        ))? as RawFd;
                        let fd = libc::syscall(
                            libc::SYS_open_tree,
                            at,
                            empty.as_ptr(),
                            flags | libc::AT_EMPTY_PATH as libc::c_uint,
                        );
                        let e = io::Error::last_os_error();
                        libc::close(at);
                        if fd < 0 {
                            return Err(e);
                        }
                        fd
                    } else {
                        check(libc::syscall(
                            libc::SYS_open_tree,
                            libc::AT_FDCWD,
                            path.as_ptr(),
                            flags,
                        ))?
                    };
                    self.slots[*slot] = fd as RawFd;
                }
                Op::Overlay { dir, data } => {
                    check(libc::mount(
                        c"overlay".as_ptr(),
                        dir.as_ptr(),
                        c"overlay".as_ptr(),
                        0,
                        data.as_ptr().cast(),
                    ) as _)?;
                }
                Op::Reroot => {
                    check(libc::setns(self.self_ns, libc::CLONE_NEWNS) as _)?;
                }
                Op::Attach { slot, target } => {
                    check(libc::syscall(
                        libc::SYS_move_mount,
                        self.slots[*slot],
                        empty.as_ptr(),
                        libc::AT_FDCWD,
                        target.as_ptr(),
                        MOVE_MOUNT_F_EMPTY_PATH,
                    ))?;
                }
                Op::Symlink { to, link } => {
                    if libc::symlink(to.as_ptr(), link.as_ptr()) < 0 {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::EEXIST) {
                            return Err(e);
                        }
                    }
                }
                Op::SetAttr {
                    path,
                    set,
                    clr,
                    recursive,
                } => {
                    let attr = MountAttr {
                        attr_set: *set,
                        attr_clr: *clr,
                        propagation: 0,
                        userns_fd: 0,
                    };
                    let flags = if *recursive {
                        libc::AT_RECURSIVE as libc::c_uint
                    } else {
                        0
                    };
                    check(libc::syscall(
                        libc::SYS_mount_setattr,
                        libc::AT_FDCWD,
                        path.as_ptr(),
                        flags,
                        &attr as *const MountAttr,
                        std::mem::size_of::<MountAttr>(),
                    ))?;
                }
                Op::Detach(p) => {
                    check(libc::umount2(p.as_ptr(), libc::MNT_DETACH) as _)?;
                }
            }
        }
        Ok(())
    }

    /// The description of op `i`.
    pub fn describe(&self, i: usize) -> Option<&str> {
        self.what.get(i).map(String::as_str)
    }
}

/// The parent's end of a [`Prepared`]'s report pipe: says which mount step failed.
#[derive(Debug)]
pub struct Report {
    read: OwnedFd,
    what: Vec<String>,
}

impl Report {
    /// A pipe for `prepared`'s failures (call before handing `prepared` to the child).
    pub fn pipe() -> anyhow::Result<(Report, OwnedFd)> {
        let (rd, wr) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .context("pipe2")?;
        Ok((
            Report {
                read: rd,
                what: Vec::new(),
            },
            wr,
        ))
    }

    pub(crate) fn set_descriptions(&mut self, p: &Prepared) {
        self.what = p.what.clone();
    }

    /// Explains a failed spawn: the mount step that failed, or the error as it is.
    pub fn explain(&self, e: io::Error) -> anyhow::Error {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a stack buffer from a non-blocking pipe.
        let n = unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        if n == 8 {
            let op = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
            let errno = u32::from_ne_bytes(buf[4..8].try_into().unwrap()) as i32;
            let what = self
                .what
                .get(op)
                .cloned()
                .unwrap_or_else(|| format!("mount step {op}"));
            return anyhow!("{what}: {}", io::Error::from_raw_os_error(errno));
        }
        anyhow::Error::from(e)
    }
}
