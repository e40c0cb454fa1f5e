//! Delivery: a SET pushed to a receiver (RFC 8935), or queued for polling (RFC 8936).

use std::time::Duration;

use crate::state::{StreamDelivery, Transmitter, lock};

use super::PushAnswer;

/// POSTs a SET to a receiver's push endpoint as RFC 8935 says.
pub(crate) async fn push(
    endpoint_url: &str,
    authorization: Option<&str>,
    set: &str,
) -> Result<PushAnswer, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client
        .post(endpoint_url)
        .header("content-type", "application/secevent+jwt")
        .header("accept", "application/json")
        .body(set.to_owned());
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let www_authenticate = header("www-authenticate");
    let content_type = header("content-type");
    let content_language = header("content-language");
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(PushAnswer {
        status,
        body,
        www_authenticate,
        content_type,
        content_language,
    })
}

impl Transmitter {
    /// Delivers a signed SET on every stream: pushed to push streams (their answers
    /// returned), queued on poll streams.
    pub(crate) async fn deliver(&self, jti: &str, set: &str) -> Vec<PushAnswer> {
        let mut pushes = Vec::new();
        {
            let mut streams = lock(&self.streams);
            for stream in streams.values_mut() {
                match &stream.delivery {
                    StreamDelivery::Push {
                        endpoint_url,
                        authorization,
                    } => pushes.push((endpoint_url.clone(), authorization.clone())),
                    StreamDelivery::Poll => {
                        stream.queue.push_back((jti.to_owned(), set.to_owned()));
                    }
                }
            }
        }
        self.queued.notify_waiters();
        let mut answers = Vec::new();
        for (url, authorization) in pushes {
            match push(&url, authorization.as_deref(), set).await {
                Ok(answer) => answers.push(answer),
                Err(error) => tracing::warn!(%error, "the fake transmitter could not push"),
            }
        }
        answers
    }

    pub(crate) fn set_errors(&self) -> Vec<(String, String)> {
        lock(&self.set_errors).clone()
    }

    pub(crate) fn acknowledged(&self) -> Vec<String> {
        lock(&self.acknowledged).clone()
    }

    pub(crate) fn stream_ids(&self) -> Vec<String> {
        lock(&self.streams).keys().cloned().collect()
    }
}
