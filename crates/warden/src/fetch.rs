//! Reading an HTTP answer from a provider with a cap on its size: the one reader of key sets,
//! discovery documents and a transmitter's answers.

/// Why an answer's body could not be read.
pub(crate) enum BodyError {
    /// Longer than the cap (by `Content-Length`, or once read).
    TooLarge,
    /// The transfer did not finish in time.
    Timeout,
    /// The connection broke off.
    Connect,
}

/// The body of `response`, refused as soon as it is known to exceed `max` bytes.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() && !e.is_connect() => return Err(BodyError::Timeout),
            Err(_) => return Err(BodyError::Connect),
        }
    }
}
