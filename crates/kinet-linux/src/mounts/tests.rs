use super::*;
use std::collections::BTreeMap;

/// A fake filesystem: path → (resolved, is_dir).
struct Fake(BTreeMap<PathBuf, (PathBuf, bool)>);

impl Fake {
    fn new(entries: &[(&str, &str, bool)]) -> Fake {
        Fake(
            entries
                .iter()
                .map(|(p, r, d)| (PathBuf::from(p), (PathBuf::from(r), *d)))
                .collect(),
        )
    }
}

impl View for Fake {
    fn resolve(&self, p: &Path) -> Option<(PathBuf, bool)> {
        if p == Path::new("/") {
            return Some((p.into(), true));
        }
        self.0.get(p).cloned()
    }
    fn present(&self, p: &Path) -> bool {
        self.0.contains_key(p) || p == Path::new("/dangling")
    }
}

fn host() -> Fake {
    Fake::new(&[
        ("/etc", "/etc", true),
        ("/etc/hosts", "/etc/hosts", false),
        ("/run", "/run", true),
        ("/var", "/var", true),
        ("/var/run", "/run", true),
        ("/proc", "/proc", true),
        ("/tmp", "/tmp", true),
        ("/src/cm", "/src/cm", true),
        ("/src/cm/key", "/src/cm/..data/key", false),
        ("/src/empty", "/src/empty", true),
        ("/src/token", "/src/token", true),
    ])
}

fn mps() -> Vec<PathBuf> {
    [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/etc/hosts",
        "/run/netns",
        "/run/user/0",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

fn spec(binds: &[(&str, &str, bool)]) -> ContainerMounts {
    ContainerMounts {
        binds: binds
            .iter()
            .map(|(s, t, ro)| Bind {
                source: s.into(),
                target: t.into(),
                read_only: *ro,
            })
            .collect(),
        scratch: "/run/kinet/lab/pods/u/c".into(),
        layer: None,
    }
}

/// A container with kinet's usual layer.
fn layered(binds: &[(&str, &str, bool)], privileged: bool) -> ContainerMounts {
    ContainerMounts {
        layer: Some(Layer {
            tmpfs: ["/tmp", "/root", "/nosuch"]
                .iter()
                .map(PathBuf::from)
                .collect(),
            overlays: vec!["/run".into()],
            private_dev: true,
            privileged,
        }),
        ..spec(binds)
    }
}

fn layered_host() -> Fake {
    let mut f = host();
    for (p, d) in [
        ("/root", true),
        ("/dev", true),
        ("/dev/null", false),
        ("/dev/tty", false),
        ("/dev/pts", true),
        ("/tmp/host-file", false),
    ] {
        f.0.insert(p.into(), (p.into(), d));
    }
    f
}

fn ops(p: &Plan) -> Vec<String> {
    let prep = Prepared::new(p, None).unwrap();
    (0..prep.ops.len())
        .filter_map(|i| prep.describe(i).map(String::from))
        .collect()
}

#[test]
fn the_layer_is_the_existing_directories_and_a_private_dev() {
    let p = plan(&layered(&[], false), &mps(), &layered_host()).unwrap();
    let l = p.layer.clone().unwrap();
    assert_eq!(
        l.tmpfs,
        [
            (PathBuf::from("/tmp"), 0o755),
            (PathBuf::from("/root"), 0o755)
        ]
    );
    assert_eq!(
        l.dev_nodes,
        [PathBuf::from("/dev/null"), PathBuf::from("/dev/tty")]
    );
    assert!(l.private_dev && l.dev_pts);
    // /run is a writable overlay (the host's files stay visible), with its mounts back
    assert_eq!(p.overlays.len(), 1);
    assert_eq!(p.overlays[0].dir, PathBuf::from("/run"));
    assert!(p.overlays[0].writable);
    let what = ops(&p);
    let pos = |w: &str| {
        what.iter()
            .position(|x| x == w)
            .unwrap_or_else(|| panic!("{w} not in {what:#?}"))
    };
    // clones first, then the layer, then everything read-only, then the writable parts
    assert!(pos("open_tree /dev/null") < pos("mount a tmpfs on /dev"));
    assert!(pos("mount a tmpfs on /dev") < pos("bind mount the host's /dev/null"));
    let ro = pos("make the host's tree read-only");
    assert!(pos("mount a tmpfs on /tmp") < ro);
    for w in [
        "/run",
        "/dev",
        "/dev/null",
        "/dev/pts",
        "/dev/shm",
        "/tmp",
        "/root",
    ] {
        assert!(ro < pos(&format!("make {w} writable")), "{w}");
    }
    assert!(!what.iter().any(|w| w == "make /proc writable"));
}

#[test]
fn privileged_containers_keep_the_hosts_dev_and_writable_kernel_files() {
    let p = plan(&layered(&[], true), &mps(), &layered_host()).unwrap();
    let l = p.layer.clone().unwrap();
    assert!(!l.private_dev && l.dev_nodes.is_empty());
    let what = ops(&p);
    assert!(!what.iter().any(|w| w == "mount a tmpfs on /dev"));
    for w in ["/proc", "/sys", "/dev", "/tmp"] {
        assert!(what.contains(&format!("make {w} writable")), "{w}");
    }
}

#[test]
fn mount_points_in_the_layer_are_made_there_without_an_overlay() {
    let p = plan(
        &layered(
            &[
                (
                    "/src/token",
                    "/var/run/secrets/kubernetes.io/serviceaccount",
                    true,
                ),
                ("/src/empty", "/tmp/host-file/x", false),
                ("/src/cm/key", "/dev/custom/key", true),
            ],
            false,
        ),
        &mps(),
        &layered_host(),
    )
    .unwrap();
    // only the writable /run overlay: the token's directories are made in it, and
    // /tmp's content is the container's (empty) tmpfs, not the host's
    let dirs: Vec<_> = p.overlays.iter().map(|o| o.dir.clone()).collect();
    assert_eq!(dirs, [PathBuf::from("/run")]);
    let t = |src: &str| p.binds.iter().find(|b| b.source == Path::new(src)).unwrap();
    assert_eq!(t("/src/empty").mkdirs, [PathBuf::from("/tmp/host-file")]);
    assert_eq!(t("/src/empty").leaf, Leaf::Dir);
    assert_eq!(t("/src/cm/key").mkdirs, [PathBuf::from("/dev/custom")]);
    assert_eq!(t("/src/cm/key").leaf, Leaf::File);
    let what = ops(&p);
    let pos = |w: &str| what.iter().position(|x| x == w).unwrap();
    // a mount point in the tmpfs is made after it; volumes get their flags last
    assert!(pos("mount a tmpfs on /tmp") < pos("mkdir /tmp/host-file"));
    assert!(pos("make the host's tree read-only") < pos("make /tmp/host-file/x writable"));
    assert!(pos("make /tmp writable") < pos("make /tmp/host-file/x writable"));
    assert!(what.contains(&"make /dev/custom/key read-only".to_string()));
}

#[test]
fn a_missing_mount_point_outside_the_layer_gets_a_read_only_overlay() {
    let p = plan(
        &layered(&[("/src/empty", "/data", false)], false),
        &mps(),
        &layered_host(),
    )
    .unwrap();
    let dirs: Vec<_> = p
        .overlays
        .iter()
        .map(|o| (o.dir.clone(), o.writable))
        .collect();
    assert_eq!(
        dirs,
        [(PathBuf::from("/"), false), (PathBuf::from("/run"), true)]
    );
    let what = ops(&p);
    assert!(!what.iter().any(|w| w == "make / writable"));
    assert!(what.iter().any(|w| w == "make /data writable"));
}

#[test]
fn existing_targets_need_no_overlay() {
    let p = plan(&spec(&[("/src/empty", "/tmp", false)]), &mps(), &host()).unwrap();
    assert!(p.overlays.is_empty());
    assert_eq!(p.binds[0].leaf, Leaf::Exists);
    assert_eq!(p.binds[0].target, PathBuf::from("/tmp"));
}

#[test]
fn missing_targets_overlay_the_nearest_existing_ancestor() {
    let p = plan(
        &spec(&[
            (
                "/src/token",
                "/var/run/secrets/kubernetes.io/serviceaccount",
                true,
            ),
            ("/src/cm", "/etc/config", true),
        ]),
        &mps(),
        &host(),
    )
    .unwrap();
    // /var/run is a symlink to /run: the overlay is on /run, and the mounts under
    // it come back; /etc is on the same filesystem as / but no overlay is on /
    let dirs: Vec<_> = p.overlays.iter().map(|o| o.dir.clone()).collect();
    assert_eq!(dirs, [PathBuf::from("/etc"), PathBuf::from("/run")]);
    assert_eq!(p.overlays[0].submounts, [PathBuf::from("/etc/hosts")]);
    assert_eq!(
        p.overlays[1].submounts,
        [
            PathBuf::from("/run/kinet/lab/pods/u/c"),
            PathBuf::from("/run/netns"),
            PathBuf::from("/run/user/0")
        ]
    );
    let sa = p
        .binds
        .iter()
        .find(|b| b.source == Path::new("/src/token"))
        .unwrap();
    assert_eq!(
        sa.target,
        PathBuf::from("/run/secrets/kubernetes.io/serviceaccount")
    );
    assert_eq!(
        sa.mkdirs,
        [
            PathBuf::from("/run/secrets"),
            PathBuf::from("/run/secrets/kubernetes.io")
        ]
    );
    assert_eq!(sa.leaf, Leaf::Dir);
}

#[test]
fn a_top_level_directory_overlays_the_root_and_covers_the_rest_of_its_filesystem() {
    let p = plan(
        &spec(&[
            ("/src/empty", "/data", false),
            ("/src/cm", "/etc/config", true),
        ]),
        &mps(),
        &host(),
    )
    .unwrap();
    assert_eq!(p.overlays.len(), 1);
    assert_eq!(p.overlays[0].dir, PathBuf::from("/"));
    // only the top-level mounts under / (their children come with them)
    assert_eq!(
        p.overlays[0].submounts,
        [
            PathBuf::from("/dev"),
            PathBuf::from("/etc/hosts"),
            PathBuf::from("/proc"),
            PathBuf::from("/run/kinet/lab/pods/u/c"),
            PathBuf::from("/run/netns"),
            PathBuf::from("/run/user/0"),
        ]
    );
}

#[test]
fn a_separate_filesystem_gets_its_own_overlay_after_the_outer_one() {
    let mut m = mps();
    m.push("/run".into());
    m.sort();
    let p = plan(
        &spec(&[
            ("/src/empty", "/data", false),
            ("/src/token", "/run/secrets/x", true),
        ]),
        &m,
        &host(),
    )
    .unwrap();
    let dirs: Vec<_> = p.overlays.iter().map(|o| o.dir.clone()).collect();
    assert_eq!(dirs, [PathBuf::from("/"), PathBuf::from("/run")]);
    assert!(p.overlays[0].submounts.contains(&PathBuf::from("/run")));
    assert!(
        !p.overlays[0]
            .submounts
            .contains(&PathBuf::from("/run/netns"))
    );
    assert!(
        p.overlays[1]
            .submounts
            .contains(&PathBuf::from("/run/netns"))
    );
    assert!(
        p.overlays[1]
            .submounts
            .contains(&PathBuf::from("/run/kinet/lab/pods/u/c"))
    );
}

#[test]
fn mounts_inside_other_mounts_come_after_them_and_are_made_in_the_volume() {
    let p = plan(
        &spec(&[
            ("/src/cm/key", "/data/conf/app.conf", true),
            ("/src/empty", "/data", false),
        ]),
        &mps(),
        &host(),
    )
    .unwrap();
    assert_eq!(p.binds[0].target, PathBuf::from("/data"));
    assert_eq!(p.binds[1].target, PathBuf::from("/data/conf/app.conf"));
    assert_eq!(p.binds[1].mkdirs, [PathBuf::from("/data/conf")]);
    assert_eq!(p.binds[1].leaf, Leaf::File);
    assert_eq!(p.overlays.len(), 1);
}

#[test]
fn bad_paths_are_refused() {
    assert!(plan(&spec(&[("/src/empty", "rel", false)]), &mps(), &host()).is_err());
    assert!(plan(&spec(&[("/src/empty", "/a/../b", false)]), &mps(), &host()).is_err());
    assert!(plan(&spec(&[("/nosuch", "/tmp", false)]), &mps(), &host()).is_err());
    let e = plan(
        &spec(&[("/src/empty", "/etc/hosts/x", false)]),
        &mps(),
        &host(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    let e = plan(
        &spec(&[("/src/empty", "/dangling/x", false)]),
        &mps(),
        &host(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("dangling"), "{e}");
}

#[test]
fn mountinfo_paths_are_unescaped() {
    let text = "22 27 0:21 / /proc rw - proc proc rw\n30 27 0:27 / /mnt/a\\040b rw - tmpfs t rw\n27 1 254:0 / / rw - ext4 /dev/vda rw\n";
    assert_eq!(
        parse_mountinfo(text),
        [
            PathBuf::from("/"),
            PathBuf::from("/mnt/a b"),
            PathBuf::from("/proc")
        ]
    );
}

#[test]
fn prepared_ops_follow_the_plan() {
    let p = plan(
        &spec(&[("/src/empty", "/data", false), ("/src/cm", "/tmp", true)]),
        &mps(),
        &host(),
    )
    .unwrap();
    let prep = Prepared::new(&p, None).unwrap();
    let what: Vec<&str> = (0..prep.ops.len())
        .filter_map(|i| prep.describe(i))
        .collect();
    assert_eq!(what[0], "unshare the mount namespace");
    assert!(what.contains(&"enter the new root"));
    let overlay = what
        .iter()
        .position(|w| w.starts_with("mount overlay"))
        .unwrap();
    let reroot = what
        .iter()
        .position(|w| *w == "enter the new root")
        .unwrap();
    let put_back = what.iter().position(|w| *w == "put /proc back").unwrap();
    let bind = what
        .iter()
        .position(|w| w.starts_with("bind mount /src/empty"))
        .unwrap();
    assert!(overlay < reroot && reroot < put_back && put_back < bind);
    assert!(what.contains(&"make /tmp read-only"));
    assert_eq!(prep.slots.len(), 2 + p.overlays[0].submounts.len());
}
