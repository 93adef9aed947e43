//! An in-memory broker side: scripted input chunks, every write recorded
//! separately, and a simulated millisecond clock that waits advance.

use umqtt_native::driver::{Sink, Transport};

const IN_CAP: usize = 4096;
const OUT_CAP: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// Nothing to read (a non-blocking socket's EAGAIN).
    WouldBlock,
    /// A wait without time limit while no input is scripted: it would hang forever.
    Starved,
    /// The test's buffers are too small.
    Overflow,
}

impl embedded_io::Error for MemError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

pub struct MemIo {
    input: [u8; IN_CAP],
    in_len: usize,
    in_pos: usize,
    /// Ends of the chunks one read may return at most (a read never crosses one).
    chunk_ends: heapless::Deque<usize, 64>,
    /// After the input: the peer closes (read gives 0) instead of "would block".
    pub closed: bool,
    output: [u8; OUT_CAP],
    out_len: usize,
    write_ends: heapless::Vec<usize, 64>,
    /// Largest write accepted at once (partial writes when smaller than a packet).
    pub max_write: usize,
    pub now: u32,
    pub reads: u32,
}

impl MemIo {
    pub fn new() -> Self {
        MemIo {
            input: [0; IN_CAP],
            in_len: 0,
            in_pos: 0,
            chunk_ends: heapless::Deque::new(),
            closed: false,
            output: [0; OUT_CAP],
            out_len: 0,
            write_ends: heapless::Vec::new(),
            max_write: usize::MAX,
            now: 1000,
            reads: 0,
        }
    }

    /// Queues bytes that one read call returns (or several, if the reader's buffer is smaller).
    pub fn push(&mut self, bytes: &[u8]) {
        let end = self.in_len + bytes.len();
        assert!(end <= IN_CAP, "MemIo input overflow");
        self.input[self.in_len..end].copy_from_slice(bytes);
        self.in_len = end;
        let _ = self.chunk_ends.push_back(end);
    }

    pub fn pending_input(&self) -> usize {
        self.in_len - self.in_pos
    }

    /// The bytes of each write call, in order.
    pub fn writes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.write_ends.iter().map(move |&end| {
            let w = &self.output[start..end];
            start = end;
            w
        })
    }

    pub fn write_count(&self) -> usize {
        self.write_ends.len()
    }

    pub fn last_write(&self) -> Option<&[u8]> {
        self.writes().last()
    }

    pub fn clear_writes(&mut self) {
        self.out_len = 0;
        self.write_ends.clear();
    }
}

impl embedded_io::ErrorType for MemIo {
    type Error = MemError;
}

impl embedded_io::Read for MemIo {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, MemError> {
        self.reads += 1;
        let Some(&chunk_end) = self.chunk_ends.front() else {
            return if self.closed { Ok(0) } else { Err(MemError::WouldBlock) };
        };
        let n = buf.len().min(chunk_end - self.in_pos);
        buf[..n].copy_from_slice(&self.input[self.in_pos..self.in_pos + n]);
        self.in_pos += n;
        if self.in_pos == chunk_end {
            self.chunk_ends.pop_front();
        }
        Ok(n)
    }
}

impl embedded_io::Write for MemIo {
    fn write(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        let n = buf.len().min(self.max_write);
        let end = self.out_len + n;
        if end > OUT_CAP {
            return Err(MemError::Overflow);
        }
        self.output[self.out_len..end].copy_from_slice(&buf[..n]);
        self.out_len = end;
        self.write_ends.push(end).map_err(|_| MemError::Overflow)?;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), MemError> {
        Ok(())
    }
}

impl Transport for MemIo {
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, MemError> {
        if writable || self.pending_input() > 0 || self.closed {
            return Ok(true);
        }
        // Nothing will ever arrive: let the simulated time run out, or refuse to hang.
        match timeout_ms {
            Some(ms) => {
                self.now = self.now.wrapping_add(ms);
                Ok(false)
            }
            None => Err(MemError::Starved),
        }
    }

    fn now_ms(&mut self) -> u32 {
        self.now
    }

    fn would_block(err: &MemError) -> bool {
        *err == MemError::WouldBlock
    }
}

/// Collects delivered messages: the last topic and payload, and a count.
pub struct MemSink {
    pub topic: heapless::String<128>,
    pub buf: [u8; 2048],
    pub len: usize,
    pub begun: u32,
    /// Refuse every message (as a failed allocation would).
    pub refuse: bool,
}

impl MemSink {
    pub fn new() -> Self {
        MemSink { topic: heapless::String::new(), buf: [0; 2048], len: 0, begun: 0, refuse: false }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Sink for MemSink {
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool {
        if self.refuse || payload_len > self.buf.len() {
            return false;
        }
        self.topic.clear();
        if self.topic.push_str(topic).is_err() {
            return false;
        }
        self.len = payload_len;
        self.begun += 1;
        true
    }

    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf[..]
    }
}
