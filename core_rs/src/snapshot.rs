//! Snapshots of a projection: its whole state at one offset, in one file, so that a restart
//! replays only the tail of its topic. A snapshot is a cache: Kafka stays the truth, and a
//! snapshot that is missing, of another format version, damaged or of another topic is refused
//! (the caller then replays the whole topic), never half-used.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! magic "ETSSNAP\n" | format version u32 | kind | topic | topic id | cluster id | offset i64
//! | the model's state | crc32c u32 of every byte before it
//! ```
//!
//! Strings and byte strings are a u32 length and the bytes. The file is written to a temporary
//! name, synced, and renamed over the previous snapshot, so a crash leaves either snapshot whole.
//! It is either streamed to the file (`write`) or serialized into memory first (`serialize`, then
//! `persist`), so that the model is held only while it is serialized, not while the file is synced.

use crate::order_index::prefetch_lines;
use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::{BuildHasher, Hash};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"ETSSNAP\n";
/// Bumped whenever the layout of any model's state changes: older files are then refused.
pub const FORMAT_VERSION: u32 = 8;
/// Bytes buffered (and checksummed) at a time while writing.
const CHUNK: usize = 1 << 20;

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, SnapshotError>;

pub(crate) fn refuse<T>(why: impl Into<String>) -> Result<T> {
    Err(SnapshotError(why.into()))
}

/// Which topic, in which cluster, a snapshot was taken from. A topic that was deleted and created
/// again under the same name gets a new id, so its old snapshot is foreign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub topic: String,
    pub topic_id: String,
    pub cluster_id: String,
}

/// A model that can be saved and restored.
pub trait Snapshot: Sized {
    /// Names the model in the header, so that one projection never loads another's file.
    const KIND: &'static str;
    /// The last offset applied: what the snapshot covers.
    fn offset(&self) -> i64;
    fn save(&self, out: &mut Writer<'_>);
    fn restore(input: &mut Reader<'_>) -> Result<Self>;
}

/// Writes `model` to `path` atomically, streaming it (a model too large to be held in memory
/// twice, the catalog's, is saved this way).
pub fn write<M: Snapshot>(path: &Path, identity: &Identity, model: &M) -> io::Result<()> {
    replace(path, |file| save(file, identity, model))
}

/// The bytes `write` would put in the file, checksum included. Held in memory, they let the caller
/// release the model before the file is written and synced (`persist`).
pub fn serialize<M: Snapshot>(identity: &Identity, model: &M) -> Vec<u8> {
    let mut bytes = Vec::new();
    save(&mut bytes, identity, model).expect("writing to memory does not fail");
    bytes
}

/// Writes the bytes of `serialize` to `path` atomically.
pub fn persist(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, |file| file.write_all(bytes))
}

/// The header, the model's state and the checksum, to `sink`.
fn save<M: Snapshot>(sink: &mut dyn Write, identity: &Identity, model: &M) -> io::Result<()> {
    let mut out = Writer::new(sink);
    out.bytes(MAGIC);
    out.u32(FORMAT_VERSION);
    out.str(M::KIND);
    out.str(&identity.topic);
    out.str(&identity.topic_id);
    out.str(&identity.cluster_id);
    out.i64(model.offset());
    model.save(&mut out);
    out.finish()
}

/// Replaces `path` by what `fill` writes: to a temporary file beside it, synced, then renamed over
/// it, so that a crash leaves either the old file or the new one whole.
fn replace(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let temporary = temporary_path(path);
    let mut file = File::create(&temporary)?;
    fill(&mut file)?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    // The rename is durable only once the directory entry is.
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Reads the model saved in `bytes` if it is whole, of this format and of `identity`, and covers
/// no offset past `end_offset` (the topic's last offset now; a snapshot past it is of another
/// history of the topic).
pub fn read<M: Snapshot>(bytes: &[u8], identity: &Identity, end_offset: i64) -> Result<M> {
    let body = verified(bytes)?;
    let mut input = Reader::new(body);
    let version = input.u32()?;
    if version != FORMAT_VERSION {
        return refuse(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let kind = input.str()?;
    if kind != M::KIND {
        return refuse(format!("a {kind} snapshot, not a {} one", M::KIND));
    }
    let found = Identity {
        topic: input.str()?.to_owned(),
        topic_id: input.str()?.to_owned(),
        cluster_id: input.str()?.to_owned(),
    };
    if found != *identity {
        return refuse(format!(
            "taken from topic {} (id {}) of cluster {}, not from topic {} (id {}) of cluster {}",
            found.topic,
            found.topic_id,
            found.cluster_id,
            identity.topic,
            identity.topic_id,
            identity.cluster_id
        ));
    }
    let offset = input.i64()?;
    if offset > end_offset {
        return refuse(format!(
            "covers offset {offset}, past the topic's end {end_offset}"
        ));
    }
    let model = M::restore(&mut input)?;
    if model.offset() != offset {
        return refuse("the state's offset differs from the header's");
    }
    if !input.is_empty() {
        return refuse("bytes left after the state");
    }
    Ok(model)
}

/// The bytes between the magic and the checksum, once both are right.
fn verified(bytes: &[u8]) -> Result<&[u8]> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return refuse("not a snapshot file (no magic number)");
    };
    let Some((body, stored)) = rest.split_last_chunk::<4>() else {
        return refuse("truncated: no checksum");
    };
    let computed = crc32c::crc32c(&bytes[..bytes.len() - 4]);
    if computed != u32::from_le_bytes(*stored) {
        return refuse("checksum mismatch: the file is damaged or truncated");
    }
    Ok(body)
}

/// The bytes `write` writes (no header, no checksum): for tests of a `Persist` format.
#[cfg(test)]
pub(crate) fn written(write: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut out = Writer::new(&mut bytes);
    write(&mut out);
    out.finish().expect("writing to memory does not fail");
    bytes.truncate(bytes.len() - 4);
    bytes
}

/// Buffers what is written, checksums it chunk by chunk and writes it to the sink (a file or
/// memory). The first I/O error is kept and returned by `finish`, so that saving code need not
/// handle errors per field.
pub struct Writer<'a> {
    sink: &'a mut dyn Write,
    buffer: Vec<u8>,
    crc: u32,
    error: Option<io::Error>,
}

impl<'a> Writer<'a> {
    fn new(sink: &'a mut dyn Write) -> Writer<'a> {
        Writer {
            sink,
            buffer: Vec::with_capacity(CHUNK + 4096),
            crc: 0,
            error: None,
        }
    }

    fn flush_chunk(&mut self) {
        self.crc = crc32c::crc32c_append(self.crc, &self.buffer);
        if self.error.is_none() {
            if let Err(err) = self.sink.write_all(&self.buffer) {
                self.error = Some(err);
            }
        }
        self.buffer.clear();
    }

    /// Writes what is buffered and the checksum; syncing is the caller's.
    fn finish(mut self) -> io::Result<()> {
        self.flush_chunk();
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        self.sink.write_all(&self.crc.to_le_bytes())
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush_chunk();
        }
    }

    pub fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.bytes(&value.to_le_bytes());
    }

    pub fn u8(&mut self, value: u8) {
        self.bytes(&[value]);
    }

    /// A length: every collection and string here is far below 4 GiB.
    pub fn len(&mut self, len: usize) {
        self.u32(u32::try_from(len).expect("fewer than 2^32 items"));
    }

    pub fn blob(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.bytes(bytes);
    }

    pub fn str(&mut self, s: &str) {
        self.blob(s.as_bytes());
    }
}

/// How far ahead of its reader a blob's bytes are asked into the cache (`Reader::blob`): a few
/// pages, so that the page walk and the lines are done by the time the reader gets there.
const STREAM_AHEAD: usize = 16 << 10;

/// Reads what a `Writer` wrote; every read checks that the bytes are there.
#[derive(Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return refuse("truncated state");
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A length, checked against the bytes left (each item takes at least `min_item` bytes), so
    /// that a damaged length cannot make the reader reserve gigabytes.
    pub fn len(&mut self, min_item: usize) -> Result<usize> {
        let len = self.u32()? as usize;
        if len.saturating_mul(min_item.max(1)) > self.rest.len() {
            return refuse("a length runs past the end");
        }
        Ok(len)
    }

    /// A length-prefixed run of bytes. As many bytes `STREAM_AHEAD` on are asked into the cache:
    /// a file of blobs is read as a chain (each length says where the next one starts), and the
    /// next length would otherwise be waited for, a miss at every item of a load's loop.
    pub fn blob(&mut self) -> Result<&'a [u8]> {
        let len = self.len(1)?;
        let blob = self.take(len)?;
        prefetch_lines(self.rest.as_ptr().wrapping_add(STREAM_AHEAD), 4 + len);
        Ok(blob)
    }

    pub fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.blob()?).or_else(|_| refuse("a string is not UTF-8"))
    }
}

/// How many items `in_batches` reads before its restore loop looks them up.
const BATCH: usize = 1024;

/// Reads `items` items with `read`, `BATCH` at a time, and hands each batch to `restore`: for a
/// restore loop that looks its items up in the process's sharded tables a batch at a time
/// (`Id::new_all`, `interned::shared_all`), whose look-ups then overlap.
pub fn in_batches<'a, T>(
    input: &mut Reader<'a>,
    items: usize,
    mut read: impl FnMut(&mut Reader<'a>) -> Result<T>,
    mut restore: impl FnMut(Vec<T>) -> Result<()>,
) -> Result<()> {
    let mut left = items;
    while left > 0 {
        let batch = (0..left.min(BATCH))
            .map(|_| read(input))
            .collect::<Result<Vec<T>>>()?;
        left -= batch.len();
        restore(batch)?;
    }
    Ok(())
}

/// As `in_batches`, with `prepare` on a thread of its own, a batch ahead of `restore`: reading a
/// batch's items and looking them up in the process's tables (most of a load's cache misses) for
/// the next batch while `restore` holds this one in the model. For a load that runs alone at the
/// end of a start, its other core idle (checkout's follows the catalog's). `restore`'s error
/// comes first: the reading thread then stops at its next batch.
pub fn in_batches_ahead<'a, T, U: Send>(
    input: &mut Reader<'a>,
    items: usize,
    read: impl FnMut(&mut Reader<'a>) -> Result<T> + Send,
    mut prepare: impl FnMut(Vec<T>) -> U + Send,
    mut restore: impl FnMut(U) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (sender, prepared) = std::sync::mpsc::sync_channel(1);
        let reading = scope.spawn(move || {
            in_batches(input, items, read, |batch| {
                let stopped = || SnapshotError("the restore stopped".into());
                sender.send(prepare(batch)).map_err(|_| stopped())
            })
        });
        let restored = prepared.iter().try_for_each(&mut restore);
        drop(prepared); // a reader blocked on a full channel then fails its send and ends
        let read = reading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        restored.and(read)
    })
}

/// A value that saves and restores itself field by field.
pub trait Persist: Sized {
    /// Fewest bytes a saved value takes, to bound collection lengths before reserving.
    const MIN_BYTES: usize;
    fn save(&self, out: &mut Writer<'_>);
    fn restore(input: &mut Reader<'_>) -> Result<Self>;
    /// Starts loading what `save` will read behind pointers (the bytes of a string, say).
    fn prefetch(&self) {}
}

impl Persist for i64 {
    const MIN_BYTES: usize = 8;
    fn save(&self, out: &mut Writer<'_>) {
        out.i64(*self);
    }
    fn restore(input: &mut Reader<'_>) -> Result<Self> {
        input.i64()
    }
}

impl Persist for bool {
    const MIN_BYTES: usize = 1;
    fn save(&self, out: &mut Writer<'_>) {
        out.u8(u8::from(*self));
    }
    fn restore(input: &mut Reader<'_>) -> Result<Self> {
        match input.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => refuse(format!("{other} is not a boolean")),
        }
    }
}

impl Persist for String {
    const MIN_BYTES: usize = 4;
    fn save(&self, out: &mut Writer<'_>) {
        out.str(self);
    }
    fn restore(input: &mut Reader<'_>) -> Result<Self> {
        Ok(input.str()?.to_owned())
    }
    fn prefetch(&self) {
        prefetch_lines(self.as_ptr(), self.len());
    }
}

impl Persist for Arc<str> {
    const MIN_BYTES: usize = 4;
    fn save(&self, out: &mut Writer<'_>) {
        out.str(self);
    }
    fn restore(input: &mut Reader<'_>) -> Result<Self> {
        Ok(Arc::from(input.str()?))
    }
}

impl<T: Persist> Persist for Option<T> {
    const MIN_BYTES: usize = 1;
    fn save(&self, out: &mut Writer<'_>) {
        self.is_some().save(out);
        if let Some(value) = self {
            value.save(out);
        }
    }
    fn restore(input: &mut Reader<'_>) -> Result<Self> {
        Ok(if bool::restore(input)? {
            Some(T::restore(input)?)
        } else {
            None
        })
    }
}

impl<T: Persist> Persist for Vec<T> {
    const MIN_BYTES: usize = 4;
    fn save(&self, out: &mut Writer<'_>) {
        out.len(self.len());
        self.iter().for_each(|item| item.save(out));
    }
    fn restore(input: &mut Reader<'_>) -> Result<Self> {
        let len = input.len(T::MIN_BYTES)?;
        (0..len).map(|_| T::restore(input)).collect()
    }
}

impl<K, V, S> Persist for HashMap<K, V, S>
where
    K: Persist + Eq + Hash,
    V: Persist,
    S: BuildHasher + Default,
{
    const MIN_BYTES: usize = 4;
    fn save(&self, out: &mut Writer<'_>) {
        // The entries lie in the table in hash order, what they point to in the order it was
        // allocated: each would be a cache miss. Loading them some entries ahead overlaps these.
        const AHEAD: usize = 8;
        out.len(self.len());
        let mut ahead = self.iter().skip(AHEAD);
        for (key, value) in self {
            if let Some((key, value)) = ahead.next() {
                key.prefetch();
                value.prefetch();
            }
            key.save(out);
            value.save(out);
        }
    }
    fn restore(input: &mut Reader<'_>) -> Result<Self> {
        let len = input.len(K::MIN_BYTES + V::MIN_BYTES)?;
        let mut map = HashMap::with_capacity_and_hasher(len, S::default());
        for _ in 0..len {
            let key = K::restore(input)?;
            if map.insert(key, V::restore(input)?).is_some() {
                return refuse("a key appears twice");
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of a few fields, enough to exercise the header and the checks.
    #[derive(Debug, Default, PartialEq)]
    struct Counts {
        offset: i64,
        counts: HashMap<String, i64>,
        names: Vec<Arc<str>>,
        flags: Vec<bool>,
    }

    impl Snapshot for Counts {
        const KIND: &'static str = "counts";
        fn offset(&self) -> i64 {
            self.offset
        }
        fn save(&self, out: &mut Writer<'_>) {
            self.offset.save(out);
            self.counts.save(out);
            self.names.save(out);
            self.flags.save(out);
        }
        fn restore(input: &mut Reader<'_>) -> Result<Self> {
            Ok(Counts {
                offset: i64::restore(input)?,
                counts: HashMap::restore(input)?,
                names: Vec::restore(input)?,
                flags: Vec::restore(input)?,
            })
        }
    }

    fn identity() -> Identity {
        Identity {
            topic: "t_internal".into(),
            topic_id: "id-1".into(),
            cluster_id: "c-1".into(),
        }
    }

    fn sample() -> Counts {
        Counts {
            offset: 41,
            counts: [("a".to_owned(), 3), ("é".to_owned(), -7)].into(),
            names: vec!["x".into(), "".into()],
            flags: vec![true, false],
        }
    }

    fn written(model: &Counts) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("snapshot-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        static WRITTEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = WRITTEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.snapshot"));
        write(&path, &identity(), model).unwrap();
        assert!(
            !temporary_path(&path).exists(),
            "the temporary file is renamed"
        );
        let bytes = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        bytes
    }

    #[test]
    fn round_trip() {
        let bytes = written(&sample());
        assert_eq!(read::<Counts>(&bytes, &identity(), 41), Ok(sample()));
        assert_eq!(read::<Counts>(&bytes, &identity(), 1000), Ok(sample()));
    }

    /// More than a few chunks of state, so that the file is written in several pieces.
    fn large() -> Counts {
        Counts {
            offset: 7,
            counts: (0..200_000).map(|i| (format!("key {i}"), i)).collect(),
            names: (0..1000).map(|i| Arc::from(format!("name {i}"))).collect(),
            flags: (0..1000).map(|i| i % 3 == 0).collect(),
        }
    }

    #[test]
    fn serialized_bytes_are_the_file_write_streams() {
        for model in [sample(), Counts::default(), large()] {
            assert_eq!(serialize(&identity(), &model), written(&model));
        }
        assert!(serialize(&identity(), &large()).len() > 3 * CHUNK);
    }

    #[test]
    fn persisted_bytes_load_back() {
        let dir = std::env::temp_dir().join(format!("snapshot-persist-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("large.snapshot");
        let model = large();
        persist(&path, &serialize(&identity(), &model)).unwrap();
        assert!(!temporary_path(&path).exists());
        let bytes = fs::read(&path).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read::<Counts>(&bytes, &identity(), 7), Ok(model));
    }

    #[test]
    fn a_failed_persist_leaves_the_previous_file() {
        let dir = std::env::temp_dir().join(format!("snapshot-failed-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("counts.snapshot");
        persist(&path, &serialize(&identity(), &sample())).unwrap();
        // A directory where the temporary file would go: creating it fails.
        fs::create_dir(temporary_path(&path)).unwrap();
        assert!(persist(&path, &serialize(&identity(), &large())).is_err());
        let bytes = fs::read(&path).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read::<Counts>(&bytes, &identity(), 41), Ok(sample()));
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let bytes = written(&sample());
        for len in 0..bytes.len() {
            assert!(read::<Counts>(&bytes[..len], &identity(), 41).is_err());
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            assert!(read::<Counts>(&damaged, &identity(), 41).is_err(), "{at}");
        }
    }

    #[test]
    fn foreign_or_future_snapshots_are_refused() {
        let bytes = written(&sample());
        let mut other = identity();
        other.topic_id = "id-2".into();
        let err = read::<Counts>(&bytes, &other, 41).unwrap_err();
        assert!(err.0.contains("id-1"), "{err}");
        other = identity();
        other.cluster_id = "c-2".into();
        assert!(read::<Counts>(&bytes, &other, 41).is_err());
        let err = read::<Counts>(&bytes, &identity(), 40).unwrap_err();
        assert!(err.0.contains("past the topic's end"), "{err}");
    }

    /// A file of another version is refused even when its checksum is right.
    #[test]
    fn other_format_versions_are_refused() {
        let mut bytes = written(&sample());
        bytes[8..12].copy_from_slice(&0u32.to_le_bytes());
        let len = bytes.len();
        let crc = crc32c::crc32c(&bytes[..len - 4]);
        bytes[len - 4..].copy_from_slice(&crc.to_le_bytes());
        let err = read::<Counts>(&bytes, &identity(), 41).unwrap_err();
        assert!(err.0.contains("format version 0"), "{err}");
    }

    #[test]
    fn in_batches_reads_every_item_in_order_a_batch_at_a_time_and_stops_at_a_bad_one() {
        let count = 2 * BATCH as i64 + 3;
        let bytes = super::written(|out| (0..count).for_each(|n| n.save(out)));
        let (mut read, mut sizes) = (Vec::new(), Vec::new());
        in_batches(
            &mut Reader::new(&bytes),
            count as usize,
            i64::restore,
            |batch| {
                sizes.push(batch.len());
                read.extend(batch);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(read, (0..count).collect::<Vec<_>>());
        assert_eq!(sizes, [BATCH, BATCH, 3]);
        // One item more than there are: refused, after the batches before it were restored.
        let mut restored = 0;
        let past = in_batches(
            &mut Reader::new(&bytes),
            count as usize + 1,
            i64::restore,
            |batch| {
                restored += batch.len();
                Ok(())
            },
        );
        assert!(past.is_err());
        assert_eq!(restored, 2 * BATCH);
    }

    #[test]
    fn batches_prepared_ahead_are_restored_in_order_and_a_failure_ends_both_threads() {
        let count = 5 * BATCH as i64 + 7;
        let bytes = super::written(|out| (0..count).for_each(|n| n.save(out)));
        let mut restored = Vec::new();
        let double = |batch: Vec<i64>| batch.into_iter().map(|n| 2 * n).collect::<Vec<_>>();
        in_batches_ahead(
            &mut Reader::new(&bytes),
            count as usize,
            i64::restore,
            double,
            |batch| {
                restored.extend(batch);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(restored, (0..count).map(|n| 2 * n).collect::<Vec<_>>());

        // The restore refuses its second batch: its error is the one returned, and the reading
        // thread, a batch or two ahead, stops instead of waiting to hand over the rest.
        let mut batches = 0;
        let refused = in_batches_ahead(
            &mut Reader::new(&bytes),
            count as usize,
            i64::restore,
            double,
            |_| {
                batches += 1;
                if batches == 2 {
                    refuse("the second batch")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(refused.unwrap_err().0, "the second batch");

        // One item more than there are: the reading thread's error, once the rest is restored.
        let mut items = 0;
        let past = in_batches_ahead(
            &mut Reader::new(&bytes),
            count as usize + 1,
            i64::restore,
            double,
            |batch| {
                items += batch.len();
                Ok(())
            },
        );
        assert_eq!(past.unwrap_err().0, "truncated state");
        assert_eq!(items, 5 * BATCH);
    }

    #[test]
    fn huge_lengths_are_refused_before_reserving() {
        let mut input = Reader::new(&[0xff, 0xff, 0xff, 0x7f, 1, 2]);
        assert!(Vec::<i64>::restore(&mut input).is_err());
    }
}
