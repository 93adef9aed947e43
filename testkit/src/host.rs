//! Host extras (feature `std`): [`Growable`] storage, so that a [`ScriptedIo`] has no size
//! limit, the writes as `Vec`s, and a sink that keeps every message.

extern crate std;

use std::string::String;
use std::vec;
use std::vec::Vec;

use umqtt_native::driver::Sink;

use crate::mem::{ScriptedIo, Step, Storage, Store, WriteStep};

impl<T: Copy> Store<T> for Vec<T> {
    fn as_slice(&self) -> &[T] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }
    fn insert(&mut self, at: usize, items: &[T]) -> bool {
        self.splice(at..at, items.iter().copied());
        true
    }
    fn remove_front(&mut self, n: usize) {
        self.drain(..n);
    }
    fn clear(&mut self) {
        Vec::clear(self)
    }
}

/// `Vec`s for everything: as much input, output and logging as a test wants.
pub struct Growable;

impl Storage for Growable {
    type Input = Vec<u8>;
    type Steps = Vec<Step>;
    type Output = Vec<u8>;
    type WriteEnds = Vec<usize>;
    type Waits = Vec<(bool, Option<u32>)>;
    type WriteSteps = Vec<WriteStep>;
    type Writable = Vec<bool>;
}

/// The host tests' transport.
pub type HostIo = ScriptedIo<Growable>;

impl<S: Storage> ScriptedIo<S> {
    /// The bytes of each write call since the last clear, as `Vec`s (for `assert_eq!`).
    pub fn written(&self) -> Vec<Vec<u8>> {
        self.writes().map(<[u8]>::to_vec).collect()
    }

    /// [`Self::written`], forgetting them.
    pub fn take_writes(&mut self) -> Vec<Vec<u8>> {
        let writes = self.written();
        self.clear_writes();
        writes
    }
}

/// The byte every payload buffer a [`VecSink`] hands out is filled with (unwritten bytes show).
pub const SINK_FILL: u8 = 0xA5;

/// Keeps every message begun, payload buffers prefilled with [`SINK_FILL`].
#[derive(Debug)]
pub struct VecSink {
    /// `(topic, payload)` of each message taken, in order.
    pub messages: Vec<(String, Vec<u8>)>,
    /// `begin` answers false (the caller refuses messages).
    pub refuse: bool,
    /// Larger messages are refused (fuzzing must not allocate what a corrupt length claims).
    pub max_len: usize,
    /// `begin` calls so far, refused ones included.
    pub begins: usize,
}

impl Default for VecSink {
    fn default() -> Self {
        VecSink { messages: Vec::new(), refuse: false, max_len: usize::MAX, begins: 0 }
    }
}

impl Sink for VecSink {
    fn begin(&mut self, topic: &str, payload_len: usize) -> bool {
        self.begins += 1;
        if self.refuse || payload_len > self.max_len {
            return false;
        }
        self.messages.push((topic.into(), vec![SINK_FILL; payload_len]));
        true
    }
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.messages.last_mut().expect("Sink::buffer called before begin").1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_io::{Read, Write};

    #[test]
    fn growable_storage_has_no_limit() {
        let mut io = HostIo::hanging_up();
        let big = vec![7u8; 200_000];
        io.push(&big);
        let mut buf = vec![0u8; 300_000];
        assert_eq!(io.read(&mut buf), Ok(200_000));
        assert_eq!(io.read(&mut buf), Ok(0), "the broker hung up after its script");
        assert_eq!(io.write(&big), Ok(200_000));
        assert_eq!(io.take_writes(), vec![big]);
        assert!(io.written().is_empty());
    }

    #[test]
    fn vec_sink_keeps_every_message() {
        let mut sink = VecSink::default();
        assert!(sink.begin("a", 2));
        assert_eq!(sink.buffer(), &[SINK_FILL, SINK_FILL]);
        sink.max_len = 1;
        assert!(!sink.begin("b", 2));
        assert_eq!((sink.messages.len(), sink.begins), (1, 2));
    }
}
