//! A transport over `std::net::TcpStream` for host programs (tests, benchmarks).
//! Only with the `std` feature; firmware never needs it.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::driver::{Sink, Transport};

/// A TCP connection as a driver transport.
pub struct TcpTransport {
    stream: TcpStream,
    epoch: Instant,
}

impl TcpTransport {
    pub fn new(stream: TcpStream) -> std::io::Result<Self> {
        stream.set_nodelay(true)?;
        Ok(TcpTransport { stream, epoch: Instant::now() })
    }
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// `std::io::Error` wrapped for `embedded_io`.
#[derive(Debug)]
pub struct IoError(pub std::io::Error);

impl embedded_io::Error for IoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.0.kind() {
            ErrorKind::TimedOut => embedded_io::ErrorKind::TimedOut,
            ErrorKind::ConnectionReset => embedded_io::ErrorKind::ConnectionReset,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

impl embedded_io::ErrorType for TcpTransport {
    type Error = IoError;
}

impl embedded_io::Read for TcpTransport {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        self.stream.read(buf).map_err(IoError)
    }
}

impl embedded_io::Write for TcpTransport {
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        self.stream.write(buf).map_err(IoError)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

impl Transport for TcpTransport {
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, IoError> {
        if writable {
            return Ok(true); // writes block until the kernel takes the bytes
        }
        let timeout = match timeout_ms {
            Some(0) => Some(Duration::from_micros(1)),
            Some(ms) => Some(Duration::from_millis(ms.into())),
            None => None,
        };
        self.stream.set_read_timeout(timeout).map_err(IoError)?;
        let ready = match self.stream.peek(&mut [0u8; 1]) {
            Ok(_) => Ok(true), // data, or end of stream: the read will tell
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(e) => Err(IoError(e)),
        };
        self.stream.set_read_timeout(None).map_err(IoError)?;
        ready
    }
    fn now_ms(&mut self) -> u32 {
        self.epoch.elapsed().as_millis() as u32
    }
    fn would_block(err: &IoError) -> bool {
        err.0.kind() == ErrorKind::WouldBlock
    }
}

/// A sink that keeps the last message in a growable buffer.
#[derive(Default)]
pub struct VecSink {
    pub topic: std::string::String,
    pub payload: std::vec::Vec<u8>,
}

impl Sink for VecSink {
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool {
        self.topic.clear();
        self.topic.push_str(topic);
        self.payload.clear();
        self.payload.resize(payload_len, 0);
        true
    }
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.payload
    }
}
