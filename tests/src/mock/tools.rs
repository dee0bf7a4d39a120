//! Tools, structured output and images, whatever the provider: which tools an answer calls and
//! with what arguments, the JSON a response format asks for, and the checks on image inputs.

use serde_json::{json, Map, Value};

/// One tool the request offers: its name and the JSON schema of its arguments.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tool {
    pub name: String,
    pub schema: Value,
}

/// What the request lets the model do with its tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    /// OpenAI `auto`, Anthropic `auto`, Cohere's default.
    Auto,
    /// OpenAI `none`, Anthropic `none`, Cohere `NONE`: answer with text.
    None,
    /// OpenAI `required`, Anthropic `any`, Cohere `REQUIRED`.
    Required,
    /// OpenAI `{type: function, function: {name}}`, Anthropic `{type: tool, name}`.
    Named(String),
}

/// The request's tools, never empty, and how they may be used.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tools {
    pub list: Vec<Tool>,
    pub choice: ToolChoice,
    /// False with OpenAI `parallel_tool_calls: false` or Anthropic
    /// `disable_parallel_tool_use: true`: at most one call.
    pub parallel: bool,
}

/// One tool call of the answer: the tool's name and its arguments, compact JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    pub name: String,
    pub arguments: String,
}

/// What the conversation's last turn is, which decides the kind of answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Turn {
    /// A user turn that is not a tool result.
    #[default]
    User,
    /// Tool results (OpenAI/Cohere: the trailing `tool` messages; Anthropic: the last user
    /// turn's `tool_result` blocks), each one's content as text, in order.
    ToolResults(Vec<String>),
    /// Anything else, e.g. an assistant prefill or a trailing system message.
    Other,
}

/// The shape the reply text must take.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Format {
    #[default]
    Text,
    /// `{"reply": "<the usual text>"}`.
    JsonObject,
    /// An instance of this schema, built like tool arguments.
    JsonSchema(Value),
}

/// The calls the answer makes, when it makes any: tools are offered, the choice is not `none`
/// and the last turn is the user's (not a tool result).
///
/// A named choice calls that tool. Otherwise every tool whose name occurs in `said` is called,
/// ordered by where its name first occurs (ties in declaration order), or the first tool when
/// none is named; without parallel calls only the first of those.
pub(crate) fn calls(tools: Option<&Tools>, turn: &Turn, said: &str) -> Option<Vec<Call>> {
    let tools = tools?;
    if *turn != Turn::User || tools.choice == ToolChoice::None {
        return None;
    }
    let chosen: Vec<&Tool> = match &tools.choice {
        ToolChoice::Named(name) => tools
            .list
            .iter()
            .find(|t| t.name == *name)
            .into_iter()
            .collect(),
        _ => {
            let mut named: Vec<(usize, usize, &Tool)> = tools
                .list
                .iter()
                .enumerate()
                .filter_map(|(i, tool)| said.find(tool.name.as_str()).map(|at| (at, i, tool)))
                .collect();
            named.sort_by_key(|(at, i, _)| (*at, *i));
            let mut named: Vec<&Tool> = named.into_iter().map(|(_, _, tool)| tool).collect();
            if named.is_empty() {
                named.extend(tools.list.first());
            }
            if !tools.parallel {
                named.truncate(1);
            }
            named
        }
    };
    if chosen.is_empty() {
        return None;
    }
    Some(
        chosen
            .into_iter()
            .map(|tool| Call {
                name: tool.name.clone(),
                arguments: instance(&tool.schema, said).to_string(),
            })
            .collect(),
    )
}

/// A JSON object with every property of `schema` (required or not), in the schema's order:
/// its `const`, else the first of its `enum`, else by type: string → `said`, integer or number
/// → 42, boolean → true, array → [], object → {}, anything else → null. A type list uses its
/// first type that is not "null".
pub(crate) fn instance(schema: &Value, said: &str) -> Value {
    let mut object = Map::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (key, property) in properties {
            object.insert(key.clone(), property_value(property, said));
        }
    }
    Value::Object(object)
}

fn property_value(property: &Value, said: &str) -> Value {
    if let Some(constant) = property.get("const") {
        return constant.clone();
    }
    if let Some(first) = property
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|options| options.first())
    {
        return first.clone();
    }
    let kind = match property.get("type") {
        Some(Value::String(kind)) => Some(kind.as_str()),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null"),
        _ => None,
    };
    match kind {
        Some("string") => Value::String(said.to_owned()),
        Some("integer" | "number") => json!(42),
        Some("boolean") => Value::Bool(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => Value::Null,
    }
}

/// The reply text in the requested format.
pub(crate) fn formatted(text: String, format: &Format, said: &str) -> String {
    match format {
        Format::Text => text,
        Format::JsonObject => json!({ "reply": text }).to_string(),
        Format::JsonSchema(schema) => instance(schema, said).to_string(),
    }
}

/// `Tool results: ` and the results joined by ` | `.
pub(crate) fn results_text(results: &[String]) -> String {
    format!("Tool results: {}", results.join(" | "))
}

/// Streamed argument fragments: 8 characters each, the last one shorter.
pub(crate) fn fragments(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    chars
        .chunks(8)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

/// The image media types all three providers take.
pub(crate) const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Why an image URL is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BadImage {
    /// Neither `http(s)://…` nor a `data:` URL.
    NotAUrl,
    /// A `data:` URL whose media type is not one of [`IMAGE_TYPES`].
    MediaType(String),
    /// A `data:` URL that is not `data:<type>;base64,<base64>`.
    NotBase64,
}

/// An `https://…` (or `http://…`) URL, or `data:image/<png|jpeg|gif|webp>;base64,<data>`.
pub(crate) fn check_image_url(url: &str) -> Result<(), BadImage> {
    if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        return if rest.is_empty() || rest.contains(char::is_whitespace) {
            Err(BadImage::NotAUrl)
        } else {
            Ok(())
        };
    }
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(BadImage::NotAUrl);
    };
    let Some((header, data)) = rest.split_once(',') else {
        return Err(BadImage::NotBase64);
    };
    let Some(media_type) = header.strip_suffix(";base64") else {
        return Err(BadImage::NotBase64);
    };
    if !IMAGE_TYPES.contains(&media_type) {
        return Err(BadImage::MediaType(media_type.to_owned()));
    }
    if is_base64(data) {
        Ok(())
    } else {
        Err(BadImage::NotBase64)
    }
}

/// Standard base64 with padding, not empty.
pub(crate) fn is_base64(data: &str) -> bool {
    if data.is_empty() || !data.len().is_multiple_of(4) {
        return false;
    }
    let body = data.trim_end_matches('=');
    data.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A tool name all three APIs accept: 1 to 64 of `[a-zA-Z0-9_-]`.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            schema: json!({
                "type": "object",
                "properties": {
                    "city": { "type": "string" },
                    "days": { "type": "integer" },
                    "metric": { "type": "boolean" },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "extra": { "type": "object" },
                    "unit": { "type": "string", "enum": ["c", "f"] },
                    "maybe": { "type": ["null", "number"] },
                },
                "required": ["city"],
            }),
        }
    }

    fn tools(choice: ToolChoice, parallel: bool) -> Tools {
        Tools {
            list: vec![tool("get_weather"), tool("get_time"), tool("search")],
            choice,
            parallel,
        }
    }

    fn names(calls: Option<Vec<Call>>) -> Vec<String> {
        calls
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn arguments_follow_the_schema_in_its_property_order() {
        let args = instance(&tool("t").schema, "Paris \"now\"").to_string();
        assert_eq!(
            args,
            r#"{"city":"Paris \"now\"","days":42,"metric":true,"tags":[],"extra":{},"unit":"c","maybe":42}"#
        );
        assert_eq!(instance(&json!({}), "x").to_string(), "{}");
    }

    #[test]
    fn named_tools_are_called_in_order_of_appearance() {
        let said = "search, then get_time and get_weather";
        let all = tools(ToolChoice::Auto, true);
        assert_eq!(
            names(calls(Some(&all), &Turn::User, said)),
            ["search", "get_time", "get_weather"]
        );
        let one = tools(ToolChoice::Auto, false);
        assert_eq!(names(calls(Some(&one), &Turn::User, said)), ["search"]);
        assert_eq!(
            names(calls(Some(&all), &Turn::User, "nothing named")),
            ["get_weather"]
        );
        let named = tools(ToolChoice::Named("get_time".into()), true);
        assert_eq!(names(calls(Some(&named), &Turn::User, said)), ["get_time"]);
    }

    #[test]
    fn no_calls_without_tools_with_none_or_after_tool_results() {
        let all = tools(ToolChoice::Auto, true);
        assert_eq!(calls(None, &Turn::User, "x"), None);
        let none = tools(ToolChoice::None, true);
        assert_eq!(calls(Some(&none), &Turn::User, "x"), None);
        let results = Turn::ToolResults(vec!["20C".into()]);
        assert_eq!(calls(Some(&all), &results, "x"), None);
        assert_eq!(calls(Some(&all), &Turn::Other, "x"), None);
    }

    #[test]
    fn fragments_rebuild_the_arguments() {
        let args = r#"{"city":"Zürich","days":42}"#;
        let frags = fragments(args);
        assert!(frags.iter().all(|f| f.chars().count() <= 8));
        assert_eq!(frags.concat(), args);
        assert_eq!(fragments("{}"), ["{}"]);
    }

    #[test]
    fn image_urls_are_checked() {
        assert_eq!(check_image_url("https://example.com/cat.png"), Ok(()));
        assert_eq!(
            check_image_url("data:image/png;base64,iVBORw0KGgo="),
            Ok(())
        );
        assert_eq!(
            check_image_url("data:image/bmp;base64,Qk0="),
            Err(BadImage::MediaType("image/bmp".into()))
        );
        assert_eq!(
            check_image_url("data:image/png;base64,not base64!"),
            Err(BadImage::NotBase64)
        );
        assert_eq!(
            check_image_url("data:image/png,abcd"),
            Err(BadImage::NotBase64)
        );
        assert_eq!(check_image_url("ftp://x"), Err(BadImage::NotAUrl));
        assert_eq!(check_image_url(""), Err(BadImage::NotAUrl));
    }

    #[test]
    fn base64_needs_whole_quads_and_at_most_two_pads() {
        assert!(is_base64("aGk="));
        assert!(is_base64("aGVsbG8h"));
        assert!(!is_base64("aGk"));
        assert!(!is_base64("a==="));
        assert!(!is_base64(""));
    }
}
