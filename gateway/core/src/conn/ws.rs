//! WebSocket as a byte stream, so stream protocols run over it unchanged.
//!
//! Each write becomes one binary message (the driver writes a whole batch of encoded
//! packets at once); received binary messages are concatenated into the byte stream. Text
//! messages are refused unless allowed: MQTT requires binary frames [MQTT-6.0.0-1], STOMP
//! clients send text.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A WebSocket connection seen as bytes.
#[derive(Debug)]
pub struct WsByteStream<S> {
    ws: WebSocketStream<S>,
    pending: Bytes,
    eof: bool,
    allow_text: bool,
    text_output: bool,
}

impl<S> WsByteStream<S> {
    /// Wraps an accepted WebSocket. `allow_text` accepts text messages as bytes;
    /// `text_output` sends text messages instead of binary ones when the bytes are UTF-8
    /// (for text protocols).
    pub fn new(ws: WebSocketStream<S>, allow_text: bool, text_output: bool) -> Self {
        Self { ws, pending: Bytes::new(), eof: false, allow_text, text_output }
    }
}

fn to_io(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(e)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => self.eof = true,
                Some(Ok(Message::Binary(data))) => self.pending = data,
                Some(Ok(Message::Text(text))) => {
                    if !self.allow_text {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "text WebSocket message where binary is required [MQTT-6.0.0-1]",
                        )));
                    }
                    self.pending = Bytes::from(text.as_str().as_bytes().to_vec());
                }
                // Pings are answered by tungstenite itself on the next write or flush.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(to_io)?;
        // Text protocols answer in text messages, unless the bytes are not UTF-8 (a binary
        // STOMP body), which only a binary message can carry unchanged.
        let message = match std::str::from_utf8(data) {
            Ok(text) if self.text_output => Message::Text(text.to_owned().into()),
            _ => Message::Binary(Bytes::copy_from_slice(data)),
        };
        Pin::new(&mut self.ws).start_send(message).map_err(to_io)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(to_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_close(cx).map_err(to_io)
    }
}
