//! An upstream's event stream after its headers arrived: bytes → SSE frames → canonical
//! events, pulled one at a time.

use super::sse::SseDecoder;
use crate::shapes::stream::{StreamEvent, StreamParser};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::VecDeque;

/// A live upstream stream. Dropping it closes the connection, which cancels the upstream
/// request.
pub struct UpstreamStream {
    bytes: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: SseDecoder,
    parser: Box<dyn StreamParser>,
    pending: VecDeque<StreamEvent>,
    ended: bool,
}

impl UpstreamStream {
    pub fn new(response: reqwest::Response, parser: Box<dyn StreamParser>) -> Self {
        Self {
            bytes: response.bytes_stream().boxed(),
            decoder: SseDecoder::default(),
            parser,
            pending: VecDeque::new(),
            ended: false,
        }
    }

    /// The next event; `Err` when the connection broke or a frame did not parse, `None`
    /// when the upstream closed the connection.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, String>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            match self.bytes.next().await {
                Some(Ok(chunk)) => {
                    let frames = match self.decoder.push(&chunk) {
                        Ok(frames) => frames,
                        Err(e) => return Some(self.fail(e)),
                    };
                    for frame in frames {
                        match self.parser.parse(&frame) {
                            Ok(events) => self.pending.extend(events),
                            Err(e) => return Some(self.fail(e)),
                        }
                    }
                }
                Some(Err(e)) => return Some(self.fail(format!("stream cut: {e}"))),
                None => {
                    self.ended = true;
                    if let Some(frame) = self.decoder.finish() {
                        match self.parser.parse(&frame) {
                            Ok(events) => self.pending.extend(events),
                            Err(e) => return Some(Err(e)),
                        }
                    }
                }
            }
        }
    }

    fn fail(&mut self, why: String) -> Result<StreamEvent, String> {
        self.ended = true;
        self.pending.clear();
        Err(why)
    }
}
