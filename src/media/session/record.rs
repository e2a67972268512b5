//! Recording what the peer sends: decoded to 16-bit mono PCM at the
//! codec's rate, written as a WAV file (hound), never more than
//! `[media] max_recording_bytes` of audio; the file is closed (its header
//! made whole) when the bound is reached or the call ends.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::media::codec::{Codec, Decoder};

pub(super) struct Recorder {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    decoder: Decoder,
    samples: Vec<i16>,
    pub(super) bytes: u64,
    max_bytes: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Recorder {
    /// Creates `path` (never over an existing file) for `codec`'s audio.
    pub(super) fn create(path: PathBuf, codec: Codec, max_bytes: u64) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: codec.sample_rate(),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::new(BufWriter::with_capacity(64 * 1024, file), spec)
            .map_err(std::io::Error::other)?;
        let decoder = Decoder::new(codec).ok_or_else(|| std::io::Error::other("no decoder"))?;
        Ok(Self {
            path,
            writer: Some(writer),
            decoder,
            samples: Vec::with_capacity(960),
            bytes: 0,
            max_bytes,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the audio of one payload.
    pub(super) fn write(&mut self, payload: &[u8]) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        self.samples.clear();
        self.decoder.decode(payload, &mut self.samples);
        let room = (self.max_bytes.saturating_sub(self.bytes) / 2) as usize;
        let take = self.samples.len().min(room);
        let mut sample_writer = writer.get_i16_writer(take as u32);
        for &sample in &self.samples[..take] {
            sample_writer.write_sample(sample);
        }
        if let Err(error) = sample_writer.flush() {
            warn!(path = %self.path.display(), %error, "recording stopped: cannot write");
            self.finish();
            return;
        }
        self.bytes += 2 * take as u64;
        if take < self.samples.len() {
            info!(path = %self.path.display(), bytes = self.bytes, "recording reached max_recording_bytes: closed");
            self.finish();
        }
    }

    /// Closes the file (hound writes the final sizes into the header).
    pub(super) fn finish(&mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(error) = writer.finalize()
        {
            warn!(path = %self.path.display(), %error, "recording could not be closed");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::ulaw_encode;

    #[test]
    fn recordings_are_bounded_and_never_overwrite() {
        let dir = std::env::temp_dir().join(format!("sar-record-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("call.wav");
        let mut recorder = Recorder::create(path.clone(), Codec::Pcmu, 1000).expect("create");
        let payload: Vec<u8> = (0..160).map(|i| ulaw_encode(i * 100)).collect();
        for _ in 0..10 {
            recorder.write(&payload);
        }
        assert_eq!(recorder.bytes, 1000);
        drop(recorder);
        let reader = hound::WavReader::open(&path).expect("a whole WAV file");
        assert_eq!(reader.spec().sample_rate, 8000);
        assert_eq!(reader.len(), 500);
        assert!(Recorder::create(path, Codec::Pcmu, 1000).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
