//! `kinet dns`: CoreDNS's process. Flags as CoreDNS's (`-conf`,
//! `-dns.port`, `-version`, `-plugins`), the startup banner, exit 1 with
//! CoreDNS's wording on a configuration error (so the pod crash-loops and
//! `kubectl logs` says why), SIGTERM with health's lameduck.

mod runtime;

use std::path::PathBuf;
use std::process::ExitCode;

pub use runtime::{Options, Runtime};

/// The CoreDNS release `kinet dns` stands in for.
pub const VERSION: &str = "1.12.0";
pub const GO_VERSION: &str = "go1.23.3";
pub const REVISION: &str = "kinet";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flags {
    pub conf: Option<PathBuf>,
    pub port: Option<u16>,
    pub version: bool,
    pub plugins: bool,
    pub quiet: bool,
}

/// Go's flag package: `-name value`, `-name=value`, `--name value`, booleans alone.
pub fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            return Err(format!("unexpected argument: {a}"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("flag needs an argument: -{name}")),
            }
        };
        match name {
            "conf" => f.conf = Some(PathBuf::from(value(name)?)),
            "dns.port" => {
                let v = value(name)?;
                f.port = Some(v.parse().map_err(|_| {
                    format!("invalid value \"{v}\" for flag -dns.port: parse error")
                })?);
            }
            "version" => f.version = inline.as_deref() != Some("false"),
            "plugins" => f.plugins = inline.as_deref() != Some("false"),
            "quiet" => f.quiet = inline.as_deref() != Some("false"),
            "pidfile" | "cpu" | "memory" | "log_buffer" => {
                value(name)?;
            }
            _ => return Err(format!("flag provided but not defined: -{name}")),
        }
    }
    Ok(f)
}

/// `CoreDNS-1.x.y` and `linux/amd64, go…, rev` as `-version` and the banner print them.
pub fn version_lines() -> String {
    format!(
        "CoreDNS-{VERSION}\n{}/{}, {GO_VERSION}, {REVISION}\n",
        std::env::consts::OS,
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        }
    )
}

fn plugins_list() -> String {
    let mut names: Vec<&str> = crate::corefile::DIRECTIVES.to_vec();
    names.sort();
    let mut s = String::from(
        "Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:\n",
    );
    for n in names {
        s.push_str(&format!("  dns.{n}\n"));
    }
    s
}

/// `kinet dns [flags]`: serves until SIGTERM.
pub fn main(args: Vec<String>) -> ExitCode {
    let flags = match parse_flags(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("Usage of coredns:");
            return ExitCode::from(2);
        }
    };
    if flags.version {
        print!("{}", version_lines());
        return ExitCode::SUCCESS;
    }
    if flags.plugins {
        print!("{}", plugins_list());
        return ExitCode::SUCCESS;
    }
    let conf = flags
        .conf
        .clone()
        .unwrap_or_else(|| PathBuf::from("Corefile"));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            println!("{e}");
            return ExitCode::from(1);
        }
    };
    let opts = Options {
        conf,
        port: flags.port,
        quiet: flags.quiet,
        ..Options::default()
    };
    runtime.block_on(async move {
        let rt = match Runtime::start(opts).await {
            Ok(rt) => rt,
            Err(e) => {
                // CoreDNS's mustLogFatal: the error alone, exit 1.
                println!("{e}");
                return ExitCode::from(1);
            }
        };
        rt.wait_for_signal().await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_as_go_parses_them() {
        let f = parse_flags(&a("-conf /etc/coredns/Corefile -dns.port=1053")).unwrap();
        assert_eq!(f.conf.unwrap().to_str(), Some("/etc/coredns/Corefile"));
        assert_eq!(f.port, Some(1053));
        assert!(parse_flags(&a("--version")).unwrap().version);
        assert_eq!(
            parse_flags(&a("-nope")).unwrap_err(),
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            parse_flags(&a("-conf")).unwrap_err(),
            "flag needs an argument: -conf"
        );
        assert!(version_lines().starts_with(&format!("CoreDNS-{VERSION}\nlinux/")));
    }
}
