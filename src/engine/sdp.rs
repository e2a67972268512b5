//! SDP answers for `body = { sdp = "answer" }` (filled in with the SDP work).

use crate::sip::Request;
use crate::transaction::Dialog;

/// Derives SDP answers from offers.
#[derive(Debug, Default)]
pub struct SdpService;

impl SdpService {
    /// The answer to the offer in `request` (or an offer, for a late-offer INVITE).
    pub fn answer(&self, _request: &Request, _dialog: Option<&Dialog>) -> String {
        String::new()
    }
}
