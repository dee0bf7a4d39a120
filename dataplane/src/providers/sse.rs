//! A server-sent-events decoder for upstream streams: bytes in, `event`/`data` frames out.

/// One dispatched SSE frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseFrame {
    /// The `event:` field, when the stream names its events (Anthropic, Cohere).
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Incremental decoder: feed it chunks as they arrive, take the complete frames.
#[derive(Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    has_data: bool,
}

/// Longest line accepted before the stream counts as malformed.
const MAX_LINE: usize = 8 * 1024 * 1024;

impl SseDecoder {
    /// Adds bytes and returns the frames they completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseFrame>, String> {
        self.buffer.extend_from_slice(chunk);
        let mut frames = Vec::new();
        while let Some(pos) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line =
                String::from_utf8(line).map_err(|_| "stream line is not UTF-8".to_string())?;
            if let Some(frame) = self.line(&line) {
                frames.push(frame);
            }
        }
        if self.buffer.len() > MAX_LINE {
            return Err("stream line longer than 8 MiB".into());
        }
        Ok(frames)
    }

    /// The frame left unterminated when the stream ended, if any.
    pub fn finish(&mut self) -> Option<SseFrame> {
        if !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            let line = String::from_utf8_lossy(&rest).into_owned();
            if let Some(frame) = self.line(&line) {
                return Some(frame);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseFrame> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseFrame> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseFrame {
            event,
            data: std::mem::take(&mut self.data).join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_chunks_are_reassembled() {
        let mut d = SseDecoder::default();
        assert!(d.push(b"event: message_start\r\nda").unwrap().is_empty());
        let frames = d
            .push(b"ta: {\"a\":1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n")
            .unwrap();
        assert_eq!(
            frames,
            vec![
                SseFrame {
                    event: Some("message_start".into()),
                    data: "{\"a\":1}".into()
                },
                SseFrame {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
    }

    #[test]
    fn multi_line_data_is_joined_and_an_unterminated_frame_is_kept_at_the_end() {
        let mut d = SseDecoder::default();
        assert_eq!(d.push(b"data: a\ndata: b\n\ndata: c").unwrap().len(), 1);
        assert_eq!(
            d.finish(),
            Some(SseFrame {
                event: None,
                data: "c".into()
            })
        );
    }
}
