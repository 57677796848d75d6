//! What the intake hands its sink: the decoded events of the messages taken off the consumer
//! at once, and the messages that did not decode.

use std::collections::BTreeMap;

use crate::codec::{Codec, DecodeError};
use crate::event::RepoUpdate;

/// An event and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub event: RepoUpdate,
}

/// A message that is no `RepoUpdate` (a tombstone, another producer's data, a damaged or
/// foreign-schema payload): skipped, but the sink should count and log it.
#[derive(Debug)]
pub struct Undecodable {
    pub partition: i32,
    pub offset: i64,
    pub error: DecodeError,
}

/// Messages taken off the consumer together, in the order read. Once the sink has accepted a
/// batch, every message in it, undecodable ones included, counts as handled.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Received>,
    pub undecodable: Vec<Undecodable>,
}

impl Batch {
    /// Decodes one message's payload (`None`: a tombstone) into the batch.
    pub fn push(&mut self, codec: &Codec, partition: i32, offset: i64, payload: Option<&[u8]>) {
        match codec.decode(payload.unwrap_or_default()) {
            Ok(event) => self.events.push(Received {
                partition,
                offset,
                event,
            }),
            Err(error) => self.undecodable.push(Undecodable {
                partition,
                offset,
                error,
            }),
        }
    }

    /// Messages in the batch, decodable or not.
    pub fn len(&self) -> usize {
        self.events.len() + self.undecodable.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per partition, the offset to read next once the batch is handled: one past the highest
    /// offset of the partition in the batch. What the intake stores for commit.
    pub fn next_offsets(&self) -> BTreeMap<i32, i64> {
        let read = self.events.iter().map(|r| (r.partition, r.offset));
        let skipped = self.undecodable.iter().map(|u| (u.partition, u.offset));
        let mut next = BTreeMap::new();
        for (partition, offset) in read.chain(skipped) {
            let n = next.entry(partition).or_insert(offset + 1);
            *n = (*n).max(offset + 1);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_offsets_are_one_past_the_last_message_of_each_partition() {
        let codec = Codec::single_object();
        let event = codec.encode(&RepoUpdate::heartbeat("primary-1")).unwrap();
        let mut batch = Batch::default();
        assert!(batch.is_empty() && batch.next_offsets().is_empty());
        for (partition, offset) in [(0, 7), (2, 3), (0, 8), (2, 4)] {
            batch.push(&codec, partition, offset, Some(&event));
        }
        // Undecodable messages count too: skipped, they must not be read again.
        batch.push(&codec, 0, 9, Some(b"not avro"));
        batch.push(&codec, 1, 40, None);
        assert_eq!(batch.len(), 6);
        assert_eq!((batch.events.len(), batch.undecodable.len()), (4, 2));
        assert_eq!(batch.next_offsets(), BTreeMap::from([(0, 10), (1, 41), (2, 5)]));
        assert!(matches!(batch.undecodable[1].error, DecodeError::Empty));
    }
}
