//! kinet: Kubernetes networking, with real packets, on one Linux host.

#![forbid(unsafe_code)]

mod addons;
mod apk;
mod cli;
mod client;
mod daemon;
mod internet;
mod kubeconfig;
mod nc;
mod nslookup;
mod paths;
mod serve;
mod ssh;
mod system;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kinet",
    version,
    about = "Kubernetes networking, with real packets, on one Linux host."
)]
struct Cli {
    /// The lab to act on.
    #[arg(long, global = true, default_value = "lab", env = "KINET_NAME")]
    name: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create (or resume) a lab and wait until it is ready.
    Up {
        /// Number of nodes (1 to 9).
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// Manifests to apply once the lab is ready (files or directories of .yaml/.yml/.json).
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Apply the bundled demo app.
        #[arg(long)]
        demo: bool,
        /// Do not touch the user's kubeconfig.
        #[arg(long)]
        no_kubeconfig: bool,
    },
    /// Remove a lab completely: processes, namespaces, links, state.
    Down {
        /// Keep the lab's store and certificates (a later `up` resumes it).
        #[arg(long)]
        keep_state: bool,
    },
    /// Show a lab: daemon, API address, nodes, pods, addons.
    Status,
    /// Turn an addon on (like `microk8s enable`): dns.
    Enable {
        /// The addon.
        addon: String,
    },
    /// Turn an addon off (like `microk8s disable`): dns.
    Disable {
        /// The addon.
        addon: String,
    },
    /// Print the lab's kubeconfig.
    Kubeconfig,
    /// Run the machine's kubectl against the lab (like `microk8s kubectl`).
    #[command(disable_help_flag = true)]
    Kubectl {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a command inside a pod's namespaces directly.
    Exec {
        #[arg(short = 'n', long = "namespace", default_value = "default")]
        namespace: String,
        /// The pod.
        pod: String,
        /// The container whose image decides the PATH (busybox applets for busybox images).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// The command and its arguments (after --).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// A shell (or a command after --) on a lab host: node1..nodeN, router, outside or internet.
    Ssh {
        /// node1..nodeN, router, outside or internet (the fake internet behind the router).
        host: String,
        /// The command and its arguments (after --); default: a login shell.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Calico's processes, as the lab's calico pods run them.
    #[command(hide = true, subcommand)]
    Calico(CalicoCmd),
    /// Run the lab daemon in the foreground (kinet up starts it in the background).
    #[command(hide = true)]
    Daemon {
        #[arg(long, default_value_t = 2)]
        nodes: usize,
    },
    /// Hold a pod's namespaces.
    #[command(hide = true)]
    Pause {
        #[arg(long)]
        lab: String,
        #[arg(long)]
        pod: String,
    },
    /// A built-in web server (stands in for nginx, httpd and unknown images).
    #[command(hide = true)]
    Serve {
        #[arg(long, default_value = "nginx")]
        image: String,
        #[arg(long = "port")]
        ports: Vec<u16>,
        #[arg(long)]
        text: Option<String>,
    },
    /// busybox-style nc (for busybox images).
    #[command(hide = true, disable_help_flag = true)]
    Nc {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// nslookup as busybox 1.28 and older had it (for those busybox tags).
    #[command(hide = true, disable_help_flag = true)]
    Nslookup {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// `apk` for alpine images (packages come from the host).
    #[command(hide = true, disable_help_flag = true)]
    Apk {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// kube-proxy, as the kube-system/kube-proxy DaemonSet runs it (`--config`, `--hostname-override`, `--v`).
    #[command(hide = true, disable_help_flag = true)]
    Proxy {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// CoreDNS, as the kube-system/coredns Deployment runs it (`-conf`, `-dns.port`, `-version`, `-plugins`).
    #[command(hide = true, disable_help_flag = true)]
    Dns {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// agnhost's network subcommands.
    #[command(hide = true, disable_help_flag = true)]
    Agnhost {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum CalicoCmd {
    /// calico-node (DaemonSet kube-system/calico-node): routes, NAT outgoing, ip_forward.
    Node {
        /// This node's name (default: $NODENAME, then the hostname).
        #[arg(long)]
        node_name: Option<String>,
        /// Apply in this network namespace instead of the current one.
        #[arg(long)]
        netns: Option<PathBuf>,
        /// felix's health port (/readiness, /liveness on 127.0.0.1).
        #[arg(long)]
        health_port: Option<u16>,
        /// Exit 0 if the running calico-node is ready (an exec readiness probe,
        /// like `calico-node -felix-ready`), 1 otherwise.
        #[arg(long)]
        felix_ready: bool,
        /// Exit 0 if the running calico-node is live (`calico-node -felix-live`).
        #[arg(long)]
        felix_live: bool,
    },
    /// calico-kube-controllers (Deployment kube-system/calico-kube-controllers).
    Controllers {
        /// Health port (/readiness, /liveness).
        #[arg(long)]
        health_port: Option<u16>,
        /// Exit 0 if the running controllers are ready (`check-status -r`), 1 otherwise.
        #[arg(long)]
        ready: bool,
        /// Exit 0 if the running controllers are live (`check-status -l`), 1 otherwise.
        #[arg(long)]
        live: bool,
    },
}

/// `kinet calico node|controllers`: the processes, or their exec health checks.
fn calico(c: CalicoCmd) -> ExitCode {
    use kinet_calico::{health, run};
    let check = |port: Option<u16>, default: u16, ready: bool| {
        let path = if ready { "/readiness" } else { "/liveness" };
        if health::check("127.0.0.1", port.unwrap_or(default), path) {
            ExitCode::SUCCESS
        } else {
            eprintln!("calico: {path} check failed");
            ExitCode::FAILURE
        }
    };
    let result = match c {
        CalicoCmd::Node {
            health_port,
            felix_ready,
            felix_live,
            ..
        } if felix_ready || felix_live => {
            return check(health_port, health::FELIX_HEALTH_PORT, felix_ready);
        }
        CalicoCmd::Controllers {
            health_port,
            ready,
            live,
        } if ready || live => {
            return check(health_port, health::KUBE_CONTROLLERS_PORT, ready);
        }
        CalicoCmd::Node {
            node_name,
            netns,
            health_port,
            ..
        } => run::block_on(run::node(run::NodeOptions {
            node_name,
            netns,
            health_host: None,
            health_port,
        })),
        CalicoCmd::Controllers { health_port, .. } => {
            run::block_on(run::controllers(run::ControllersOptions {
                health_host: None,
                health_port,
            }))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            kinet_calico::error!(1, "main.go 1", "{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = kinet_node::plan::check_lab_name(&cli.name) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if matches!(
        cli.cmd,
        Cmd::Up { .. }
            | Cmd::Down { .. }
            | Cmd::Status
            | Cmd::Enable { .. }
            | Cmd::Disable { .. }
            | Cmd::Kubeconfig
            | Cmd::Kubectl { .. }
            | Cmd::Exec { .. }
            | Cmd::Ssh { .. }
    ) {
        // a closed output ends the command quietly, as `kubectl … | head` does
        kinet_linux::sandbox::sigpipe_default();
    }
    let result = match cli.cmd {
        Cmd::Pause { .. } => serve::pause(),
        Cmd::Serve { image, ports, text } => serve::serve(&image, &ports, text),
        Cmd::Agnhost { args } => serve::agnhost(&args),
        Cmd::Proxy { args } => return kinet_proxy::run::main(args),
        Cmd::Dns { args } => return kinet_dns::run::main(args),
        Cmd::Nc { args } => return ExitCode::from(nc::run(&args) as u8),
        Cmd::Nslookup { args } => return ExitCode::from(nslookup::run(&args) as u8),
        Cmd::Apk { args } => return ExitCode::from(apk::run(&args).clamp(0, 255) as u8),
        Cmd::Ssh { host, command } => return ssh::run(&cli.name, &host, &command),
        Cmd::Calico(c) => return calico(c),
        Cmd::Daemon { nodes } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("KINET_LOG")
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_ansi(false)
                .init();
            daemon::run(&cli.name, nodes)
        }
        Cmd::Up {
            nodes,
            files,
            demo,
            no_kubeconfig,
        } => cli::up(&cli.name, nodes, &files, demo, !no_kubeconfig),
        Cmd::Down { keep_state } => cli::down(&cli.name, keep_state),
        Cmd::Status => cli::status(&cli.name),
        Cmd::Enable { addon } => return addons::switch(&cli.name, &addon, true),
        Cmd::Disable { addon } => return addons::switch(&cli.name, &addon, false),
        Cmd::Kubeconfig => cli::kubeconfig(&cli.name),
        Cmd::Kubectl { args } => return cli::kubectl(&cli.name, &args),
        Cmd::Exec {
            namespace,
            pod,
            container,
            command,
        } => {
            return cli::exec(&cli.name, &namespace, &pod, container.as_deref(), &command);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
