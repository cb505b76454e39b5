//! The image catalog: there are no images to pull, so an image name selects
//! what a container runs on the host (see DESIGN.md, "Pods and images").

/// What a container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A host program; `busybox` puts busybox's applets first on PATH.
    Exec { argv: Vec<String>, busybox: bool },
    /// One of kinet's own servers (`kinet serve …` / `kinet agnhost …`).
    Builtin { args: Vec<String> },
    /// The image is unknown and has nothing to run: a generic server, and an event saying so.
    Emulated { args: Vec<String> },
}

/// The repository name without registry, tag or digest: `docker.io/library/nginx:1.25` -> `nginx`,
/// `registry.k8s.io/e2e-test-images/agnhost:2.45` -> `e2e-test-images/agnhost`.
pub fn short_name(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let mut parts: Vec<&str> = no_digest.split('/').collect();
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        parts.remove(0);
    }
    if parts.first() == Some(&"library") && parts.len() > 1 {
        parts.remove(0);
    }
    let joined = parts.join("/");
    match joined.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n.to_string(),
        _ => joined,
    }
}

/// The image's tag (`1.28` in `busybox:1.28`), if it names one.
pub fn tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split_once(':').map(|(_, t)| t)
}

/// busybox 1.28 and older (`busybox:1.28`, `busybox:1.27.2-uclibc`): their
/// nslookup walks the whole search path and prints the old format, so those
/// tags get kinet's own (`kinet nslookup`) instead of the host's applet.
pub fn old_busybox(image: &str) -> bool {
    if short_name(image) != "busybox" {
        return false;
    }
    let Some(t) = tag(image) else { return false };
    let mut nums = t.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (nums.next().flatten(), nums.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) <= (1, 28),
        _ => false,
    }
}

fn ports_args(ports: &[u16]) -> Vec<String> {
    ports
        .iter()
        .flat_map(|p| ["--port".to_string(), p.to_string()])
        .collect()
}

/// The system components' images run kinet's own subcommands (DESIGN.md,
/// "System components are pods"): kube-proxy → `kinet proxy`, calico/node →
/// `kinet calico node`, calico/kube-controllers → `kinet calico controllers`,
/// coredns → `kinet dns`. The image's entrypoint binary, when the manifest names it as `command`,
/// is dropped; its flags are kept. calico/cni (calico.yaml's install-cni init
/// container) exits 0: `kinet calico node` writes the node's CNI config itself.
fn system_component(
    name: &str,
    last: &str,
    command: &[String],
    args: &[String],
) -> Option<Program> {
    let sub: &[&str] = match (name, last) {
        (_, "kube-proxy") => &["proxy"],
        (_, "coredns") => &["dns"],
        ("calico/node", _) => &["calico", "node"],
        ("calico/kube-controllers", _) => &["calico", "controllers"],
        ("calico/cni", _) => {
            return Some(Program::Exec {
                argv: vec!["true".to_string()],
                busybox: false,
            });
        }
        _ => return None,
    };
    let binary = |c: &str| {
        let base = c.rsplit('/').next().unwrap_or(c);
        base == last || base.starts_with("calico") || base == "start_runit"
    };
    let mut flags: Vec<String> = command.iter().chain(args).cloned().collect();
    if flags.first().is_some_and(|c| binary(c)) {
        flags.remove(0);
    }
    let mut all: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
    all.extend(flags);
    Some(Program::Builtin { args: all })
}

/// Chooses the program for a container.
pub fn program(image: &str, command: &[String], args: &[String], ports: &[u16]) -> Program {
    let name = short_name(image);
    let last = name.rsplit('/').next().unwrap_or(&name).to_string();
    // an image has an entrypoint and a default command; `command` replaces the
    // entrypoint, `args` the default command
    let given = |entrypoint: &[&str], cmd: &[&str]| -> Vec<String> {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let head = if command.is_empty() {
            own(entrypoint)
        } else {
            command.to_vec()
        };
        let tail = if !args.is_empty() {
            args.to_vec()
        } else if command.is_empty() {
            own(cmd)
        } else {
            Vec::new()
        };
        [head, tail].concat()
    };
    if let Some(p) = system_component(&name, &last, command, args) {
        return p;
    }
    match last.as_str() {
        "busybox" | "alpine" => Program::Exec {
            argv: given(&[], &["sh"]),
            busybox: true,
        },
        "debian" | "ubuntu" | "fedora" | "centos" => Program::Exec {
            argv: given(&[], &["bash"]),
            busybox: false,
        },
        "netshoot" | "dnsutils" | "curl" | "jessie-dnsutils" | "toolbox" => {
            let argv = if last == "curl" {
                given(&["curl"], &[])
            } else {
                given(&[], &["sh"])
            };
            Program::Exec {
                argv,
                busybox: false,
            }
        }
        "pause" => Program::Exec {
            argv: given(&["sleep", "infinity"], &[]),
            busybox: false,
        },
        "agnhost" => {
            if !command.is_empty() {
                // agnhost images are often run with an explicit command (`/agnhost netexec …`)
                let mut all: Vec<String> = command.iter().chain(args.iter()).cloned().collect();
                if all.first().is_some_and(|c| c.ends_with("agnhost")) {
                    all.remove(0);
                    return Program::Builtin {
                        args: [vec!["agnhost".to_string()], all].concat(),
                    };
                }
                return Program::Exec {
                    argv: all,
                    busybox: false,
                };
            }
            let sub = if args.is_empty() {
                vec!["pause".to_string()]
            } else {
                args.to_vec()
            };
            Program::Builtin {
                args: [vec!["agnhost".to_string()], sub].concat(),
            }
        }
        "nginx" | "nginx-unprivileged" | "httpd" | "whoami" | "http-echo" | "echoserver"
        | "hello-app" | "network-multitool" | "caddy" => {
            if !command.is_empty() {
                return Program::Exec {
                    argv: given(&[], &[]),
                    busybox: false,
                };
            }
            let default_port: u16 = match last.as_str() {
                "nginx-unprivileged" | "hello-app" | "echoserver" => 8080,
                "http-echo" => 5678,
                _ => 80,
            };
            let mut p: Vec<u16> = ports.to_vec();
            if !p.contains(&default_port) {
                p.insert(0, default_port);
            }
            let mut a = vec!["serve".to_string(), "--image".to_string(), last.clone()];
            a.extend(ports_args(&p));
            if last == "http-echo" {
                for x in args {
                    if let Some(t) = x.strip_prefix("-text=") {
                        a.extend(["--text".to_string(), t.to_string()]);
                    }
                }
            }
            Program::Builtin { args: a }
        }
        _ => {
            if !command.is_empty() {
                return Program::Exec {
                    argv: given(&[], &[]),
                    busybox: false,
                };
            }
            let mut a = vec!["serve".to_string(), "--image".to_string(), name.clone()];
            a.extend(ports_args(ports));
            Program::Emulated { args: a }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn busybox_tags_up_to_1_28_are_old() {
        for old in [
            "busybox:1.28",
            "busybox:1.28.4",
            "docker.io/library/busybox:1.27.2-uclibc",
            "busybox:1.24",
        ] {
            assert!(old_busybox(old), "{old}");
        }
        for new in [
            "busybox",
            "busybox:latest",
            "busybox:1.36",
            "busybox:1.29.3",
            "busybox:stable",
            "alpine:1.2",
            "localhost:5000/busybox",
        ] {
            assert!(!old_busybox(new), "{new}");
        }
        assert_eq!(tag("localhost:5000/busybox"), None);
        assert_eq!(tag("reg.io:5000/x/busybox:1.28@sha256:ab"), Some("1.28"));
    }

    #[test]
    fn system_images_run_kinet_subcommands() {
        let p = program(
            "registry.k8s.io/kube-proxy:v1.33.0",
            &s(&["/usr/local/bin/kube-proxy", "--config=/c.conf"]),
            &[],
            &[],
        );
        assert_eq!(
            p,
            Program::Builtin {
                args: s(&["proxy", "--config=/c.conf"])
            }
        );
        let p = program("docker.io/calico/node:v3.28.1", &[], &[], &[]);
        assert_eq!(
            p,
            Program::Builtin {
                args: s(&["calico", "node"])
            }
        );
        // MicroK8s's and kubeadm's CoreDNS: args only, or the binary as command
        for image in [
            "coredns/coredns:1.10.1",
            "registry.k8s.io/coredns/coredns:v1.12.0",
        ] {
            let p = program(image, &[], &s(&["-conf", "/etc/coredns/Corefile"]), &[]);
            assert_eq!(
                p,
                Program::Builtin {
                    args: s(&["dns", "-conf", "/etc/coredns/Corefile"])
                }
            );
        }
        let p = program(
            "coredns/coredns",
            &s(&["/coredns"]),
            &s(&["-conf", "/c"]),
            &[],
        );
        assert_eq!(
            p,
            Program::Builtin {
                args: s(&["dns", "-conf", "/c"])
            }
        );
        let p = program("calico/kube-controllers:v3.28.1", &[], &[], &[]);
        assert_eq!(
            p,
            Program::Builtin {
                args: s(&["calico", "controllers"])
            }
        );
        // a user's own image named "node" is not Calico's
        assert!(matches!(
            program("node:20", &s(&["node", "app.js"]), &[], &[]),
            Program::Exec { .. }
        ));
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name("nginx"), "nginx");
        assert_eq!(short_name("docker.io/library/nginx:1.25"), "nginx");
        assert_eq!(short_name("nicolaka/netshoot:latest"), "nicolaka/netshoot");
        assert_eq!(
            short_name("registry.k8s.io/e2e-test-images/agnhost:2.45"),
            "e2e-test-images/agnhost"
        );
        assert_eq!(short_name("localhost:5000/app@sha256:abc"), "app");
    }

    #[test]
    fn busybox_runs_the_manifest_command() {
        let p = program("busybox:1.36", &s(&["sleep", "3600"]), &[], &[]);
        assert_eq!(
            p,
            Program::Exec {
                argv: s(&["sleep", "3600"]),
                busybox: true
            }
        );
        let p = program("busybox", &[], &[], &[]);
        assert_eq!(
            p,
            Program::Exec {
                argv: s(&["sh"]),
                busybox: true
            }
        );
        // kubectl run NAME --image=busybox -- sh -c '…' sets args only: they replace the default command
        let p = program("busybox", &[], &s(&["sh", "-c", "echo hi"]), &[]);
        assert_eq!(
            p,
            Program::Exec {
                argv: s(&["sh", "-c", "echo hi"]),
                busybox: true
            }
        );
        let p = program("curlimages/curl", &[], &s(&["-s", "http://x"]), &[]);
        assert_eq!(
            p,
            Program::Exec {
                argv: s(&["curl", "-s", "http://x"]),
                busybox: false
            }
        );
    }

    #[test]
    fn web_servers_and_agnhost_are_builtin() {
        let p = program("nginx:1.25", &[], &[], &[80]);
        assert_eq!(
            p,
            Program::Builtin {
                args: s(&["serve", "--image", "nginx", "--port", "80"])
            }
        );
        let p = program(
            "registry.k8s.io/e2e-test-images/agnhost:2.45",
            &[],
            &s(&["netexec", "--http-port=8080"]),
            &[],
        );
        assert_eq!(
            p,
            Program::Builtin {
                args: s(&["agnhost", "netexec", "--http-port=8080"])
            }
        );
        let p = program(
            "registry.k8s.io/e2e-test-images/agnhost:2.45",
            &s(&["/agnhost", "serve-hostname"]),
            &[],
            &[],
        );
        assert_eq!(
            p,
            Program::Builtin {
                args: s(&["agnhost", "serve-hostname"])
            }
        );
    }

    #[test]
    fn unknown_images_are_emulated_on_their_ports() {
        let p = program("mycorp/api:2", &[], &[], &[8080, 9090]);
        assert_eq!(
            p,
            Program::Emulated {
                args: s(&[
                    "serve",
                    "--image",
                    "mycorp/api",
                    "--port",
                    "8080",
                    "--port",
                    "9090"
                ])
            }
        );
        let p = program("mycorp/api:2", &s(&["sleep", "10"]), &[], &[]);
        assert_eq!(
            p,
            Program::Exec {
                argv: s(&["sleep", "10"]),
                busybox: false
            }
        );
    }
}
