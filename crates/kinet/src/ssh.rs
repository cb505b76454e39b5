//! `kinet ssh HOST [-- CMD...]`: a shell (or one command) on a lab host — node1..nodeN,
//! router, outside or internet — as if logged in there: the host's network namespace,
//! a UTS namespace whose hostname is the host's name, and a private mount namespace in
//! which the host's own /etc/hosts (/var/lib/kinet/LAB/hosts/HOST/etc-hosts, seeded
//! with localhost lines, kept across sessions, editable) and /etc/resolv.conf
//! (…/HOST/resolv.conf, naming the router's resolver, editable too) cover the
//! machine's, and the lab's CA bundle (the machine's plus the lab's CA, which signs
//! the fake internet's sites) covers the machine's bundle. The machine's tools (ip,
//! iptables, sudo, …) are the host's tools. The process becomes the command (exec),
//! so its exit status is kinet's.

use crate::paths::{LabConfig, Paths};
use anyhow::{Context, Result, bail};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The lab's host names, in plan order (router, node1..nodeN, outside), then the internet.
fn host_names(lab: &str, nodes: usize) -> Vec<String> {
    kinet_node::plan::lab(lab, nodes)
        .map(|p| {
            let mut v: Vec<String> = p.hosts.into_iter().map(|h| h.name).collect();
            v.push(kinet_node::plan::INTERNET.to_string());
            v
        })
        .unwrap_or_default()
}

/// The host's /etc/resolv.conf: the router's resolver (the internet uses its own).
pub fn seed_resolv_conf(host: &str) -> String {
    if host == kinet_node::plan::INTERNET {
        format!("nameserver {}\n", kinet_node::internet::PUBLIC_RESOLVERS[0])
    } else {
        kinet_node::internet::host_resolv_conf()
    }
}

/// The files a session binds over the machine's: (source, target), the host's own
/// /etc/hosts and /etc/resolv.conf (created the first time) and the lab's CA bundle.
fn host_files(p: &Paths, host: &str) -> Result<Vec<(PathBuf, PathBuf)>> {
    let dir = p.state.join("hosts").join(host);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut binds = Vec::new();
    for (name, target, seed) in [
        ("etc-hosts", "/etc/hosts", seed_hosts(host)),
        ("resolv.conf", "/etc/resolv.conf", seed_resolv_conf(host)),
    ] {
        let f = dir.join(name);
        if !f.exists() {
            std::fs::write(&f, seed).with_context(|| format!("writing {}", f.display()))?;
        }
        binds.push((f, PathBuf::from(target)));
    }
    let bundle = kinet_node::internet::ca_bundle_path(&p.state);
    let target = PathBuf::from(kinet_node::internet::HOST_CA_BUNDLE);
    if bundle.exists() && target.exists() {
        binds.push((bundle, target));
    }
    Ok(binds)
}

/// The host's own /etc/hosts, as a fresh machine has it.
pub fn seed_hosts(host: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n\n# The following lines are desirable for IPv6 capable hosts\n::1\tip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )
}

/// Resolves HOST for a running lab: its network namespace and the files to bind.
fn resolve(lab: &str, host: &str) -> Result<(PathBuf, Vec<(PathBuf, PathBuf)>)> {
    let p = Paths::new(lab);
    let cfg = LabConfig::load(&p);
    let (Some(_), Some(cfg)) = (p.daemon_pid(), cfg) else {
        bail!("lab {lab:?} is not running (start it with: kinet up)");
    };
    let names = host_names(lab, cfg.nodes);
    if !names.iter().any(|n| n == host) {
        bail!(
            "unknown host {host:?} in lab {lab:?}: the hosts are {}",
            names.join(", ")
        );
    }
    let ns = kinet_node::plan::netns_path(lab, host);
    if !kinet_node::lab::exists(&ns) {
        bail!(
            "host {host} of lab {lab:?} has no network namespace ({} is missing): is the lab starting?",
            ns.display()
        );
    }
    Ok((ns, host_files(&p, host)?))
}

/// Moves this (single-threaded) process into the host: network namespace, new UTS
/// namespace named after it, new mount namespace with its files bound in.
fn enter(ns: &Path, host: &str, binds: &[(PathBuf, PathBuf)]) -> Result<()> {
    let f = std::fs::File::open(ns).with_context(|| format!("opening {}", ns.display()))?;
    nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering {}", ns.display()))?;
    nix::sched::unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNS)
        .context("creating the host's UTS and mount namespaces")?;
    nix::unistd::sethostname(host).context("setting the hostname")?;
    // nothing mounted here reaches the machine; the machine's later mounts still come in
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("making / a slave mount")?;
    for (src, dst) in binds {
        nix::mount::mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .with_context(|| format!("bind-mounting {} over {}", src.display(), dst.display()))?;
    }
    Ok(())
}

/// `kinet ssh HOST [-- CMD...]`. Returns only on error (otherwise the process
/// becomes the shell or the command).
pub fn run(lab: &str, host: &str, command: &[String]) -> ExitCode {
    match run_inner(lab, host, command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(lab: &str, host: &str, command: &[String]) -> Result<ExitCode> {
    if !nix::unistd::geteuid().is_root() {
        bail!("kinet ssh enters the lab's namespaces and needs root: run it with sudo");
    }
    let (ns, binds) = resolve(lab, host)?;
    enter(&ns, host, &binds)?;
    let mut cmd = match command.split_first() {
        Some((prog, args)) => {
            let mut c = Command::new(prog);
            c.args(args);
            c
        }
        None => {
            let shell = std::env::var("SHELL")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "/bin/bash".into());
            let mut c = Command::new(&shell);
            c.arg("-l");
            c
        }
    };
    // `kinet down` ends the sessions of the lab it removes, as a shutdown would
    cmd.env(kinet_node::lab::LAB_ENV, lab)
        .env("HOSTNAME", host)
        .current_dir(std::env::var_os("HOME").unwrap_or_else(|| "/".into()));
    let err = cmd.exec();
    let prog = command.first().map(String::as_str).unwrap_or("shell");
    eprintln!("kinet ssh: {prog}: {err}");
    Ok(ExitCode::from(
        if err.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_router_nodes_and_outside() {
        assert_eq!(
            host_names("demo", 2),
            vec!["router", "node1", "node2", "outside", "internet"]
        );
    }

    #[test]
    fn hosts_resolve_through_the_router() {
        assert_eq!(seed_resolv_conf("node1"), "nameserver 192.168.1.1\n");
        assert_eq!(seed_resolv_conf("internet"), "nameserver 8.8.8.8\n");
    }

    #[test]
    fn seeded_hosts_name_the_host() {
        let s = seed_hosts("outside");
        assert!(s.starts_with("127.0.0.1\tlocalhost\n127.0.1.1\toutside\n"));
    }
}
