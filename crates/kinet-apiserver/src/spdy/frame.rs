//! SPDY/3.1 frames: an 8-byte header (control bit, version 3 and type, or a 31-bit
//! stream id; 8 bits of flags; a 24-bit length), then the payload. The codec is
//! pure: the [`Encoder`] and [`Decoder`] each hold one direction's header
//! compression state and nothing else.

use super::headers::{HeaderCompressor, HeaderDecompressor, Headers};
use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const VERSION: u16 = 3;
const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// SETTINGS id of the initial per-stream window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// The window every stream (and, in 3.1, the session) starts with.
pub const DEFAULT_WINDOW: i64 = 64 * 1024;

/// RST_STREAM status codes.
pub mod status {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
}

/// One entry of a SETTINGS frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream: u32,
        associated: u32,
        priority: u8,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Settings {
        clear: bool,
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream: u32,
        delta: u32,
    },
    Data {
        stream: u32,
        fin: bool,
        data: Bytes,
    },
    /// A control frame of a type this server has no use for (NOOP, CREDENTIAL …).
    Other {
        kind: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A control frame of another SPDY version.
    Version(u16),
    /// A frame whose payload does not match its type.
    Malformed(&'static str),
    /// The header block did not decompress.
    Compression(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Version(v) => write!(f, "unsupported SPDY version {v}"),
            Error::Malformed(m) => write!(f, "malformed SPDY frame: {m}"),
            Error::Compression(m) => write!(f, "SPDY header block: {m}"),
        }
    }
}

impl std::error::Error for Error {}

#[derive(Default)]
pub struct Encoder {
    headers: HeaderCompressor,
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, payload: &[u8]) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32((flags as u32) << 24 | payload.len() as u32);
    out.extend_from_slice(payload);
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encode(&mut self, f: &Frame, out: &mut BytesMut) {
        let fin = |b: bool| if b { FLAG_FIN } else { 0 };
        match f {
            Frame::SynStream {
                stream,
                associated,
                priority,
                fin: f,
                unidirectional,
                headers,
            } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.put_u32(associated & 0x7fff_ffff);
                p.put_u8((priority & 0x7) << 5);
                p.put_u8(0);
                p.extend_from_slice(&self.headers.compress(headers));
                let flags = fin(*f)
                    | if *unidirectional {
                        FLAG_UNIDIRECTIONAL
                    } else {
                        0
                    };
                control(out, TYPE_SYN_STREAM, flags, &p);
            }
            Frame::SynReply {
                stream,
                fin: last,
                headers,
            }
            | Frame::Headers {
                stream,
                fin: last,
                headers,
            } => {
                let kind = if matches!(f, Frame::SynReply { .. }) {
                    TYPE_SYN_REPLY
                } else {
                    TYPE_HEADERS
                };
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.extend_from_slice(&self.headers.compress(headers));
                control(out, kind, fin(*last), &p);
            }
            Frame::RstStream { stream, status } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.put_u32(*status);
                control(out, TYPE_RST_STREAM, 0, &p);
            }
            Frame::Settings { clear, entries } => {
                let mut p = Vec::new();
                p.put_u32(entries.len() as u32);
                for e in entries {
                    p.put_u32((e.flags as u32) << 24 | (e.id & 0x00ff_ffff));
                    p.put_u32(e.value);
                }
                control(out, TYPE_SETTINGS, if *clear { 1 } else { 0 }, &p);
            }
            Frame::Ping { id } => control(out, TYPE_PING, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                let mut p = Vec::new();
                p.put_u32(last_good & 0x7fff_ffff);
                p.put_u32(*status);
                control(out, TYPE_GOAWAY, 0, &p);
            }
            Frame::WindowUpdate { stream, delta } => {
                let mut p = Vec::new();
                p.put_u32(stream & 0x7fff_ffff);
                p.put_u32(delta & 0x7fff_ffff);
                control(out, TYPE_WINDOW_UPDATE, 0, &p);
            }
            Frame::Data {
                stream,
                fin: f,
                data,
            } => {
                out.put_u32(stream & 0x7fff_ffff);
                out.put_u32((fin(*f) as u32) << 24 | data.len() as u32);
                out.extend_from_slice(data);
            }
            Frame::Other { kind } => control(out, *kind, 0, &[]),
        }
    }
}

/// Frame parser: takes whole frames off the front of a buffer, whatever the reads
/// that filled it.
#[derive(Default)]
pub struct Decoder {
    headers: HeaderDecompressor,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next frame in `buf`, or `None` until a whole one is there.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            buf.reserve(8 + len - buf.len());
            return Ok(None);
        }
        let mut head = buf.split_to(8);
        let mut p = buf.split_to(len).freeze();
        let first = head.get_u32();
        let flags = head.get_u8();
        if first & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream: first & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: p,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(Error::Version(version));
        }
        let kind = (first & 0xffff) as u16;
        let fin = flags & FLAG_FIN != 0;
        let need = |p: &Bytes, n: usize, what: &'static str| {
            if p.len() < n {
                Err(Error::Malformed(what))
            } else {
                Ok(())
            }
        };
        let f = match kind {
            TYPE_SYN_STREAM => {
                need(&p, 10, "SYN_STREAM")?;
                let stream = p.get_u32() & 0x7fff_ffff;
                let associated = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                p.advance(1);
                Frame::SynStream {
                    stream,
                    associated,
                    priority,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: self.headers.decompress(&p)?,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(&p, 4, "SYN_REPLY/HEADERS")?;
                let stream = p.get_u32() & 0x7fff_ffff;
                let headers = self.headers.decompress(&p)?;
                if kind == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream,
                        fin,
                        headers,
                    }
                }
            }
            TYPE_RST_STREAM => {
                need(&p, 8, "RST_STREAM")?;
                Frame::RstStream {
                    stream: p.get_u32() & 0x7fff_ffff,
                    status: p.get_u32(),
                }
            }
            TYPE_SETTINGS => {
                need(&p, 4, "SETTINGS")?;
                let n = p.get_u32() as usize;
                need(&p, n.saturating_mul(8), "SETTINGS")?;
                let entries = (0..n)
                    .map(|_| {
                        let fi = p.get_u32();
                        Setting {
                            flags: (fi >> 24) as u8,
                            id: fi & 0x00ff_ffff,
                            value: p.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings {
                    clear: flags & 1 != 0,
                    entries,
                }
            }
            TYPE_PING => {
                need(&p, 4, "PING")?;
                Frame::Ping { id: p.get_u32() }
            }
            TYPE_GOAWAY => {
                need(&p, 4, "GOAWAY")?;
                let last_good = p.get_u32() & 0x7fff_ffff;
                // SPDY/2 GOAWAY had no status
                let status = if p.len() >= 4 { p.get_u32() } else { 0 };
                Frame::GoAway { last_good, status }
            }
            TYPE_WINDOW_UPDATE => {
                need(&p, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream: p.get_u32() & 0x7fff_ffff,
                    delta: p.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Other { kind: other },
        };
        Ok(Some(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spdy::headers::h;

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            Frame::SynStream {
                stream: 1,
                associated: 0,
                priority: 3,
                fin: false,
                unidirectional: false,
                headers: h(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynReply {
                stream: 1,
                fin: false,
                headers: vec![],
            },
            Frame::SynStream {
                stream: 3,
                associated: 0,
                priority: 0,
                fin: true,
                unidirectional: false,
                headers: h(&[("streamtype", "data")]),
            },
            Frame::Data {
                stream: 3,
                fin: false,
                data: Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"),
            },
            Frame::Data {
                stream: 3,
                fin: true,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream: 5,
                status: status::CANCEL,
            },
            Frame::Settings {
                clear: false,
                entries: vec![Setting {
                    flags: 0,
                    id: SETTINGS_INITIAL_WINDOW_SIZE,
                    value: 1 << 20,
                }],
            },
            Frame::Ping { id: 7 },
            Frame::GoAway {
                last_good: 9,
                status: 0,
            },
            Frame::Headers {
                stream: 1,
                fin: true,
                headers: h(&[("x", "y")]),
            },
            Frame::WindowUpdate {
                stream: 0,
                delta: 4096,
            },
        ];
        let mut enc = Encoder::new();
        let mut wire = BytesMut::new();
        for f in &frames {
            enc.encode(f, &mut wire);
        }
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        while let Some(f) = dec.decode(&mut wire).unwrap() {
            got.push(f);
        }
        assert_eq!(got, frames);
        assert!(wire.is_empty());
    }

    #[test]
    fn split_reads_yield_whole_frames() {
        let mut enc = Encoder::new();
        let mut wire = BytesMut::new();
        let a = Frame::SynStream {
            stream: 1,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: h(&[("streamtype", "stdout")]),
        };
        let b = Frame::Data {
            stream: 1,
            fin: false,
            data: Bytes::from(vec![7u8; 70_000]),
        };
        enc.encode(&a, &mut wire);
        enc.encode(&b, &mut wire);
        let all = wire.freeze();
        let mut dec = Decoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        // one byte at a time, then in odd-sized chunks
        for chunk in all[..40].chunks(1).chain(all[40..].chunks(997)) {
            buf.extend_from_slice(chunk);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![a, b]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut dec = Decoder::new();
        // SPDY/2 control frame
        let mut b = BytesMut::from(&[0x80, 2, 0, 1, 0, 0, 0, 0][..]);
        assert_eq!(dec.decode(&mut b), Err(Error::Version(2)));
        // PING too short
        let mut b = BytesMut::from(&[0x80, 3, 0, 6, 0, 0, 0, 2, 0, 0][..]);
        assert!(matches!(dec.decode(&mut b), Err(Error::Malformed(_))));
        // a header block that is not zlib
        let mut b = BytesMut::from(&[0x80, 3, 0, 2, 0, 0, 0, 8, 0, 0, 0, 1, 1, 2, 3, 4][..]);
        assert!(matches!(dec.decode(&mut b), Err(Error::Compression(_))));
        // unknown control types are skipped
        let mut b = BytesMut::from(&[0x80, 3, 0, 5, 0, 0, 0, 0][..]);
        assert_eq!(dec.decode(&mut b), Ok(Some(Frame::Other { kind: 5 })));
    }
}
