//! Reading an answer's body within the service's limit: the whole of a
//! success, the start of an error.

/// The whole body, or `None` if it is longer than `limit`: a declared
/// length over the limit is refused before reading, an undeclared one as
/// soon as the limit is passed, so an endless stream ends there too.
pub(super) async fn read_body(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The first `limit` bytes of the body; the rest is never read.
pub(super) async fn read_prefix(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, reqwest::Error> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    while body.len() < limit
        && let Some(chunk) = response.chunk().await?
    {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(body)
}
