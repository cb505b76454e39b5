//! The tiny HTTP/1.1 servers of health (`/health`), ready (`/ready`) and
//! prometheus (`/metrics`): one request per connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// (status, content type, body) for a path.
pub type Route = Arc<dyn Fn(&str) -> (u16, &'static str, String) + Send + Sync>;

pub async fn serve(listener: TcpListener, route: Route) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let route = route.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            while len < buf.len() {
                match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf[len..])).await
                {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let path = path.split('?').next().unwrap_or("/");
            let (code, ctype, body) = route(path);
            let reason = match code {
                200 => "OK",
                503 => "Service Unavailable",
                _ => "Not Found",
            };
            let resp = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

/// `:8080` → 0.0.0.0:8080, `localhost:9153` → 127.0.0.1:9153.
pub fn addr(s: &str) -> Option<std::net::SocketAddr> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = match host {
        "" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h.parse().ok()?,
    };
    Some((ip, port).into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses() {
        assert_eq!(super::addr(":8080").unwrap().to_string(), "0.0.0.0:8080");
        assert_eq!(
            super::addr("localhost:9153").unwrap().to_string(),
            "127.0.0.1:9153"
        );
        assert_eq!(super::addr("[::1]:8181").unwrap().to_string(), "[::1]:8181");
        assert!(super::addr("nope").is_none());
    }
}
