//! The model catalog and its prices, loaded from `catalog.toml`.

use crate::money::{nanos_to_micros_ceil, MicroUsd, TokenPrice};
use crate::provider::{ProviderId, UnknownProvider};
use serde::Deserialize;
use std::collections::HashMap;

/// The catalog shipped in the repository, compiled in as the default.
pub const BUILTIN_CATALOG: &str = include_str!("../../catalog.toml");

/// Prices of one model, per token kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prices {
    pub input: TokenPrice,
    pub cached_input: TokenPrice,
    pub cache_write: TokenPrice,
    pub output: TokenPrice,
}

/// Tokens of one answer, split the way providers price them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Input tokens billed at the full input price (not cache reads or writes).
    pub input: u64,
    /// Input tokens served from the provider's prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write: u64,
    pub output: u64,
}

impl Prices {
    /// What `usage` costs, rounded up to a whole micro-USD.
    pub fn cost(&self, usage: &TokenUsage) -> MicroUsd {
        nanos_to_micros_ceil(
            self.input.nanos_for(usage.input)
                + self.cached_input.nanos_for(usage.cache_read)
                + self.cache_write.nanos_for(usage.cache_write)
                + self.output.nanos_for(usage.output),
        )
    }

    /// The dearest of the two, field by field (for worst-case estimates).
    pub fn max(self, other: Prices) -> Prices {
        let m = |a: TokenPrice, b: TokenPrice| {
            if a.nano_usd_per_token() >= b.nano_usd_per_token() {
                a
            } else {
                b
            }
        };
        Prices {
            input: m(self.input, other.input),
            cached_input: m(self.cached_input, other.cached_input),
            cache_write: m(self.cache_write, other.cache_write),
            output: m(self.output, other.output),
        }
    }
}

/// What a model can take and do beyond plain text. Unlisted models are assumed capable:
/// the provider says no if they are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Image input.
    pub vision: bool,
    /// Tool (function) calling.
    pub tools: bool,
    /// JSON output (`response_format`), natively or emulated.
    pub json_output: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            vision: true,
            tools: true,
            json_output: true,
        }
    }
}

/// A model the catalog lists.
#[derive(Clone, Debug)]
pub struct ModelEntry {
    /// `provider/model`, as callers write it.
    pub slug: String,
    pub provider: ProviderId,
    /// The model id sent upstream (the part after `/` unless the catalog maps an alias).
    pub upstream: String,
    pub display_name: String,
    pub context_window: Option<u32>,
    pub prices: Prices,
    pub capabilities: Capabilities,
}

/// A caller's slug resolved against the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModel {
    pub slug: String,
    pub provider: ProviderId,
    pub upstream: String,
    pub prices: Prices,
    /// False when the provider's default price applied.
    pub listed: bool,
    pub capabilities: Capabilities,
}

/// Why a slug could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("model {0:?} must be written as provider/model, e.g. openai/gpt-5.4")]
    Malformed(String),
    #[error("model {slug:?}: {source}")]
    UnknownProvider {
        slug: String,
        #[source]
        source: UnknownProvider,
    },
    #[error("model {slug:?}: the catalog has no prices for provider {provider}")]
    Unpriced { slug: String, provider: ProviderId },
}

/// Why a catalog file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("catalog: {0}")]
    Invalid(String),
}

#[derive(Clone, Debug)]
struct ProviderPricing {
    default: Prices,
    prices_as_of: String,
    source: String,
}

/// The loaded catalog.
#[derive(Clone, Debug)]
pub struct Catalog {
    providers: HashMap<ProviderId, ProviderPricing>,
    models: Vec<ModelEntry>,
    by_slug: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    providers: HashMap<String, RawProvider>,
    #[serde(default, rename = "model")]
    models: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    prices_as_of: String,
    source: String,
    default: RawPrices,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawPrices {
    input: TokenPrice,
    output: TokenPrice,
    cached_input: Option<TokenPrice>,
    cache_write: Option<TokenPrice>,
}

impl From<RawPrices> for Prices {
    fn from(raw: RawPrices) -> Self {
        Prices {
            input: raw.input,
            cached_input: raw.cached_input.unwrap_or(raw.input),
            cache_write: raw.cache_write.unwrap_or(raw.input),
            output: raw.output,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    slug: String,
    name: String,
    upstream: Option<String>,
    context_window: Option<u32>,
    #[serde(default = "yes")]
    vision: bool,
    #[serde(default = "yes")]
    tools: bool,
    #[serde(default = "yes")]
    json_output: bool,
    #[serde(flatten)]
    prices: RawPrices,
}

fn yes() -> bool {
    true
}

impl Catalog {
    /// The catalog compiled into the binaries.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::from_toml(BUILTIN_CATALOG)
    }

    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let raw: RawCatalog = toml::from_str(text)?;
        let mut providers = HashMap::new();
        for (name, p) in raw.providers {
            let id: ProviderId = name
                .parse()
                .map_err(|e: UnknownProvider| CatalogError::Invalid(e.to_string()))?;
            providers.insert(
                id,
                ProviderPricing {
                    default: p.default.into(),
                    prices_as_of: p.prices_as_of,
                    source: p.source,
                },
            );
        }
        let mut models = Vec::with_capacity(raw.models.len());
        let mut by_slug = HashMap::new();
        for m in raw.models {
            let (provider, model) =
                split_slug(&m.slug).map_err(|e| CatalogError::Invalid(e.to_string()))?;
            if !providers.contains_key(&provider) {
                return Err(CatalogError::Invalid(format!(
                    "model {:?} names provider {provider} which has no [providers.{provider}] table",
                    m.slug
                )));
            }
            if by_slug.insert(m.slug.clone(), models.len()).is_some() {
                return Err(CatalogError::Invalid(format!(
                    "model {:?} is listed twice",
                    m.slug
                )));
            }
            models.push(ModelEntry {
                upstream: m.upstream.unwrap_or_else(|| model.to_owned()),
                slug: m.slug,
                provider,
                display_name: m.name,
                context_window: m.context_window,
                prices: m.prices.into(),
                capabilities: Capabilities {
                    vision: m.vision,
                    tools: m.tools,
                    json_output: m.json_output,
                },
            });
        }
        Ok(Self {
            providers,
            models,
            by_slug,
        })
    }

    pub fn models(&self) -> &[ModelEntry] {
        &self.models
    }

    /// The date and page a provider's prices were taken from.
    pub fn price_source(&self, provider: ProviderId) -> Option<(&str, &str)> {
        self.providers
            .get(&provider)
            .map(|p| (p.prices_as_of.as_str(), p.source.as_str()))
    }

    /// Resolves `provider/model`: listed models get their own prices and alias, others go
    /// upstream unchanged at the provider's default price.
    pub fn resolve(&self, slug: &str) -> Result<ResolvedModel, SlugError> {
        let (provider, model) = split_slug(slug)?;
        if let Some(&i) = self.by_slug.get(slug) {
            let m = &self.models[i];
            return Ok(ResolvedModel {
                slug: m.slug.clone(),
                provider,
                upstream: m.upstream.clone(),
                prices: m.prices,
                listed: true,
                capabilities: m.capabilities,
            });
        }
        let pricing = self
            .providers
            .get(&provider)
            .ok_or_else(|| SlugError::Unpriced {
                slug: slug.to_owned(),
                provider,
            })?;
        Ok(ResolvedModel {
            slug: slug.to_owned(),
            provider,
            upstream: model.to_owned(),
            prices: pricing.default,
            listed: false,
            capabilities: Capabilities::default(),
        })
    }
}

fn split_slug(slug: &str) -> Result<(ProviderId, &str), SlugError> {
    let (provider, model) = slug
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.trim().is_empty())
        .ok_or_else(|| SlugError::Malformed(slug.to_owned()))?;
    let provider = provider
        .parse()
        .map_err(|source| SlugError::UnknownProvider {
            slug: slug.to_owned(),
            source,
        })?;
    Ok((provider, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_loads_and_lists_the_seed_models() {
        let catalog = Catalog::builtin().unwrap();
        for slug in [
            "anthropic/claude-opus-4.7",
            "openai/gpt-5.4",
            "moonshot/kimi-k2.6",
            "openai/gpt-5-mini",
            "anthropic/claude-sonnet-4-6",
            "cohere/command-a",
        ] {
            assert!(catalog.resolve(slug).unwrap().listed, "{slug}");
        }
        for p in ProviderId::ALL {
            assert!(
                catalog.price_source(p).is_some(),
                "{p} has no default price"
            );
        }
    }

    #[test]
    fn unlisted_models_go_upstream_unchanged_at_the_default_price() {
        let catalog = Catalog::builtin().unwrap();
        let r = catalog.resolve("openai/gpt-4o-mini-fail-429").unwrap();
        assert_eq!(r.upstream, "gpt-4o-mini-fail-429");
        assert!(!r.listed);
        let r = catalog.resolve("together/meta-llama/Llama-3-70b").unwrap();
        assert_eq!(r.upstream, "meta-llama/Llama-3-70b");
    }

    #[test]
    fn bad_slugs_say_what_is_wrong() {
        let catalog = Catalog::builtin().unwrap();
        assert!(matches!(
            catalog.resolve("gpt-5.4"),
            Err(SlugError::Malformed(_))
        ));
        assert!(matches!(
            catalog.resolve("openai/"),
            Err(SlugError::Malformed(_))
        ));
        assert!(matches!(
            catalog.resolve("acme/model"),
            Err(SlugError::UnknownProvider { .. })
        ));
    }

    #[test]
    fn cost_prices_every_token_kind() {
        let p = |s| TokenPrice::parse_usd_per_mtok(s).unwrap();
        let prices = Prices {
            input: p("3.00"),
            cached_input: p("0.30"),
            cache_write: p("3.75"),
            output: p("15.00"),
        };
        let usage = TokenUsage {
            input: 1000,
            cache_read: 2000,
            cache_write: 100,
            output: 500,
        };
        // 3000 + 600 + 375 + 7500 micro-USD
        assert_eq!(prices.cost(&usage), MicroUsd(11_475));
    }
}
