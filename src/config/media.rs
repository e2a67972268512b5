//! Compiling `[media]` and a step's `media` and `on_dtmf`: the port range,
//! WAV files read and checked at load (so a bad file is a config error,
//! not a silent call), record paths, digit strings and digit patterns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use toml::Spanned;

use super::error::Diagnostics;
use super::model::{DtmfRuleSection, MediaSection, MediaTable, MediaValue, StepSection};
use super::policy::PolicyCompiler;
use crate::media::MediaSettings;
use crate::media::dtmf::valid_digits;
use crate::rules::media::{Clip, DtmfRule, Media, MediaPlan, RecordSpec, Sender, Tone};
use crate::sip::Verb;

/// Why a rule given at run time may not name a file.
const API_FILES: &str = "play and record name files on the daemon's host: only rules in the config file may use them (a rule given through the admin API may use echo, silence, tone and dtmf)";

/// Longest clip `play` loads (it is kept in memory, resampled per rate).
const MAX_CLIP: Duration = Duration::from_secs(300);

/// `[media]`.
pub(super) fn compile_settings(
    section: &MediaSection,
    diag: &mut Diagnostics<'_>,
) -> MediaSettings {
    let defaults = MediaSettings::default();
    let range = section.port_range.get_ref();
    let (first_port, last_port) = match parse_range(range) {
        Some(range) => range,
        None => {
            diag.error(
                section.port_range.span(),
                format!("port_range `{range}`: expected \"first-last\" with an even first port and an odd last one above it, like \"40000-40999\""),
            );
            (defaults.first_port, defaults.last_port)
        }
    };
    let interval = *section.rtcp_interval_ms.get_ref();
    if !(100..=60_000).contains(&interval) {
        diag.error(
            section.rtcp_interval_ms.span(),
            "rtcp_interval_ms must be from 100 to 60000",
        );
    }
    if *section.max_recording_bytes.get_ref() < 1024 {
        diag.error(
            section.max_recording_bytes.span(),
            "max_recording_bytes must be at least 1024",
        );
    }
    let timeout = *section.timeout_ms.get_ref();
    MediaSettings {
        first_port,
        last_port,
        timeout: (timeout > 0).then(|| Duration::from_millis(timeout)),
        rtcp_interval: Duration::from_millis(interval.clamp(100, 60_000)),
        max_recording_bytes: *section.max_recording_bytes.get_ref(),
        max_recordings: *section.max_recordings.get_ref(),
    }
}

fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (first, last) = text.split_once('-')?;
    let first: u16 = first.trim().parse().ok()?;
    let last: u16 = last.trim().parse().ok()?;
    (first % 2 == 0 && last % 2 == 1 && first > 0 && first < last).then_some((first, last))
}

impl PolicyCompiler<'_, '_> {
    /// A step's `media` and `on_dtmf`; `sdp_answer`: its body is
    /// `{ sdp = "answer" }` (the port goes there).
    pub(super) fn step_media(
        &mut self,
        verb: Verb,
        step: &StepSection,
        sdp_answer: bool,
    ) -> Option<Media> {
        let Some(value) = &step.media else {
            if let Some(rule) = step.on_dtmf.first() {
                self.diag
                    .error(rule.span(), "on_dtmf needs `media` on the same step");
            }
            return None;
        };
        if !matches!(verb, Verb::Progress | Verb::Accept) {
            self.diag.error(
                value.span(),
                "media belongs on `progress` (early media) or `accept` steps",
            );
            return None;
        }
        if !sdp_answer {
            self.diag.error(
                value.span(),
                "media needs `body = { sdp = \"answer\" }` on the same step: the port goes into the SDP answer",
            );
            return None;
        }
        let mut plan = match value.get_ref() {
            MediaValue::Named(name) if name == "none" => {
                if let Some(rule) = step.on_dtmf.first() {
                    self.diag
                        .error(rule.span(), "on_dtmf needs media other than \"none\"");
                }
                return Some(Media::Off);
            }
            MediaValue::Named(_) => MediaPlan {
                send: self.sender(value)?,
                record: None,
                dtmf: None,
                on_dtmf: Arc::new([]),
            },
            MediaValue::Table(table) => self.media_table(table, value.span())?,
        };
        let rules: Vec<DtmfRule> = step
            .on_dtmf
            .iter()
            .filter_map(|rule| self.dtmf_rule(rule))
            .collect();
        plan.on_dtmf = rules.into();
        Some(Media::Plan(Arc::new(plan)))
    }

    /// What is sent: `"echo"`, `"silence"`, `{ tone }`, `{ play, loop }`.
    fn sender(&mut self, value: &Spanned<MediaValue>) -> Option<Sender> {
        match value.get_ref() {
            MediaValue::Named(name) => match name.as_str() {
                "echo" => Some(Sender::Echo),
                "silence" => Some(Sender::Silence),
                other => {
                    self.diag.error(
                        value.span(),
                        format!("unknown media `{other}` (\"echo\", \"silence\", \"none\", or a table: {{ tone }}, {{ play }}, {{ record }}, {{ dtmf }})"),
                    );
                    None
                }
            },
            MediaValue::Table(table) => {
                if table.record.is_some() || table.dtmf.is_some() {
                    self.diag.error(value.span(), "here media is only what is sent: \"echo\", \"silence\", { tone } or { play }");
                    return None;
                }
                self.table_sender(table, value.span())
            }
        }
    }

    fn media_table(
        &mut self,
        table: &MediaTable,
        span: std::ops::Range<usize>,
    ) -> Option<MediaPlan> {
        let errors = self.diag.errors.len();
        if table.tone.is_none()
            && table.play.is_none()
            && table.record.is_none()
            && table.dtmf.is_none()
            && !table.echo
        {
            self.diag.error(
                span.clone(),
                "media table needs tone, play, record, dtmf or echo",
            );
            return None;
        }
        let send = self.table_sender(table, span.clone());
        let dtmf = match &table.dtmf {
            Some(digits) if !valid_digits(digits) => {
                self.diag.error(
                    span.clone(),
                    format!(
                        "dtmf `{digits}`: digits are 0-9, *, #, A-D (at most {})",
                        crate::media::dtmf::MAX_DIGITS
                    ),
                );
                None
            }
            Some(digits) => Some(digits.as_str().into()),
            None => None,
        };
        let record = table
            .record
            .as_ref()
            .and_then(|path| self.record(path, span.clone()));
        if self.diag.errors.len() > errors {
            return None;
        }
        Some(MediaPlan {
            send: send?,
            record,
            dtmf,
            on_dtmf: Arc::new([]),
        })
    }

    /// The sender of a table: at most one of tone, play and echo; none of
    /// them is silence.
    fn table_sender(&mut self, table: &MediaTable, span: std::ops::Range<usize>) -> Option<Sender> {
        let senders = usize::from(table.tone.is_some())
            + usize::from(table.play.is_some())
            + usize::from(table.echo);
        if senders > 1 {
            self.diag
                .error(span, "media sends one thing: tone, play or echo");
            return None;
        }
        if table.looped.is_some() && table.play.is_none() {
            self.diag.error(span, "`loop` goes with `play`");
            return None;
        }
        if let Some(hz) = table.tone {
            if !(20..=4000).contains(&hz) {
                self.diag.error(
                    span,
                    format!("tone {hz} Hz: from 20 to 4000 Hz (what an 8 kHz codec carries)"),
                );
                return None;
            }
            return Some(Sender::Tone(Arc::new(Tone::new(hz))));
        }
        if let Some(path) = &table.play {
            if !self.limits.media_files {
                self.diag.error(span, API_FILES);
                return None;
            }
            return match load_wav(Path::new(path), table.looped.unwrap_or(false)) {
                Ok(clip) => Some(Sender::Play(Arc::new(clip))),
                Err(problem) => {
                    self.diag.error(span, format!("play `{path}`: {problem}"));
                    None
                }
            };
        }
        Some(if table.echo {
            Sender::Echo
        } else {
            Sender::Silence
        })
    }

    /// `record = "/dir/name.wav"`: the directory must exist; the name may
    /// use `${…}`.
    fn record(&mut self, path: &str, span: std::ops::Range<usize>) -> Option<RecordSpec> {
        if !self.limits.media_files {
            self.diag.error(span, API_FILES);
            return None;
        }
        let path_buf = PathBuf::from(path);
        let (Some(dir), Some(file)) = (
            path_buf.parent(),
            path_buf.file_name().and_then(|f| f.to_str()),
        ) else {
            self.diag.error(
                span,
                format!("record `{path}`: expected a directory and a file name"),
            );
            return None;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if dir.to_string_lossy().contains("${") {
            self.diag.error(
                span,
                format!("record `{path}`: `${{…}}` may only be in the file name"),
            );
            return None;
        }
        if !dir.is_dir() {
            self.diag.error(
                span,
                format!("record `{path}`: no directory {}", dir.display()),
            );
            return None;
        }
        let file = self.template(&Spanned::new(span, file.to_owned()))?;
        Some(RecordSpec {
            dir: dir.to_path_buf(),
            file,
        })
    }

    fn dtmf_rule(&mut self, section: &Spanned<DtmfRuleSection>) -> Option<DtmfRule> {
        let rule = section.get_ref();
        let pattern = Regex::new(rule.digits.get_ref())
            .map_err(|error| {
                self.diag
                    .error(rule.digits.span(), format!("digits: {error}"))
            })
            .ok()?;
        let send = match &rule.media {
            Some(value) => Some(self.sender(value)?),
            None => None,
        };
        let dtmf = match &rule.dtmf {
            Some(digits) if !valid_digits(digits.get_ref()) => {
                self.diag
                    .error(digits.span(), "dtmf: digits are 0-9, *, #, A-D");
                return None;
            }
            Some(digits) => Some(digits.get_ref().as_str().into()),
            None => None,
        };
        if !rule.hangup && send.is_none() && dtmf.is_none() {
            self.diag.error(
                section.span(),
                "an on_dtmf entry needs hangup, media or dtmf",
            );
            return None;
        }
        Some(DtmfRule {
            pattern,
            hangup: rule.hangup,
            send,
            dtmf,
        })
    }
}

/// Reads a WAV file: mono, 16-bit integer PCM, 8000 or 16000 Hz, at most
/// five minutes.
pub(crate) fn load_wav(path: &Path, looped: bool) -> Result<Clip, String> {
    // A regular file only: a device or a FIFO could block the load.
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    // Five minutes of 16 kHz 16-bit mono, and room for other chunks.
    if metadata.len() > 2 * MAX_CLIP.as_secs() * 16_000 * 2 {
        return Err(format!("{} bytes: too large", metadata.len()));
    }
    let reader = hound::WavReader::open(path).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format!(
            "{} channel(s) of {}-bit {:?}: expected mono 16-bit PCM",
            spec.channels, spec.bits_per_sample, spec.sample_format
        ));
    }
    if ![8000, 16000].contains(&spec.sample_rate) {
        return Err(format!(
            "{} Hz: expected 8000 or 16000 Hz",
            spec.sample_rate
        ));
    }
    let max = MAX_CLIP.as_secs() * u64::from(spec.sample_rate);
    if u64::from(reader.duration()) > max {
        return Err(format!("longer than {} s", MAX_CLIP.as_secs()));
    }
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if samples.is_empty() {
        return Err("no audio in it".to_owned());
    }
    Ok(Clip::new(
        path.to_path_buf(),
        spec.sample_rate,
        samples,
        looped,
    ))
}
