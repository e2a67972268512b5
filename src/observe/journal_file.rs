//! The journal's JSON-lines copy (`journal_file`): each record once it is
//! complete, as the same JSON object `GET /requests` shows, written by a
//! thread of its own so the SIP path never waits on the disk: lines queue within a
//! byte bound (past it they are dropped and counted), and the file is
//! rotated to `<file>.1` when it reaches its size cap, so the journal never
//! holds more than twice the cap on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use prometheus_client::metrics::counter::Counter;

use super::record::Record;

/// Lines waiting for the writer thread at most.
const QUEUE_LINES: usize = 4096;
/// Bytes of records waiting for the writer thread at most.
const QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// One line of the file: a record, serialised as `GET /requests` shows it.
#[derive(Debug)]
pub(super) struct Line(pub(super) Arc<Record>);

impl Line {
    fn weight(&self) -> usize {
        self.0.size()
    }

    fn write_to(&self, out: &mut impl io::Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, &*self.0)?;
        out.write_all(b"\n")
    }
}

/// The SIP path's side of the file: queues lines, never waits.
#[derive(Debug)]
pub(super) struct JournalFile {
    lines: SyncSender<Line>,
    queued: Arc<AtomicUsize>,
    /// Lines dropped because the writer was behind (a `/metrics` drop reason).
    dropped: Counter,
}

impl JournalFile {
    /// Opens (appends to) `path` and starts its writer thread.
    pub(super) fn open(path: PathBuf, max_bytes: u64, dropped: Counter) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        let (lines, receiver) = sync_channel(QUEUE_LINES);
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            out: BufWriter::new(file),
            path,
            size,
            max_bytes,
            queued: queued.clone(),
            dropped: dropped.clone(),
        };
        std::thread::Builder::new()
            .name("journal-file".into())
            .spawn(move || writer.run(&receiver))?;
        Ok(Self {
            lines,
            queued,
            dropped,
        })
    }

    pub(super) fn push(&self, line: Line) {
        let weight = line.weight();
        if self.queued.fetch_add(weight, Ordering::AcqRel) + weight > QUEUE_BYTES {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            self.dropped.inc();
            return;
        }
        if self.lines.try_send(line).is_err() {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            self.dropped.inc();
        }
    }
}

/// The writer thread's side; ends when the journal is dropped.
struct Writer {
    out: BufWriter<File>,
    path: PathBuf,
    size: u64,
    max_bytes: u64,
    queued: Arc<AtomicUsize>,
    dropped: Counter,
}

impl Writer {
    fn run(mut self, lines: &Receiver<Line>) {
        let mut line_buf = Vec::with_capacity(4096);
        while let Ok(mut line) = lines.recv() {
            loop {
                self.write(&line, &mut line_buf);
                match lines.try_recv() {
                    Ok(next) => line = next,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            // Caught up: what was written reaches the file now.
            if let Err(error) = self.out.flush() {
                crate::warn_limited!(%error, path = %self.path.display(), "journal file write failed");
            }
        }
    }

    fn write(&mut self, line: &Line, line_buf: &mut Vec<u8>) {
        self.queued.fetch_sub(line.weight(), Ordering::AcqRel);
        line_buf.clear();
        if line.write_to(line_buf).is_err() {
            return;
        }
        let len = line_buf.len() as u64;
        if self.size > 0 && self.size + len > self.max_bytes {
            if let Err(error) = self.rotate() {
                self.dropped.inc();
                crate::warn_limited!(%error, path = %self.path.display(), "journal file full and not rotated: line dropped");
                return;
            }
        }
        match self.out.write_all(line_buf) {
            Ok(()) => self.size += len,
            Err(error) => {
                self.dropped.inc();
                crate::warn_limited!(%error, path = %self.path.display(), "journal file write failed");
            }
        }
    }

    /// `<file>` becomes `<file>.1` (replacing the one before) and a new
    /// `<file>` is started.
    fn rotate(&mut self) -> io::Result<()> {
        self.out.flush()?;
        std::fs::rename(&self.path, rotated(&self.path))?;
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        self.out = BufWriter::new(file);
        self.size = 0;
        Ok(())
    }
}

/// Where a rotated journal file goes.
pub(super) fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sip-autoresponder-journal-file-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        dir.join("journal.jsonl")
    }

    fn wait_for(what: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !what() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn record(id: u64) -> Arc<Record> {
        let text = format!(
            "OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{id}\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: {}\r\nCSeq: 1 OPTIONS\r\n\r\n",
            "c".repeat(200)
        );
        let message = crate::sip::parse_datagram(text.as_bytes(), &crate::sip::Limits::default())
            .expect("parses");
        let endpoints = super::super::record::Endpoints {
            transport: crate::sip::Transport::Udp,
            source: "127.0.0.1:1".parse().expect("addr"),
            destination: "127.0.0.1:2".parse().expect("addr"),
        };
        let mut record = Record::of(
            &message,
            super::super::record::Direction::Received,
            endpoints,
            None,
            None,
        );
        record.id = id;
        Arc::new(record)
    }

    #[test]
    fn lines_are_written_and_the_file_rotates_at_its_cap() {
        let path = scratch();
        let file = JournalFile::open(path.clone(), 8192, Counter::default()).expect("open");
        for id in 0..100 {
            file.push(Line(record(id)));
        }
        let total = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let last_id = |p: &Path| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            text.lines()
                .last()
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|v| v["id"].clone())
        };
        wait_for(|| last_id(&path) == Some(serde_json::json!(99)));
        assert!(total(&path) <= 8192, "{}", total(&path));
        assert!(total(&rotated(&path)) > 0 && total(&rotated(&path)) <= 8192);
        let text = std::fs::read_to_string(&path).expect("read");
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("json line");
            assert_eq!(value["method"], "OPTIONS");
        }
    }
}
