//! RFC 3262 for the responses of an INVITE that sends provisionals
//! reliably: one outstanding at a time, each with its RSeq and `Require:
//! 100rel`, a 2xx waiting for the PRACK of one with SDP, retransmission
//! stopped by the final response.

use std::borrow::Cow;

use super::super::reliable::{Reliable, reliable_header_lines};
use super::{RespondError, ServerTransaction};
use crate::sip::ResponseParts;

impl ServerTransaction {
    /// RFC 3262 for one response of an INVITE that sends reliably: a
    /// provisional waits for the PRACK of the one before and gets its RSeq;
    /// a 2xx waits for the PRACK of one that carried SDP; a final response
    /// stops their retransmission. Returns the RSeq.
    pub(super) async fn reliably(
        &mut self,
        parts: &ResponseParts<'_>,
        extra: &mut Cow<'_, [u8]>,
    ) -> Result<Option<u32>, RespondError> {
        let Some(seed) = &self.extras.prack else {
            return Ok(None);
        };
        let status = parts.status;
        let registered = self.shared.lock().reliable.clone();
        let reliable = match registered {
            Some(reliable) => reliable,
            None if (101..200).contains(&status) => {
                self.core.register_for_prack(seed, &self.shared)
            }
            None => return Ok(None),
        };
        let must_wait = match status {
            101..=199 => reliable.is_pending(),
            200..=299 => reliable.pending_with_sdp(),
            _ => false,
        };
        if must_wait {
            self.await_prack(&reliable).await?;
        }
        if status >= 200 {
            reliable.finish();
            return Ok(None);
        }
        if status == 100 {
            return Ok(None);
        }
        let with_sdp = !parts.body.is_empty()
            && parts
                .content_type
                .is_some_and(|t| t.eq_ignore_ascii_case("application/sdp"));
        let rseq = reliable.next_rseq(with_sdp);
        *extra = Cow::Owned(reliable_header_lines(rseq, &extra[..]));
        Ok(Some(rseq))
    }

    async fn await_prack(&self, reliable: &Reliable) -> Result<(), RespondError> {
        tokio::select! {
            () = reliable.acknowledged() => Ok(()),
            ended = self.shared.ended() => Err(RespondError::Ended(ended)),
        }
    }
}
