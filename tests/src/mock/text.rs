//! The deterministic answer: reply text or tool calls, token counts, max_tokens and stop-sequence
//! cuts, stream pieces.

use serde_json::Value;

use super::tools::{self, Call, Format, Tools, Turn};

/// What the answer depends on, already pulled out of the provider's request shape.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prompt {
    /// System prompt and every message, one text each, for the input token count.
    pub texts: Vec<String>,
    /// The text of the last user message.
    pub last_user: String,
    /// The request's output token limit.
    pub max_tokens: Option<u64>,
    /// The request's stop sequences.
    pub stop: Vec<String>,
    /// Images in the last user message.
    pub images: usize,
    /// What the last turn is.
    pub turn: Turn,
    /// The tools offered, `None` when there are none.
    pub tools: Option<Tools>,
    /// The requested response format.
    pub format: Format,
}

/// Why the answer ended, before each provider spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    Complete,
    Length,
    StopSequence(String),
    Filter,
    ToolCalls,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub text: String,
    /// The tool calls, when the answer makes them instead of replying with text.
    pub calls: Vec<Call>,
    pub finish: Finish,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// ceil(chars / 4), at least 1.
pub(crate) fn tokens(text: &str) -> u64 {
    let chars = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
    chars.div_ceil(4).max(1)
}

/// What `-drip-<ms>` appends to the reply, [`DRIP_REPEATS`] times: three words, one stream piece.
pub(crate) const DRIP_TAIL: &str = " (and so on)";

/// Enough repeats of [`DRIP_TAIL`] for 24+ stream pieces whatever the user said.
pub(crate) const DRIP_REPEATS: usize = 24;

/// Tool calls when [`tools::calls`] makes any (never cut). Otherwise the reply: `Tool results:
/// a | b` after tool results, else `Hello from {provider}/{model}. You said: {last user text}`
/// (` (I see N image(s))` before the `.` when the last user message carried images); put in
/// the requested format, then cut by a stop sequence or by max_tokens, whichever the
/// generation would reach first.
pub(crate) fn answer(provider: &str, model: &str, prompt: &Prompt) -> Answer {
    calls_answer(prompt).unwrap_or_else(|| cut(reply(provider, model, prompt, ""), prompt))
}

/// [`answer`] with [`DRIP_TAIL`] appended [`DRIP_REPEATS`] times to the reply before the format
/// and the cuts, so that plain text streams in more than 20 content frames.
pub(crate) fn long_answer(provider: &str, model: &str, prompt: &Prompt) -> Answer {
    calls_answer(prompt).unwrap_or_else(|| {
        let tail = DRIP_TAIL.repeat(DRIP_REPEATS);
        cut(reply(provider, model, prompt, &tail), prompt)
    })
}

fn reply(provider: &str, model: &str, prompt: &Prompt, tail: &str) -> String {
    let text = match &prompt.turn {
        Turn::ToolResults(results) => tools::results_text(results),
        Turn::User | Turn::Other => greeting(provider, model, prompt),
    };
    tools::formatted(text + tail, &prompt.format, &prompt.last_user)
}

fn greeting(provider: &str, model: &str, prompt: &Prompt) -> String {
    let seen = match prompt.images {
        0 => String::new(),
        n => format!(" (I see {n} image(s))"),
    };
    format!(
        "Hello from {provider}/{model}{seen}. You said: {}",
        prompt.last_user
    )
}

/// The tool-call answer: no text, output tokens the sum over calls of tokens(name + arguments).
fn calls_answer(prompt: &Prompt) -> Option<Answer> {
    let calls = tools::calls(prompt.tools.as_ref(), &prompt.turn, &prompt.last_user)?;
    Some(Answer {
        text: String::new(),
        output_tokens: calls
            .iter()
            .map(|call| tokens(&format!("{}{}", call.name, call.arguments)))
            .sum(),
        calls,
        finish: Finish::ToolCalls,
        input_tokens: input_tokens(prompt),
    })
}

fn cut(full: String, prompt: &Prompt) -> Answer {
    let limit = prompt
        .max_tokens
        .map(|max| usize::try_from(max.saturating_mul(4)).unwrap_or(usize::MAX));
    let stop = prompt
        .stop
        .iter()
        .filter(|seq| !seq.is_empty())
        .filter_map(|seq| full.find(seq.as_str()).map(|at| (at, seq)))
        .min_by_key(|(at, _)| *at);

    let (text, finish) = match stop {
        Some((at, seq)) if limit.is_none_or(|limit| full[..at].chars().count() <= limit) => {
            (full[..at].to_owned(), Finish::StopSequence(seq.clone()))
        }
        _ => match limit {
            Some(limit) if full.chars().count() > limit => {
                (full.chars().take(limit).collect(), Finish::Length)
            }
            _ => (full, Finish::Complete),
        },
    };
    Answer {
        output_tokens: tokens(&text),
        text,
        calls: Vec::new(),
        finish,
        input_tokens: input_tokens(prompt),
    }
}

/// A content-filter outcome: no text, no output tokens.
pub(crate) fn filtered(prompt: &Prompt) -> Answer {
    Answer {
        text: String::new(),
        calls: Vec::new(),
        finish: Finish::Filter,
        input_tokens: input_tokens(prompt),
        output_tokens: 0,
    }
}

fn input_tokens(prompt: &Prompt) -> u64 {
    prompt.texts.iter().map(|text| tokens(text)).sum()
}

/// The text of a message's content in any of the three shapes: a string, or an array of blocks
/// whose `text` blocks are joined by newlines. Anything else has no text.
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The reply in stream-sized pieces of about three words, whitespace kept.
pub(crate) fn pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    words.chunks(3).map(|chunk| chunk.concat()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(last_user: &str) -> Prompt {
        Prompt {
            texts: vec!["be brief".into(), last_user.into()],
            last_user: last_user.into(),
            ..Prompt::default()
        }
    }

    #[test]
    fn tokens_are_a_quarter_of_the_characters_rounded_up() {
        assert_eq!(tokens(""), 1);
        assert_eq!(tokens("abcd"), 1);
        assert_eq!(tokens("abcde"), 2);
        assert_eq!(tokens("héllo"), 2);
    }

    #[test]
    fn the_reply_echoes_provider_model_and_last_user_text() {
        let answer = answer("openai", "gpt-5.4", &prompt("hi"));
        assert_eq!(answer.text, "Hello from openai/gpt-5.4. You said: hi");
        assert_eq!(answer.finish, Finish::Complete);
        assert_eq!(answer.input_tokens, 2 + 1);
        assert_eq!(answer.output_tokens, tokens(&answer.text));
    }

    #[test]
    fn max_tokens_truncates_to_four_characters_a_token() {
        let mut p = prompt("hi");
        p.max_tokens = Some(3);
        let answer = answer("openai", "m", &p);
        assert_eq!(answer.text, "Hello from o");
        assert_eq!(answer.finish, Finish::Length);
        assert_eq!(answer.output_tokens, 3);
    }

    #[test]
    fn the_earliest_stop_sequence_cuts_before_itself() {
        let mut p = prompt("hi");
        p.stop = vec!["said".into(), "from".into()];
        let answer = answer("openai", "m", &p);
        assert_eq!(answer.text, "Hello ");
        assert_eq!(answer.finish, Finish::StopSequence("from".into()));
    }

    #[test]
    fn max_tokens_wins_when_it_is_reached_before_the_stop_sequence() {
        let mut p = prompt("hi");
        p.stop = vec!["said".into()];
        p.max_tokens = Some(1);
        assert_eq!(answer("openai", "m", &p).finish, Finish::Length);
    }

    #[test]
    fn the_long_answer_keeps_the_greeting_and_streams_in_over_20_pieces() {
        for said in ["", "hi", "a much longer thing to say than usual"] {
            let long = long_answer("openai", "m-drip-5", &prompt(said));
            let short = answer("openai", "m-drip-5", &prompt(said));
            assert!(long.text.starts_with(&short.text));
            assert!(long.text.ends_with(" (and so on) (and so on)"));
            assert_eq!(long.output_tokens, tokens(&long.text));
            assert_eq!(long.finish, Finish::Complete);
            assert!(pieces(&long.text).len() > 20, "{said:?}");
        }
    }

    #[test]
    fn images_in_the_last_user_turn_are_mentioned() {
        let mut p = prompt("look");
        p.images = 2;
        assert_eq!(
            answer("openai", "m", &p).text,
            "Hello from openai/m (I see 2 image(s)). You said: look"
        );
    }

    #[test]
    fn tool_results_are_echoed_then_formatted_and_cut() {
        let mut p = prompt("hi");
        p.turn = Turn::ToolResults(vec!["20C".into(), "noon".into()]);
        assert_eq!(answer("openai", "m", &p).text, "Tool results: 20C | noon");
        p.format = Format::JsonObject;
        assert_eq!(
            answer("openai", "m", &p).text,
            r#"{"reply":"Tool results: 20C | noon"}"#
        );
        p.max_tokens = Some(2);
        assert_eq!(answer("openai", "m", &p).text, r#"{"reply""#);
    }

    #[test]
    fn a_json_schema_reply_is_an_instance_of_the_schema() {
        let mut p = prompt("hi");
        p.format = Format::JsonSchema(serde_json::json!({
            "type": "object",
            "properties": { "b": { "type": "boolean" }, "a": { "type": "string" } },
        }));
        assert_eq!(answer("openai", "m", &p).text, r#"{"b":true,"a":"hi"}"#);
    }

    #[test]
    fn offered_tools_answer_with_uncut_calls() {
        let mut p = prompt("x");
        p.max_tokens = Some(1);
        p.tools = Some(tools::Tools {
            list: vec![tools::Tool {
                name: "t".into(),
                schema: serde_json::json!({ "properties": { "q": { "type": "string" } } }),
            }],
            choice: tools::ToolChoice::Auto,
            parallel: true,
        });
        let answer = answer("openai", "m", &p);
        assert_eq!(answer.finish, Finish::ToolCalls);
        assert_eq!(answer.text, "");
        assert_eq!(answer.calls.len(), 1);
        assert_eq!(answer.calls[0].arguments, r#"{"q":"x"}"#);
        assert_eq!(answer.output_tokens, tokens(r#"t{"q":"x"}"#));
    }

    #[test]
    fn pieces_rebuild_the_text() {
        let text = "Hello from openai/gpt-5.4. You said: what is up";
        let pieces = pieces(text);
        assert_eq!(pieces[0], "Hello from openai/gpt-5.4. ");
        assert_eq!(pieces.concat(), text);
        assert!(super::pieces("").is_empty());
    }
}
