//! Anthropic Messages wire shapes: the caller-facing side (`ingress`), the upstream side
//! (`upstream`), and the block and usage formats both share.

mod ingress;
mod upstream;

pub use ingress::{parse_request, render_response, StreamRenderer};
pub use upstream::{
    parse_stop_reason, parse_upstream_error, parse_upstream_response, upstream_body,
    UpstreamStreamParser, DEFAULT_MAX_TOKENS,
};

use super::{FinishReason, Image, Part};
use aig_common::catalog::TokenUsage;
use serde::Deserialize;
use serde_json::{json, Value};

/// Anthropic's `stop_reason` and `stop_sequence` for a finish.
pub fn stop_reason(finish: &FinishReason) -> (&'static str, Option<&str>) {
    match finish {
        FinishReason::Stop => ("end_turn", None),
        FinishReason::StopSequence(seq) => ("stop_sequence", seq.as_deref()),
        FinishReason::Length => ("max_tokens", None),
        FinishReason::ContentFilter => ("refusal", None),
        FinishReason::ToolCalls => ("tool_use", None),
    }
}

pub fn usage_json(u: &TokenUsage) -> Value {
    json!({
        "input_tokens": u.input,
        "output_tokens": u.output,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
    })
}

/// A text or image part as an Anthropic content block.
pub fn part_block(part: &Part) -> Value {
    match part {
        Part::Text(t) => json!({ "type": "text", "text": t }),
        Part::Image(Image::Url(url)) => {
            json!({ "type": "image", "source": { "type": "url", "url": url } })
        }
        Part::Image(Image::Base64 { media_type, data }) => json!({
            "type": "image",
            "source": { "type": "base64", "media_type": media_type, "data": data },
        }),
    }
}

/// A tool call's arguments as the `input` object of a `tool_use` block. Arguments that
/// are not a JSON object (a model's malformed output) are kept under `_raw` rather than
/// lost.
pub fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ if arguments.trim().is_empty() => json!({}),
        _ => json!({ "_raw": arguments }),
    }
}

/// An image block's `source`.
#[derive(Deserialize)]
pub struct WireImageSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub media_type: Option<String>,
    pub data: Option<String>,
    pub url: Option<String>,
}

impl WireImageSource {
    pub fn to_image(self) -> Result<Image, String> {
        match (self.kind.as_str(), self.media_type, self.data, self.url) {
            ("base64", Some(media_type), Some(data), _) => {
                if !media_type.starts_with("image/") {
                    return Err(format!("media_type {media_type:?} is not an image type"));
                }
                Ok(Image::Base64 { media_type, data })
            }
            ("url", _, _, Some(url)) => Image::from_url(&url),
            (kind, ..) => Err(format!(
                "source: type {kind:?} needs media_type and data (base64) or url (url)"
            )),
        }
    }
}
