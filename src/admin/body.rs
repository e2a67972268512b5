//! Request bodies of the admin routes that take one (`POST /rules`, `PUT
//! /rules/{name}`): at most [`MAX_BODY`] bytes, arriving whole within
//! [`BODY_READ_TIMEOUT`]; anything else is refused before it is read
//! further. Other routes never read their body.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;

/// Largest request body, bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// A body must arrive whole within this.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a body was not taken.
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
    #[error("the body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the body did not arrive within {} s", BODY_READ_TIMEOUT.as_secs())]
    Timeout,
    #[error("the body could not be read: {0}")]
    Failed(String),
    #[error("the body is not UTF-8")]
    NotText,
}

/// The whole body of `request`, as text.
pub(super) async fn read(request: hyper::Request<Incoming>) -> Result<String, BodyError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let limited = Limited::new(request.into_body(), MAX_BODY);
    let collected = tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect())
        .await
        .map_err(|_| BodyError::Timeout)?;
    let bytes: Bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(BodyError::TooLarge);
        }
        Err(error) => return Err(BodyError::Failed(error.to_string())),
    };
    String::from_utf8(bytes.to_vec()).map_err(|_| BodyError::NotText)
}
