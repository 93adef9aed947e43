//! An in-memory broker side for `driver::Client`: a script of input chunks, silences and
//! failures; every write kept apart; a simulated millisecond clock that bounded waits advance;
//! would-block, partial-write and readiness answers on demand; a call budget that catches a
//! driver looping without end.
//!
//! The same [`ScriptedIo`] serves the no_std core-test image ([`MemIo`]: fixed buffers, no
//! allocator) and the host tests (`ScriptedIo<host::Growable>`: `Vec`s, no size limit); only
//! where the bytes are kept differs, through [`Storage`].

use umqtt_native::driver::{Sink, Transport};

// ---- storage ----------------------------------------------------------------

/// A sequence that grows at either end: a `heapless::Vec` on a bare target, a `Vec` on the host.
pub trait Store<T: Copy>: Default {
    /// The items, oldest first.
    fn as_slice(&self) -> &[T];
    /// The items, to change in place.
    fn as_mut_slice(&mut self) -> &mut [T];
    /// Inserts `items` before position `at`; false (and nothing inserted) when they do not fit.
    fn insert(&mut self, at: usize, items: &[T]) -> bool;
    /// Drops the first `n` items.
    fn remove_front(&mut self, n: usize);
    /// Drops every item.
    fn clear(&mut self);

    /// Appends `items`; false when they do not fit.
    fn append(&mut self, items: &[T]) -> bool {
        self.insert(self.as_slice().len(), items)
    }
    /// Takes the first item out.
    fn pop_front(&mut self) -> Option<T> {
        let first = self.as_slice().first().copied()?;
        self.remove_front(1);
        Some(first)
    }
}

impl<T: Copy, const N: usize> Store<T> for heapless::Vec<T, N> {
    fn as_slice(&self) -> &[T] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }
    fn insert(&mut self, at: usize, items: &[T]) -> bool {
        if self.extend_from_slice(items).is_err() {
            return false;
        }
        self[at..].rotate_right(items.len());
        true
    }
    fn remove_front(&mut self, n: usize) {
        let len = self.len();
        self.copy_within(n..len, 0);
        self.truncate(len - n);
    }
    fn clear(&mut self) {
        heapless::Vec::clear(self)
    }
}

/// Where a [`ScriptedIo`] keeps what it was given and what it saw.
pub trait Storage {
    /// Input bytes not yet read (and some already read, until the next compaction).
    type Input: Store<u8>;
    /// The input script.
    type Steps: Store<Step>;
    /// Every byte written.
    type Output: Store<u8>;
    /// Where each write call's bytes end in the output.
    type WriteEnds: Store<usize>;
    /// `(writable, timeout_ms)` of each `wait` call.
    type Waits: Store<(bool, Option<u32>)>;
    /// Scripted answers to the next write calls.
    type WriteSteps: Store<WriteStep>;
    /// Scripted answers to the next waits for writability.
    type Writable: Store<bool>;
}

/// Fixed buffers for a target without an allocator: `IN` bytes of input in flight, `OUT` bytes
/// written between two [`ScriptedIo::clear_writes`]; 256 script steps and write calls; the
/// first 64 waits are logged.
pub struct Fixed<const IN: usize = 4096, const OUT: usize = 4096>;

impl<const IN: usize, const OUT: usize> Storage for Fixed<IN, OUT> {
    type Input = heapless::Vec<u8, IN>;
    type Steps = heapless::Vec<Step, 256>;
    type Output = heapless::Vec<u8, OUT>;
    type WriteEnds = heapless::Vec<usize, 256>;
    type Waits = heapless::Vec<(bool, Option<u32>), 64>;
    type WriteSteps = heapless::Vec<WriteStep, 16>;
    type Writable = heapless::Vec<bool, 16>;
}

/// The transport of the core-test image (and of the shared checks on the host).
pub type MemIo = ScriptedIo<Fixed>;

// ---- the script -------------------------------------------------------------

/// One step of the input script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes that have arrived. One `read` returns bytes of one step only (at most `max_read`).
    Data {
        /// Where the step's bytes end in the input.
        end: usize,
    },
    /// Nothing arrives for a while: a bounded `wait` times out (the clock advances by its
    /// timeout), a `read` reports would-block; either consumes the step. An unbounded wait
    /// skips it.
    Silence,
    /// `read` fails with [`MemError::Broken`].
    Fail,
}

/// How the transport answers one `write` call (when none is scripted: it takes everything,
/// up to `max_write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStep {
    /// Take at most this many bytes.
    Accept(usize),
    /// Report would-block.
    WouldBlock,
    /// Fail with [`MemError::Broken`].
    Fail,
}

/// The transport's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// Nothing to read, or no room to write (a non-blocking socket's EAGAIN).
    WouldBlock,
    /// A scripted failure: the connection broke.
    Broken,
    /// A wait without time limit for something that will never come: it would hang for ever.
    Starved,
    /// The test's fixed buffers are too small for what was written.
    Overflow,
}

impl embedded_io::Error for MemError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            MemError::Broken => embedded_io::ErrorKind::BrokenPipe,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

/// A broker played from a script (see the module docs). Once the script is used up, the
/// connection stays open and silent ([`ScriptedIo::new`]) or reads as closed (`closed`,
/// [`ScriptedIo::hanging_up`]).
pub struct ScriptedIo<S: Storage = Fixed> {
    input: S::Input,
    /// Offset of the next input byte to read.
    read_pos: usize,
    steps: S::Steps,
    output: S::Output,
    write_ends: S::WriteEnds,
    waits: S::Waits,
    write_steps: S::WriteSteps,
    writable: S::Writable,
    /// After the script the peer has closed (read gives 0) instead of staying silent.
    pub closed: bool,
    /// The fake clock (ms); it moves only when a bounded wait times out or a test sets it.
    pub now: u32,
    /// Largest read handed out at once (partial arrivals).
    pub max_read: usize,
    /// Largest write taken at once (partial writes when smaller than a packet).
    pub max_write: usize,
    /// Read calls so far.
    pub reads: u32,
    /// Transport calls left before the double declares the driver stuck in a loop (panics).
    pub budget: usize,
    /// A stream that cannot wait (non-blocking, no poll): waits for input answer ready at once
    /// and reads report silence as would-block.
    pub cannot_wait: bool,
}

impl<S: Storage> Default for ScriptedIo<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Storage> ScriptedIo<S> {
    /// An empty script on an open connection, the clock at 0.
    pub fn new() -> Self {
        ScriptedIo {
            input: Default::default(),
            read_pos: 0,
            steps: Default::default(),
            output: Default::default(),
            write_ends: Default::default(),
            waits: Default::default(),
            write_steps: Default::default(),
            writable: Default::default(),
            closed: false,
            now: 0,
            max_read: usize::MAX,
            max_write: usize::MAX,
            reads: 0,
            budget: 1_000_000,
            cannot_wait: false,
        }
    }

    /// An empty script whose broker hangs up once it is used up: no test can wait for ever.
    pub fn hanging_up() -> Self {
        ScriptedIo { closed: true, ..Self::new() }
    }

    /// Queues bytes that one read call returns (or several, if the reader's buffer or
    /// `max_read` is smaller).
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        self.compact();
        let end = self.input.as_slice().len() + bytes.len();
        assert!(self.input.append(bytes), "ScriptedIo input overflow");
        self.add_step(Step::Data { end });
        self
    }

    /// Queues bytes that arrive before everything scripted so far.
    pub fn push_front(&mut self, bytes: &[u8]) -> &mut Self {
        self.drop_read_steps();
        let at = self.read_pos;
        assert!(self.input.insert(at, bytes), "ScriptedIo input overflow");
        for step in self.steps.as_mut_slice() {
            if let Step::Data { end } = step {
                *end += bytes.len();
            }
        }
        assert!(self.steps.insert(0, &[Step::Data { end: at + bytes.len() }]), "ScriptedIo script overflow");
        self
    }

    /// Queues a pause in which nothing arrives.
    pub fn silence(&mut self) -> &mut Self {
        self.add_step(Step::Silence);
        self
    }

    /// Queues a read that fails.
    pub fn fail(&mut self) -> &mut Self {
        self.add_step(Step::Fail);
        self
    }

    /// Scripts the answers to the next write calls.
    pub fn script_writes(&mut self, answers: &[WriteStep]) -> &mut Self {
        assert!(self.write_steps.append(answers), "ScriptedIo write script overflow");
        self
    }

    /// Scripts the answer to the next wait for writability (false: its timeout passes).
    pub fn script_writable(&mut self, ready: bool) -> &mut Self {
        assert!(self.writable.append(&[ready]), "ScriptedIo writable script overflow");
        self
    }

    /// Input bytes scripted and not yet read.
    pub fn pending_input(&self) -> usize {
        self.input.as_slice().len() - self.read_pos
    }

    /// The bytes of each write call since the last [`Self::clear_writes`], in order.
    pub fn writes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let output = self.output.as_slice();
        let mut start = 0;
        self.write_ends.as_slice().iter().map(move |&end| {
            let w = &output[start..end];
            start = end;
            w
        })
    }

    /// Write calls since the last [`Self::clear_writes`].
    pub fn write_count(&self) -> usize {
        self.write_ends.as_slice().len()
    }

    /// The bytes of the latest write call.
    pub fn last_write(&self) -> Option<&[u8]> {
        self.writes().last()
    }

    /// Forgets the writes so far.
    pub fn clear_writes(&mut self) {
        self.output.clear();
        self.write_ends.clear();
    }

    /// `(writable, timeout_ms)` of each `wait` call so far (on fixed storage, the first ones).
    pub fn waits(&self) -> &[(bool, Option<u32>)] {
        self.waits.as_slice()
    }

    /// Forgets the waits so far.
    pub fn clear_waits(&mut self) {
        self.waits.clear();
    }

    fn add_step(&mut self, step: Step) {
        assert!(self.steps.append(&[step]), "ScriptedIo script overflow");
    }

    /// Once every byte was read, the input starts over: a long test needs room only for
    /// what is in flight.
    fn compact(&mut self) {
        if self.read_pos > 0 && self.pending_input() == 0 {
            self.input.clear();
            self.read_pos = 0;
        }
    }

    fn spend(&mut self) {
        assert!(self.budget > 0, "transport call budget exhausted: the driver loops without end");
        self.budget -= 1;
    }

    /// Drops data steps whose bytes were all read (and empty pushes).
    fn drop_read_steps(&mut self) {
        while matches!(self.steps.as_slice().first(), Some(&Step::Data { end }) if end <= self.read_pos) {
            self.steps.remove_front(1);
        }
    }

    fn wait_readable(&mut self, timeout_ms: Option<u32>) -> Result<bool, MemError> {
        self.drop_read_steps();
        if self.cannot_wait {
            return Ok(true);
        }
        while let Some(&Step::Silence) = self.steps.as_slice().first() {
            self.steps.remove_front(1);
            if let Some(t) = timeout_ms {
                self.now = self.now.wrapping_add(t);
                return Ok(false);
            }
        }
        if !self.steps.as_slice().is_empty() || self.closed {
            return Ok(true); // data, a failure to report, or the end of a closed connection
        }
        // Nothing will ever arrive: let the simulated time run out, or refuse to hang.
        match timeout_ms {
            Some(t) => {
                self.now = self.now.wrapping_add(t);
                Ok(false)
            }
            None => Err(MemError::Starved),
        }
    }

    fn wait_writable(&mut self, timeout_ms: Option<u32>) -> Result<bool, MemError> {
        let ready = self.writable.pop_front().unwrap_or(true);
        if !ready {
            // A socket that never drains, waited on without limit, would hang for ever.
            self.now = self.now.wrapping_add(timeout_ms.ok_or(MemError::Starved)?);
        }
        Ok(ready)
    }
}

impl<S: Storage> embedded_io::ErrorType for ScriptedIo<S> {
    type Error = MemError;
}

impl<S: Storage> embedded_io::Read for ScriptedIo<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, MemError> {
        self.spend();
        self.reads += 1;
        self.drop_read_steps();
        match self.steps.as_slice().first().copied() {
            None if self.closed => Ok(0),
            None => Err(MemError::WouldBlock),
            Some(Step::Silence) => {
                self.steps.remove_front(1);
                Err(MemError::WouldBlock)
            }
            Some(Step::Fail) => {
                self.steps.remove_front(1);
                Err(MemError::Broken)
            }
            Some(Step::Data { end }) => {
                let n = buf.len().min(end - self.read_pos).min(self.max_read);
                buf[..n].copy_from_slice(&self.input.as_slice()[self.read_pos..self.read_pos + n]);
                self.read_pos += n;
                self.drop_read_steps();
                Ok(n)
            }
        }
    }
}

impl<S: Storage> embedded_io::Write for ScriptedIo<S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        self.spend();
        let n = match self.write_steps.pop_front() {
            None => buf.len(),
            Some(WriteStep::Accept(n)) => n.min(buf.len()),
            Some(WriteStep::WouldBlock) => return Err(MemError::WouldBlock),
            Some(WriteStep::Fail) => return Err(MemError::Broken),
        }
        .min(self.max_write);
        if !self.output.append(&buf[..n]) {
            return Err(MemError::Overflow);
        }
        let end = self.output.as_slice().len();
        if !self.write_ends.append(&[end]) {
            return Err(MemError::Overflow);
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), MemError> {
        Ok(())
    }
}

impl<S: Storage> Transport for ScriptedIo<S> {
    fn wait(&mut self, writable: bool, timeout_ms: Option<u32>) -> Result<bool, MemError> {
        self.spend();
        // A full log on fixed storage keeps the first waits: they are the ones checks look at.
        let _ = self.waits.append(&[(writable, timeout_ms)]);
        if writable {
            self.wait_writable(timeout_ms)
        } else {
            self.wait_readable(timeout_ms)
        }
    }

    fn now_ms(&mut self) -> u32 {
        self.spend();
        self.now
    }

    fn would_block(err: &MemError) -> bool {
        *err == MemError::WouldBlock
    }
}

// ---- sink -------------------------------------------------------------------

/// Collects delivered messages in a fixed buffer: the last topic and payload, and a count.
pub struct MemSink {
    /// Topic of the latest message taken.
    pub topic: heapless::String<128>,
    /// Its payload is `buf[..len]`.
    pub buf: [u8; 2048],
    /// Length of the latest payload.
    pub len: usize,
    /// Messages taken so far.
    pub begun: u32,
    /// Refuse every message (as a failed allocation would).
    pub refuse: bool,
}

impl Default for MemSink {
    fn default() -> Self {
        Self::new()
    }
}

impl MemSink {
    /// A sink that takes messages up to 2048 bytes with topics up to 128.
    pub fn new() -> Self {
        MemSink { topic: heapless::String::new(), buf: [0; 2048], len: 0, begun: 0, refuse: false }
    }

    /// The latest payload.
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

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_io::{Read, Write};

    type Small = ScriptedIo<Fixed<16, 16>>;

    #[test]
    fn a_read_never_crosses_a_chunk() {
        let mut io = Small::new();
        io.push(b"abc").push(b"de");
        let mut buf = [0u8; 8];
        assert_eq!(io.read(&mut buf), Ok(3));
        assert_eq!(&buf[..3], b"abc");
        io.max_read = 1;
        assert_eq!(io.read(&mut buf), Ok(1));
        assert_eq!(io.read(&mut buf), Ok(1));
        assert_eq!(io.read(&mut buf), Err(MemError::WouldBlock), "open and silent after the script");
        io.closed = true;
        assert_eq!(io.read(&mut buf), Ok(0));
    }

    #[test]
    fn input_starts_over_once_read_so_fixed_storage_streams() {
        let mut io = Small::new();
        let mut buf = [0u8; 16];
        for round in 0..10u8 {
            io.push(&[round; 12]);
            assert_eq!(io.read(&mut buf), Ok(12));
        }
        assert_eq!(io.pending_input(), 0);
    }

    #[test]
    fn push_front_comes_first() {
        let mut io = Small::new();
        io.push(b"later");
        io.push_front(b"first");
        let mut buf = [0u8; 8];
        assert_eq!(io.read(&mut buf), Ok(5));
        assert_eq!(&buf[..5], b"first");
        assert_eq!(io.read(&mut buf), Ok(5));
        assert_eq!(&buf[..5], b"later");
    }

    #[test]
    fn silence_times_a_bounded_wait_out_and_fail_breaks_a_read() {
        let mut io = Small::new();
        io.silence().fail();
        assert_eq!(io.wait(false, Some(250)), Ok(false));
        assert_eq!(io.now, 250);
        assert_eq!(io.wait(false, None), Ok(true), "a failure to report is readable");
        assert_eq!(io.read(&mut [0u8; 4]), Err(MemError::Broken));
        assert_eq!(io.wait(false, None), Err(MemError::Starved), "an unbounded wait for nothing");
        assert_eq!(io.waits(), &[(false, Some(250)), (false, None), (false, None)]);
    }

    #[test]
    fn writes_are_kept_apart_and_follow_the_script() {
        let mut io = Small::new();
        io.script_writes(&[WriteStep::Accept(2), WriteStep::WouldBlock]);
        assert_eq!(io.write(b"abcd"), Ok(2));
        assert_eq!(io.write(b"cd"), Err(MemError::WouldBlock));
        assert_eq!(io.write(b"cd"), Ok(2));
        assert_eq!(io.write_count(), 2);
        assert_eq!(io.last_write(), Some(&b"cd"[..]));
        assert_eq!(io.write(&[0; 13]), Err(MemError::Overflow), "16 bytes of output");
        io.clear_writes();
        assert_eq!(io.writes().count(), 0);
    }

    #[test]
    fn a_socket_that_never_drains_lets_the_timeout_pass() {
        let mut io = Small::new();
        io.script_writable(false).script_writable(false);
        assert_eq!(io.wait(true, Some(40)), Ok(false));
        assert_eq!(io.now, 40);
        assert_eq!(io.wait(true, None), Err(MemError::Starved));
        assert_eq!(io.wait(true, None), Ok(true));
    }

    #[test]
    fn the_sink_keeps_the_latest_message() {
        let mut sink = MemSink::new();
        assert!(sink.begin("a/b", 3));
        sink.buffer()[..3].copy_from_slice(b"xyz");
        assert_eq!((sink.topic.as_str(), sink.payload(), sink.begun), ("a/b", &b"xyz"[..], 1));
        assert!(!sink.begin("big", 4096));
        sink.refuse = true;
        assert!(!sink.begin("a", 1));
    }
}
