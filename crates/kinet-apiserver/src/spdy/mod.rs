//! SPDY/3.1, the stream multiplexing that kubectl's `exec`, `attach`, `cp` and
//! `port-forward` speak before WebSockets (moby/spdystream on the client, and
//! k8s.io/apimachinery's `httpstream/spdy` upgrade), in three rooms:
//!
//! * [`frame`]: the frame codec (frame types, parse and serialise; pure);
//! * [`headers`]: name/value header blocks, zlib-compressed with the SPDY/3
//!   dictionary, one zlib stream per direction for the whole connection;
//! * [`session`]: a server session over any byte stream (streams, flow control,
//!   PING and GOAWAY), and [`websocket`], the byte stream kubectl tunnels
//!   through a WebSocket.

pub mod frame;
pub mod headers;
pub mod session;
pub mod websocket;

pub use frame::{
    DEFAULT_WINDOW, Decoder, Encoder, Error, Frame, SETTINGS_INITIAL_WINDOW_SIZE, Setting, VERSION,
    status,
};
pub use headers::{HeaderCompressor, HeaderDecompressor, Headers, dictionary, header};
pub use session::{Conn, Stream, StreamReader, StreamWriter, serve};
pub use websocket::websocket_bridge;
