//! MQTT 3.1.1 wire format: the 14 control packets, strictly validated.
//!
//! Decoding borrows from the input (`Packet<'a>` views into the buffer) and
//! allocates nothing; encoding writes into a caller's slice or any [`Output`].

pub mod decode;
mod encode;
mod error;
mod packet;
pub mod topic;
pub mod utf8;
pub mod varint;

pub use decode::{decode, decode_body, decode_control_from_broker, decode_from_broker, parse_fixed_header, FixedHeader};
pub use encode::{Output, WriteError};
pub use error::Error;
pub use packet::*;

/// MQTT's own ceiling on a packet's Remaining Length.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;
