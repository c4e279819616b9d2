//! The streaming decoder.
//!
//! Work is resumable: complete header lines are parsed once and kept, and the search for the
//! body's NULL resumes where it stopped, so a frame trickling in byte by byte costs linear
//! time. Every limit is checked against what is already buffered, so an oversized header
//! line, too many headers or an oversized body are refused before more of them arrives.

use bytes::{Buf, BytesMut};
use nom::Parser;

use super::escape::{unescape, Escaping};
use super::{Command, DecodeError, Decoded, Frame, Version};

type NomErr<'a> = nom::error::Error<&'a [u8]>;

/// Size limits of inbound frames (1.2 §"Size Limits"); EMQX's `gateway.stomp.frame.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Most header lines in one frame (`frame.max_headers`, default 10).
    pub max_headers: usize,
    /// Longest header line, `name:value` without its EOL, in bytes, as on the wire
    /// (escaped) (`frame.max_headers_length`, default 1024).
    pub max_header_length: usize,
    /// Longest body in bytes (`frame.max_body_length`, default 65536).
    pub max_body_length: usize,
    /// Longest frame (command, headers, body, NULL), if limited (default: not limited
    /// beyond what the other three imply).
    pub max_frame_size: Option<usize>,
}

impl Default for FrameLimits {
    /// EMQX's defaults.
    fn default() -> Self {
        Self { max_headers: 10, max_header_length: 1024, max_body_length: 65536, max_frame_size: None }
    }
}

/// What is known about the frame being decoded.
#[derive(Debug, Default)]
struct Progress {
    /// Offset in the buffer of the first line not yet parsed.
    line_start: usize,
    command: Option<Command>,
    headers: Vec<(String, String)>,
    /// Set once the blank line ending the headers was seen.
    body: Option<BodyProgress>,
}

#[derive(Debug)]
struct BodyProgress {
    /// Offset of the body in the buffer.
    start: usize,
    content_length: Option<usize>,
    /// Body bytes already searched for the NULL (no `content-length`).
    scanned: usize,
}

/// Decodes a stream of frames and heart-beat EOLs. Feed it the same buffer, appended to,
/// until it returns a result; it keeps offsets into it between calls.
#[derive(Debug)]
pub struct Decoder {
    limits: FrameLimits,
    version: Version,
    progress: Progress,
}

impl Decoder {
    /// A decoder that unescapes as 1.2 until [`Decoder::set_version`] says otherwise
    /// (CONNECT frames, which come first, are never unescaped).
    pub fn new(limits: FrameLimits) -> Self {
        Self { limits, version: Version::V1_2, progress: Progress::default() }
    }

    /// The version whose escaping rules apply to the following frames.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The version in force.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The limits in force.
    pub fn limits(&self) -> &FrameLimits {
        &self.limits
    }

    /// Decodes the next frame or heart-beat from the front of `buf`, consuming it.
    /// `Ok(None)`: more bytes are needed (nothing consumed). After an error the decoder is
    /// reset, but the stream cannot be resynchronised: close the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, DecodeError> {
        let result = self.decode_inner(buf);
        if result.is_err() {
            self.progress = Progress::default();
        }
        result
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, DecodeError> {
        if self.progress.body.is_none() {
            if self.progress.line_start == 0 {
                // Between frames: EOLs are heart-beats (§"Heart-beating", frame = ... *( EOL )).
                match (buf.first(), buf.get(1)) {
                    (None, _) | (Some(b'\r'), None) => return Ok(None),
                    (Some(b'\n'), _) => {
                        buf.advance(1);
                        return Ok(Some(Decoded::Heartbeat));
                    }
                    (Some(b'\r'), Some(b'\n')) => {
                        buf.advance(2);
                        return Ok(Some(Decoded::Heartbeat));
                    }
                    (Some(b'\r'), Some(_)) => return Err(DecodeError::UnknownCommand),
                    _ => {}
                }
            }
            if !self.parse_head(buf)? {
                return Ok(None);
            }
        }
        self.parse_body(buf)
    }

    /// Parses complete lines of the command and headers; `true` once the blank line is seen.
    fn parse_head(&mut self, buf: &BytesMut) -> Result<bool, DecodeError> {
        let limits = self.limits;
        let p = &mut self.progress;
        loop {
            let rest = &buf[p.line_start..];
            let Ok((_, line)) = nom::bytes::streaming::take_until::<_, _, NomErr<'_>>(&b"\n"[..]).parse(rest) else {
                // Incomplete line: refuse it now if it can only end up too long.
                if p.command.is_none() {
                    if rest.len() > Command::MAX_LEN + 1 {
                        return Err(DecodeError::UnknownCommand);
                    }
                } else {
                    if rest.len() > limits.max_header_length + 1 {
                        return Err(DecodeError::HeaderTooLong { max: limits.max_header_length });
                    }
                    let starts_header = rest.first().is_some_and(|&b| b != b'\r');
                    if starts_header && p.headers.len() >= limits.max_headers {
                        return Err(DecodeError::TooManyHeaders { max: limits.max_headers });
                    }
                }
                if let Some(max) = limits.max_frame_size {
                    if buf.len() > max {
                        return Err(DecodeError::FrameTooLarge { max });
                    }
                }
                return Ok(false);
            };
            let line_len = line.len() + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match p.command {
                None => p.command = Some(Command::from_bytes(line).ok_or(DecodeError::UnknownCommand)?),
                Some(_) if line.is_empty() => {
                    let start = p.line_start + line_len;
                    let content_length = content_length(&p.headers, &limits)?;
                    if let (Some(max), Some(len)) = (limits.max_frame_size, content_length) {
                        if start.saturating_add(len).saturating_add(1) > max {
                            return Err(DecodeError::FrameTooLarge { max });
                        }
                    }
                    p.line_start = start;
                    p.body = Some(BodyProgress { start, content_length, scanned: 0 });
                    return Ok(true);
                }
                Some(command) => {
                    if p.headers.len() >= limits.max_headers {
                        return Err(DecodeError::TooManyHeaders { max: limits.max_headers });
                    }
                    if line.len() > limits.max_header_length {
                        return Err(DecodeError::HeaderTooLong { max: limits.max_header_length });
                    }
                    let escaping = Escaping::for_frame(self.version, command.escapes_headers());
                    p.headers.push(parse_header(line, escaping)?);
                }
            }
            p.line_start += line_len;
        }
    }

    fn parse_body(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, DecodeError> {
        let limits = self.limits;
        let Some(body) = self.progress.body.as_mut() else { return Ok(None) };
        let end = match body.content_length {
            Some(len) => {
                let end = body.start + len;
                match buf.get(end) {
                    None => return Ok(None),
                    Some(0) => end,
                    Some(_) => return Err(DecodeError::MissingNull),
                }
            }
            None => {
                let from = body.start + body.scanned;
                match buf[from..].iter().position(|&b| b == 0) {
                    Some(i) if body.scanned + i <= limits.max_body_length => from + i,
                    Some(_) => return Err(DecodeError::BodyTooLarge { max: limits.max_body_length }),
                    None => {
                        body.scanned = buf.len() - body.start;
                        if body.scanned > limits.max_body_length {
                            return Err(DecodeError::BodyTooLarge { max: limits.max_body_length });
                        }
                        if let Some(max) = limits.max_frame_size {
                            if buf.len() + 1 > max {
                                return Err(DecodeError::FrameTooLarge { max });
                            }
                        }
                        return Ok(None);
                    }
                }
            }
        };
        if let Some(max) = limits.max_frame_size {
            if end + 1 > max {
                return Err(DecodeError::FrameTooLarge { max });
            }
        }
        let start = body.start;
        let progress = std::mem::take(&mut self.progress);
        let whole = buf.split_to(end + 1).freeze();
        let Some(command) = progress.command else { return Ok(None) };
        Ok(Some(Decoded::Frame(Frame { command, headers: progress.headers, body: whole.slice(start..end) })))
    }
}

/// `name:value`, split at the first colon.
fn parse_header(line: &[u8], escaping: Escaping) -> Result<(String, String), DecodeError> {
    let (value, name) = nom::bytes::complete::take_till::<_, _, NomErr<'_>>(|b| b == b':')
        .parse(line)
        .map_err(|_| DecodeError::MissingColon)?;
    let Some(value) = value.strip_prefix(b":") else { return Err(DecodeError::MissingColon) };
    if name.is_empty() {
        return Err(DecodeError::EmptyHeaderName);
    }
    Ok((unescape(name, escaping)?, unescape(value, escaping)?))
}

/// The first `content-length`, checked against the body limit before any body is buffered.
fn content_length(headers: &[(String, String)], limits: &FrameLimits) -> Result<Option<usize>, DecodeError> {
    let Some((_, raw)) = headers.iter().find(|(n, _)| n == "content-length") else { return Ok(None) };
    // 1.0 examples padded values; trimming spaces costs nothing here.
    let digits = raw.trim_matches(' ');
    let parsed: nom::IResult<&str, &str, nom::error::Error<&str>> = nom::character::complete::digit1(digits);
    match parsed {
        Ok(("", _)) => {}
        _ => return Err(DecodeError::InvalidContentLength),
    }
    match digits.parse::<usize>() {
        Ok(len) if len <= limits.max_body_length => Ok(Some(len)),
        _ => Err(DecodeError::BodyTooLarge { max: limits.max_body_length }),
    }
}
