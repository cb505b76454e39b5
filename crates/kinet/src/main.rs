//! kinet: Kubernetes networking, with real packets, on one Linux host.

#![forbid(unsafe_code)]

mod apk;
mod cli;
mod client;
mod daemon;
mod kubeconfig;
mod nc;
mod paths;
mod serve;

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
    /// Show a lab: daemon, API address, nodes, pods.
    Status,
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
    /// agnhost's network subcommands.
    #[command(hide = true, disable_help_flag = true)]
    Agnhost {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = kinet_node::plan::check_lab_name(&cli.name) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.cmd {
        Cmd::Pause { .. } => serve::pause(),
        Cmd::Serve { image, ports, text } => serve::serve(&image, &ports, text),
        Cmd::Agnhost { args } => serve::agnhost(&args),
        Cmd::Proxy { args } => return kinet_proxy::run::main(args),
        Cmd::Nc { args } => return ExitCode::from(nc::run(&args) as u8),
        Cmd::Apk { args } => return ExitCode::from(apk::run(&args).clamp(0, 255) as u8),
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
