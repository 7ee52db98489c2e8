//! Rows set aside while the log is read, for reports that write them grouped (per prompt,
//! per environment) after the whole log is seen: records kept in memory up to a budget and
//! then moved, group by group, onto an anonymous temporary file, so that an export holds a
//! bounded buffer and an index per group, never every row, whatever the log's length.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bytes of records held in memory before they are moved to the file.
const BUDGET: usize = 8 << 20;
/// Bytes a reader asks the file for at a time.
const READ_CHUNK: usize = 64 << 10;

/// A group of records: an index into the spool's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group(usize);

/// Records in groups, each group read back in the order it was written.
pub struct Spool {
    file: Option<File>,
    len: u64,
    /// Per group: the (offset, length) of its blocks on the file, then its records still
    /// in memory.
    blocks: Vec<Vec<(u64, usize)>>,
    tails: Vec<Vec<u8>>,
    buffered: usize,
    budget: usize,
}

impl Default for Spool {
    /// A spool with the default budget, or `PROMPTRAIL_SPOOL_BUDGET` bytes when that is set
    /// to a number (the tests set a tiny one to make every export go through the file).
    fn default() -> Self {
        let budget = std::env::var("PROMPTRAIL_SPOOL_BUDGET")
            .ok()
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or(BUDGET);
        Spool::with_budget(budget)
    }
}

impl Spool {
    /// A spool that moves its records to the file once `budget` bytes are held.
    pub fn with_budget(budget: usize) -> Self {
        Spool {
            file: None,
            len: 0,
            blocks: Vec::new(),
            tails: Vec::new(),
            buffered: 0,
            budget,
        }
    }

    /// A new, empty group.
    pub fn group(&mut self) -> Group {
        self.blocks.push(Vec::new());
        self.tails.push(Vec::new());
        Group(self.tails.len() - 1)
    }

    /// Appends `seq` (the record's place among every group's, for merging groups) and
    /// `value` to `group`.
    pub fn push(&mut self, group: Group, seq: u64, value: &impl Serialize) -> Result<()> {
        let body = serde_json::to_vec(value)?;
        let tail = &mut self.tails[group.0];
        let before = tail.len();
        tail.extend_from_slice(&seq.to_le_bytes());
        tail.extend_from_slice(&(body.len() as u64).to_le_bytes());
        tail.extend_from_slice(&body);
        self.buffered += tail.len() - before;
        if self.buffered > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Moves every group's records in memory to the end of the file, one block per group.
    fn spill(&mut self) -> Result<()> {
        if self.file.is_none() {
            self.file = Some(tempfile::tempfile().context("creating a temporary file")?);
        }
        let file = self.file.as_ref().context("a temporary file")?;
        for (tail, blocks) in self.tails.iter_mut().zip(&mut self.blocks) {
            if tail.is_empty() {
                continue;
            }
            file.write_all_at(tail, self.len)
                .context("writing a temporary file")?;
            blocks.push((self.len, tail.len()));
            self.len += tail.len() as u64;
            tail.clear();
            tail.shrink_to_fit();
        }
        self.buffered = 0;
        Ok(())
    }

    /// The records of `groups` with their `seq`, in `seq` order (each group's are already
    /// in that order).
    pub fn read<'s, T: DeserializeOwned>(
        &'s self,
        groups: &[Group],
    ) -> Result<impl Iterator<Item = Result<(u64, T)>> + use<'s, T>> {
        let mut readers: Vec<_> = groups.iter().map(|&g| self.reader(g)).collect();
        let mut heads: Vec<Option<(u64, Vec<u8>)>> = Vec::with_capacity(readers.len());
        for r in &mut readers {
            heads.push(r.next()?);
        }
        let mut done = false;
        Ok(std::iter::from_fn(move || {
            if done {
                return None;
            }
            let i = heads
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.as_ref().map(|(seq, _)| (*seq, i)))
                .min()?
                .1;
            let (seq, body) = heads[i].take()?;
            let next = readers[i].next().and_then(|head| {
                heads[i] = head;
                Ok((seq, serde_json::from_slice(&body)?))
            });
            done = next.is_err();
            Some(next)
        }))
    }

    fn reader(&self, group: Group) -> GroupReader<'_> {
        GroupReader {
            file: self.file.as_ref(),
            blocks: &self.blocks[group.0],
            tail: &self.tails[group.0],
            block: 0,
            at: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

/// One group's records: its blocks on the file, read a chunk at a time, then its tail.
struct GroupReader<'a> {
    file: Option<&'a File>,
    blocks: &'a [(u64, usize)],
    tail: &'a [u8],
    /// The block being read (`blocks.len()` is the tail) and how far into it.
    block: usize,
    at: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl GroupReader<'_> {
    /// The next record's `seq` and body, `None` after the last.
    fn next(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        let Some(head) = self.take(16)? else {
            return Ok(None);
        };
        let seq = u64::from_le_bytes(head[..8].try_into()?);
        let len = usize::try_from(u64::from_le_bytes(head[8..].try_into()?))?;
        let body = self
            .take(len)?
            .context("a temporary file ended inside a record")?;
        Ok(Some((seq, body)))
    }

    /// The next `n` bytes, `None` at the end of the group.
    fn take(&mut self, n: usize) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.pos == self.buf.len() && !self.fill()? {
                if out.is_empty() {
                    return Ok(None);
                }
                anyhow::bail!("a temporary file ended inside a record");
            }
            let k = (n - out.len()).min(self.buf.len() - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
        }
        Ok(Some(out))
    }

    /// Reads the next chunk into `buf`; `false` at the end of the group.
    fn fill(&mut self) -> Result<bool> {
        loop {
            if self.block == self.blocks.len() {
                // The tail is read from memory in one piece.
                if self.at == 0 && !self.tail.is_empty() {
                    self.buf = self.tail.to_vec();
                    self.pos = 0;
                    self.at = self.tail.len();
                    return Ok(true);
                }
                return Ok(false);
            }
            let (offset, len) = self.blocks[self.block];
            if self.at == len {
                self.block += 1;
                self.at = 0;
                continue;
            }
            let k = READ_CHUNK.min(len - self.at);
            self.buf.resize(k, 0);
            let file = self.file.context("a spilled group without its file")?;
            file.read_exact_at(&mut self.buf, offset + self.at as u64)
                .context("reading a temporary file")?;
            self.at += k;
            self.pos = 0;
            return Ok(true);
        }
    }
}

/// Fixed-size values addressed by number, set and later overwritten (a live span's end,
/// known only when the next deployment of its prompt is read): the newest in memory, older
/// ones on an anonymous temporary file.
pub struct Slots<const N: usize> {
    file: Option<File>,
    /// The number of the first slot in memory; those before it are on the file.
    base: u64,
    recent: Vec<[u8; N]>,
    cache: std::cell::RefCell<(u64, Vec<u8>)>,
}

/// Slots held in memory before they are moved to the file.
const RECENT_SLOTS: usize = 1 << 16;

impl<const N: usize> Default for Slots<N> {
    fn default() -> Self {
        Slots {
            file: None,
            base: 0,
            recent: Vec::new(),
            cache: std::cell::RefCell::new((0, Vec::new())),
        }
    }
}

impl<const N: usize> Slots<N> {
    /// Adds a slot holding `value`, and returns its number.
    pub fn push(&mut self, value: [u8; N]) -> Result<u64> {
        if self.recent.len() == RECENT_SLOTS {
            if self.file.is_none() {
                self.file = Some(tempfile::tempfile().context("creating a temporary file")?);
            }
            let file = self.file.as_ref().context("a temporary file")?;
            file.write_all_at(&self.recent.concat(), self.base * N as u64)
                .context("writing a temporary file")?;
            self.base += self.recent.len() as u64;
            self.recent.clear();
        }
        self.recent.push(value);
        Ok(self.base + self.recent.len() as u64 - 1)
    }

    /// Overwrites slot `n`.
    pub fn set(&mut self, n: u64, value: [u8; N]) -> Result<()> {
        if n >= self.base {
            let i = usize::try_from(n - self.base)?;
            self.recent[i] = value;
            return Ok(());
        }
        let file = self.file.as_ref().context("a slot without its file")?;
        file.write_all_at(&value, n * N as u64)
            .context("writing a temporary file")?;
        // A chunk read before this write would be stale.
        self.cache.get_mut().1.clear();
        Ok(())
    }

    /// Slot `n`'s value (reads from the file go through a chunk kept for the next ones).
    pub fn get(&self, n: u64) -> Result<[u8; N]> {
        if n >= self.base {
            let i = usize::try_from(n - self.base)?;
            return self.recent.get(i).copied().context("no such slot");
        }
        let mut cache = self.cache.borrow_mut();
        let (start, bytes) = &mut *cache;
        let at = n * N as u64;
        if at < *start || at + N as u64 > *start + bytes.len() as u64 {
            let file = self.file.as_ref().context("a slot without its file")?;
            let end = (self.base * N as u64).min(at + READ_CHUNK as u64);
            bytes.resize(usize::try_from(end - at)?, 0);
            file.read_exact_at(bytes, at)
                .context("reading a temporary file")?;
            *start = at;
        }
        let i = usize::try_from(at - *start)?;
        Ok(bytes[i..i + N].try_into()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_read_back_in_order_across_spills_and_merge_by_seq() {
        // A budget this small moves records to the file every few pushes.
        let mut s = Spool::with_budget(64);
        let (a, b, c) = (s.group(), s.group(), s.group());
        let mut want_ab = Vec::new();
        for (seq, i) in (0..500u32).enumerate() {
            let g = if i % 3 == 0 { a } else { b };
            let text = format!("row {i} {}", "x".repeat((i % 70) as usize));
            s.push(g, seq as u64, &text).unwrap();
            want_ab.push(text);
        }
        let read = |groups: &[Group]| -> Vec<String> {
            s.read(groups).unwrap().map(|r| r.unwrap().1).collect()
        };
        assert_eq!(read(&[a, b]), want_ab);
        let only_a = read(&[a]);
        assert_eq!(
            only_a,
            want_ab.iter().step_by(3).cloned().collect::<Vec<_>>()
        );
        assert!(read(&[c]).is_empty());
        assert!(s.file.is_some(), "the test spilled");
    }

    #[test]
    fn slots_are_overwritten_in_memory_and_on_the_file() {
        let mut slots = Slots::<8>::default();
        let n = RECENT_SLOTS as u64 * 2 + 5;
        for i in 0..n {
            assert_eq!(slots.push(i.to_le_bytes()).unwrap(), i);
        }
        for i in (0..n).step_by(7) {
            slots.set(i, (i + 1_000_000).to_le_bytes()).unwrap();
        }
        for i in 0..n {
            let want = if i % 7 == 0 { i + 1_000_000 } else { i };
            assert_eq!(u64::from_le_bytes(slots.get(i).unwrap()), want, "slot {i}");
        }
    }
}
