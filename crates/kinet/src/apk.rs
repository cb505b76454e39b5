//! `apk` for alpine images. kinet pods run the host's programs, so the tools the
//! course installs with `apk add --no-cache curl bind-tools` are already there:
//! `apk add` checks that each package's programs exist on the host and says so in
//! apk's own words; a package kinet cannot provide fails as apk fails for a
//! package that does not exist. The lab is sealed: nothing is downloaded.

use std::path::Path;

/// Alpine packages and the programs that make them present on the host.
const PACKAGES: &[(&str, &[&str])] = &[
    ("curl", &["curl"]),
    ("bind-tools", &["dig", "nslookup", "host"]),
    ("drill", &["dig"]),
    ("iputils", &["ping"]),
    ("iputils-ping", &["ping"]),
    ("busybox-extras", &["telnet"]),
    ("inetutils-telnet", &["telnet"]),
    ("netcat-openbsd", &["nc"]),
    ("tcpdump", &["tcpdump"]),
    ("iperf3", &["iperf3"]),
    ("iproute2", &["ip"]),
    ("traceroute", &["traceroute"]),
    ("bash", &["bash"]),
    ("wget", &["wget"]),
    ("openssl", &["openssl"]),
    ("jq", &["jq"]),
    ("nftables", &["nft"]),
    ("iptables", &["iptables"]),
    ("socat", &["socat"]),
    ("nmap", &["nmap"]),
    ("mtr", &["mtr"]),
    ("ca-certificates", &[]),
];

/// What `apk add PKGS` does, given a test for "is this program on the host":
/// (stdout, stderr, exit code).
pub fn add(pkgs: &[&str], have: impl Fn(&str) -> bool) -> (String, String, i32) {
    let mut missing = Vec::new();
    for p in pkgs {
        let ok = PACKAGES
            .iter()
            .find(|(name, _)| name == p)
            .is_some_and(|(_, progs)| progs.iter().all(|x| have(x)));
        if !ok {
            missing.push(*p);
        }
    }
    if !missing.is_empty() {
        let mut err = String::from("ERROR: unable to select packages:\n");
        for m in &missing {
            err.push_str(&format!(
                "  {m} (no such package):\n    required by: world[{m}]\n"
            ));
        }
        return (String::new(), err, missing.len() as i32);
    }
    let mut out = String::new();
    for (i, p) in pkgs.iter().enumerate() {
        out.push_str(&format!(
            "({}/{}) Installing {p} (from the host)\n",
            i + 1,
            pkgs.len()
        ));
    }
    out.push_str(&format!(
        "OK: {} packages provided by the kinet host, nothing downloaded\n",
        pkgs.len()
    ));
    (out, String::new(), 0)
}

/// Runs `apk ARGS`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let (cmd, rest) = match words.split_first() {
        Some((c, r)) => (*c, r),
        None => {
            eprintln!("usage: apk [<OPTIONS>...] COMMAND [<ARGUMENTS>...]");
            return 1;
        }
    };
    let pkgs: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    match cmd {
        "add" => {
            let path = std::env::var("PATH").unwrap_or_default();
            let have = |prog: &str| path.split(':').any(|d| Path::new(d).join(prog).is_file());
            let (out, err, code) = add(&pkgs, have);
            print!("{out}");
            eprint!("{err}");
            code
        }
        "update" => {
            println!("OK: the kinet lab is sealed; packages come from the host");
            0
        }
        "del" | "info" | "search" | "list" => {
            println!("OK: 0 MiB in 0 packages");
            0
        }
        other => {
            eprintln!("apk: applet not found: {other}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_what_the_host_has() {
        let (out, err, code) = add(&["curl", "bind-tools"], |_| true);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("(1/2) Installing curl"));
        assert!(out.contains("(2/2) Installing bind-tools"));
    }

    #[test]
    fn unknown_or_absent_packages_fail_as_apk_does() {
        let (_, err, code) = add(&["curl", "nope"], |_| true);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "ERROR: unable to select packages:\n  nope (no such package):\n    required by: world[nope]\n"
        );
        let (_, err, code) = add(&["bind-tools"], |p| p != "host");
        assert_eq!(code, 1);
        assert!(err.contains("bind-tools (no such package)"));
    }
}
