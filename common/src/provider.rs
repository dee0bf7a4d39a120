//! Provider slugs: the part of a model slug before the first `/`.

use std::fmt;
use std::str::FromStr;

/// Every upstream provider AIgateway can route to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderId {
    Openai,
    Anthropic,
    Moonshot,
    Cohere,
    Google,
    Mistral,
    Groq,
    Deepseek,
    Xai,
    Together,
}

impl ProviderId {
    pub const ALL: [ProviderId; 10] = [
        ProviderId::Openai,
        ProviderId::Anthropic,
        ProviderId::Moonshot,
        ProviderId::Cohere,
        ProviderId::Google,
        ProviderId::Mistral,
        ProviderId::Groq,
        ProviderId::Deepseek,
        ProviderId::Xai,
        ProviderId::Together,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProviderId::Openai => "openai",
            ProviderId::Anthropic => "anthropic",
            ProviderId::Moonshot => "moonshot",
            ProviderId::Cohere => "cohere",
            ProviderId::Google => "google",
            ProviderId::Mistral => "mistral",
            ProviderId::Groq => "groq",
            ProviderId::Deepseek => "deepseek",
            ProviderId::Xai => "xai",
            ProviderId::Together => "together",
        }
    }

    /// The `<NAME>` in `AIG_PROVIDER_<NAME>_BASE_URL`.
    pub fn env_name(self) -> String {
        self.slug().to_ascii_uppercase()
    }
}

impl FromStr for ProviderId {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.slug() == s)
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}")]
pub struct UnknownProvider(pub String);
