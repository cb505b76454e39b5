//! SPDY/3 name/value header blocks: a count, then length-prefixed names and
//! values, zlib-compressed with the SPDY/3 dictionary, one zlib stream per
//! direction for the whole connection, each block ending on a sync flush.

use super::frame::Error;
use bytes::{Buf, BufMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::sync::LazyLock;

/// Largest header block accepted after decompression.
const MAX_HEADER_BLOCK: usize = 1 << 20;

/// Header names (lower case) and values (several values joined by NUL).
pub type Headers = Vec<(String, String)>;

/// The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): common
/// header names, each with a 32-bit big-endian length, then a run of common values.
pub fn dictionary() -> &'static [u8] {
    static DICT: LazyLock<Vec<u8>> = LazyLock::new(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
            "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
            "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
            "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
            "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
            "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
        );
        let mut d = Vec::with_capacity(1424);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    });
    &DICT
}

/// Compresses header blocks: one zlib stream for the whole connection.
pub struct HeaderCompressor {
    z: Compress,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(dictionary())
            .expect("a fresh deflate stream takes a dictionary");
        HeaderCompressor { z }
    }

    /// The compressed block for `headers`, ending on a sync flush.
    pub fn compress(&mut self, headers: &Headers) -> Vec<u8> {
        // names must be unique: repeated ones travel as one NUL-separated value
        let mut merged: Vec<(String, String)> = Vec::new();
        for (k, v) in headers {
            let k = k.to_ascii_lowercase();
            match merged.iter_mut().find(|(n, _)| *n == k) {
                Some((_, old)) => {
                    old.push('\0');
                    old.push_str(v);
                }
                None => merged.push((k, v.clone())),
            }
        }
        let mut raw = Vec::new();
        raw.put_u32(merged.len() as u32);
        for (k, v) in &merged {
            raw.put_u32(k.len() as u32);
            raw.extend_from_slice(k.as_bytes());
            raw.put_u32(v.len() as u32);
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.z.total_in();
            self.z
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("deflate into memory");
            input = &input[(self.z.total_in() - before) as usize..];
            // done once all input is taken and the flush left spare room
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// Decompresses header blocks: one zlib stream for the whole connection.
pub struct HeaderDecompressor {
    z: Decompress,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    pub fn new() -> Self {
        HeaderDecompressor {
            z: Decompress::new(true),
        }
    }

    pub fn decompress(&mut self, block: &[u8]) -> Result<Headers, Error> {
        let mut out: Vec<u8> = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 64 {
                if out.len() >= MAX_HEADER_BLOCK {
                    return Err(Error::Compression("header block too large".into()));
                }
                out.reserve(out.capacity().max(256));
            }
            let before = self.z.total_in();
            let res = self
                .z
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            input = &input[(self.z.total_in() - before) as usize..];
            match res {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(dictionary())
                        .map_err(|e| Error::Compression(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(Error::Compression(e.to_string())),
            }
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        parse_header_block(&out)
    }
}

fn parse_header_block(mut b: &[u8]) -> Result<Headers, Error> {
    let bad = Error::Malformed("header block");
    if b.len() < 4 {
        return Err(bad);
    }
    let n = b.get_u32() as usize;
    let mut h = Vec::with_capacity(n.min(64));
    let field = |b: &mut &[u8]| -> Result<String, Error> {
        if b.len() < 4 {
            return Err(Error::Malformed("header block"));
        }
        let len = b.get_u32() as usize;
        if b.len() < len {
            return Err(Error::Malformed("header block"));
        }
        let s = String::from_utf8_lossy(&b[..len]).into_owned();
        b.advance(len);
        Ok(s)
    };
    for _ in 0..n {
        let k = field(&mut b)?;
        let v = field(&mut b)?;
        h.push((k.to_ascii_lowercase(), v));
    }
    Ok(h)
}

/// The value of header `name` (lower case) in `h`.
pub fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or(""))
}

/// Headers from literal pairs, for the spdy tests.
#[cfg(test)]
pub(crate) fn h(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_the_spdy3_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b",*,enq=0."));
    }

    #[test]
    fn header_blocks_share_one_zlib_stream_with_the_dictionary() {
        let mut c = HeaderCompressor::new();
        let first = c.compress(&h(&[("streamtype", "stdin")]));
        // zlib header with FDICT set, then the dictionary's Adler-32
        assert_eq!(first[0] & 0x0f, 8, "deflate");
        assert!(first[1] & 0x20 != 0, "FDICT");
        let second = c.compress(&h(&[("streamtype", "stdin")]));
        // the second block refers back to the first: much shorter, and no zlib header
        assert!(second.len() < first.len(), "{second:?} vs {first:?}");
        let mut d = HeaderDecompressor::new();
        assert_eq!(d.decompress(&first).unwrap(), h(&[("streamtype", "stdin")]));
        assert_eq!(
            d.decompress(&second).unwrap(),
            h(&[("streamtype", "stdin")])
        );
        // a fresh decompressor cannot read the second block alone
        assert!(HeaderDecompressor::new().decompress(&second).is_err());
    }

    #[test]
    fn a_block_made_by_plain_zlib_with_the_dictionary_decodes() {
        // what Go's compress/zlib writes: its own stream, dictionary set, sync flush
        let mut raw = Vec::new();
        raw.put_u32(2);
        for s in ["port", "8080", "streamtype", "data"] {
            raw.put_u32(s.len() as u32);
            raw.extend_from_slice(s.as_bytes());
        }
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(dictionary()).unwrap();
        let mut out = Vec::with_capacity(1024);
        z.compress_vec(&raw, &mut out, FlushCompress::Sync).unwrap();
        let got = HeaderDecompressor::new().decompress(&out).unwrap();
        assert_eq!(got, h(&[("port", "8080"), ("streamtype", "data")]));
        assert_eq!(header(&got, "Port"), Some("8080"));
    }

    #[test]
    fn repeated_header_names_travel_as_one_value() {
        let mut c = HeaderCompressor::new();
        let block = c.compress(&h(&[("a", "1"), ("A", "2")]));
        let got = HeaderDecompressor::new().decompress(&block).unwrap();
        assert_eq!(got, h(&[("a", "1\u{0}2")]));
        assert_eq!(header(&got, "a"), Some("1"));
    }
}
