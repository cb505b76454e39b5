//! `nc` for busybox images, with the options of the busybox build those images
//! ship (-z, -v, -u, -w, -l, -p, -n): Debian's busybox lacks them, and the course
//! tests ports with `nc -zv IP PORT`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opts {
    pub zero: bool,
    pub verbose: bool,
    pub udp: bool,
    pub listen: bool,
    pub wait: Option<u64>,
    pub local_port: Option<u16>,
    pub host: Option<String>,
    pub port: Option<String>,
}

/// Parses busybox-style options (`-zv`, `-w 2`, `-w2`, `-p 80`).
pub fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) {
            let chars: Vec<char> = flags.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                match chars[i] {
                    'z' => o.zero = true,
                    'v' => o.verbose = true,
                    'u' => o.udp = true,
                    'l' => o.listen = true,
                    'n' => {}
                    'w' | 'p' => {
                        let tail: String = chars[i + 1..].iter().collect();
                        let v = if tail.is_empty() {
                            it.next()
                                .cloned()
                                .ok_or(format!("option requires an argument -- '{}'", chars[i]))?
                        } else {
                            tail
                        };
                        let n: u64 = v.parse().map_err(|_| format!("invalid number '{v}'"))?;
                        if chars[i] == 'w' {
                            o.wait = Some(n);
                        } else {
                            o.local_port = Some(n as u16);
                        }
                        break;
                    }
                    c => return Err(format!("invalid option -- '{c}'")),
                }
                i += 1;
            }
        } else {
            rest.push(a.clone());
        }
    }
    o.host = rest.first().cloned();
    o.port = rest.get(1).cloned();
    Ok(o)
}

fn pump(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
        let _ = to.flush();
    }
}

fn errno_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            "Connection timed out".into()
        }
        std::io::ErrorKind::HostUnreachable => "No route to host".into(),
        std::io::ErrorKind::NetworkUnreachable => "Network is unreachable".into(),
        _ => e.to_string(),
    }
}

/// Runs nc; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nc: {e}");
            return 1;
        }
    };
    let wait = o.wait.map(Duration::from_secs);
    if o.listen {
        let port = o
            .local_port
            .or_else(|| o.port.as_deref().and_then(|p| p.parse().ok()))
            .unwrap_or(0);
        let l = match TcpListener::bind(("0.0.0.0", port)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("nc: bind: {}", errno_text(&e));
                return 1;
            }
        };
        if o.verbose {
            eprintln!(
                "listening on [::]:{} ...",
                l.local_addr().map(|a| a.port()).unwrap_or(port)
            );
        }
        let Ok((s, peer)) = l.accept() else { return 1 };
        if o.verbose {
            eprintln!("connect to {} from {}", l.local_addr().unwrap(), peer);
        }
        return converse(s);
    }
    let (Some(host), Some(port)) = (o.host.clone(), o.port.clone()) else {
        eprintln!("Usage: nc [OPTIONS] HOST PORT");
        return 1;
    };
    let addr: SocketAddr = match format!("{host}:{port}")
        .to_socket_addrs()
        .map(|mut a| a.next())
    {
        Ok(Some(a)) => a,
        _ => {
            eprintln!("nc: bad address '{host}'");
            return 1;
        }
    };
    let label = format!("{host} ({addr})");
    if o.udp {
        let sock = match UdpSocket::bind(("0.0.0.0", o.local_port.unwrap_or(0)))
            .and_then(|s| s.connect(addr).map(|_| s))
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("nc: {label}: {}", errno_text(&e));
                return 1;
            }
        };
        if o.zero {
            if o.verbose {
                eprintln!("{label} open");
            }
            return 0;
        }
        let _ = sock.set_read_timeout(Some(wait.unwrap_or(Duration::from_secs(1))));
        let mut input = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut input);
        if !input.is_empty() && sock.send(&input).is_err() {
            return 1;
        }
        let mut buf = [0u8; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            let _ = std::io::stdout().write_all(&buf[..n]);
            let _ = std::io::stdout().flush();
        }
        return 0;
    }
    let conn = match wait {
        Some(w) => TcpStream::connect_timeout(&addr, w),
        None => TcpStream::connect(addr),
    };
    match conn {
        Err(e) => {
            eprintln!("nc: {label}: {}", errno_text(&e));
            1
        }
        Ok(s) => {
            if o.verbose {
                eprintln!("{label} open");
            }
            if o.zero { 0 } else { converse(s) }
        }
    }
}

fn converse(s: TcpStream) -> i32 {
    let Ok(reader) = s.try_clone() else { return 1 };
    let out = std::thread::spawn(move || pump(reader, std::io::stdout()));
    let mut w = s;
    pump(std::io::stdin(), &mut w);
    let _ = w.shutdown(Shutdown::Write);
    let _ = out.join();
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn busybox_style_options() {
        let o = parse(&v(&["-zv", "10.1.1.5", "80"])).unwrap();
        assert!(o.zero && o.verbose && !o.udp);
        assert_eq!(
            (o.host.as_deref(), o.port.as_deref()),
            (Some("10.1.1.5"), Some("80"))
        );
        let o = parse(&v(&["-w", "2", "-u", "h", "53"])).unwrap();
        assert_eq!(o.wait, Some(2));
        assert!(o.udp);
        let o = parse(&v(&["-lp", "8080"])).unwrap();
        assert!(o.listen);
        assert_eq!(o.local_port, Some(8080));
        assert_eq!(parse(&v(&["-w3", "h", "1"])).unwrap().wait, Some(3));
        assert_eq!(
            parse(&v(&["-q", "h", "1"])).unwrap_err(),
            "invalid option -- 'q'"
        );
    }

    #[test]
    fn scans_a_real_port() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port().to_string();
        assert_eq!(run(&v(&["-z", "-w", "1", "127.0.0.1", &port])), 0);
        drop(l);
        assert_eq!(run(&v(&["-z", "-w", "1", "127.0.0.1", &port])), 1);
    }
}
