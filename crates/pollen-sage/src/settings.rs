//! How to reach Sage: API generation, endpoints, credentials, timeouts and retries.

use std::time::Duration;

use pollen_config::{ApiVersion, Country, InstanceConfig, Secret};
use url::Url;

use crate::error::{Error, ErrorKind, Result};

/// The v3.1 API base.
pub const V31_BASE_URL: &str = "https://api.accounting.sage.com/v3.1";
/// The v3.1 token endpoint.
pub const V31_TOKEN_URL: &str = "https://oauth.accounting.sage.com/token";

/// The v3 ("Columbus") region of a country: `ca`, `us`, `uki` (gb, ie), `de`, `es`, `fr`.
pub fn v3_region(country: Country) -> Result<&'static str> {
    Ok(match country {
        Country::Ca => "ca",
        Country::Us => "us",
        Country::Gb | Country::Ie => "uki",
        Country::De => "de",
        Country::Es => "es",
        Country::Fr => "fr",
        other => {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("no Sage v3 region is known for country {other}"),
            ))
        }
    })
}

/// The v3 API base of a country: `https://api.columbus.sage.com/{region}/sageone/accounts/v3`.
pub fn v3_base_url(country: Country) -> Result<String> {
    Ok(format!(
        "https://api.columbus.sage.com/{}/sageone/accounts/v3",
        v3_region(country)?
    ))
}

/// The v3 token endpoint of a country (public sources disagree; `oauth.token.url` overrides).
pub fn v3_token_url(country: Country) -> Result<&'static str> {
    Ok(match v3_region(country)? {
        "ca" | "us" => "https://oauth.na.sageone.com/token",
        "uki" => "https://api.sageone.com/oauth2/token",
        _ => "https://oauth.eu.sageone.com/token",
    })
}

/// Retries of one request: bounded, with exponential back-off and jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 429, 5xx and connection errors (default 4).
    pub max_retries: u32,
    /// The first back-off (default 500 ms); it doubles with each retry.
    pub initial_backoff: Duration,
    /// The longest back-off (default 30 s).
    pub max_backoff: Duration,
    /// The longest `Retry-After` waited for (default 120 s); a longer one fails the request
    /// at once, so a poll is not held up for minutes.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The back-off before retry number `retry` (0-based): `initial * 2^retry`, capped, with
    /// "equal jitter" (half fixed, half random) so that clients do not retry in step.
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let half = full / 2;
        let jitter = half.mul_f64(rand::random::<f64>());
        half + jitter
    }
}

/// Everything needed to talk to one Sage business.
///
/// Build it from an instance with [`SageSettings::from_instance`], then adjust the public
/// fields (timeouts, retries, `X-Business`). `Debug` masks the secrets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SageSettings {
    /// `v3.1` (default) or `v3`.
    pub api_version: ApiVersion,
    /// The API base, without a trailing slash (`https://api.accounting.sage.com/v3.1`).
    pub base_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// The OAuth client id (`oauth.api.key`).
    pub client_id: String,
    /// The OAuth client secret (`oauth.api.secret`).
    pub client_secret: Secret,
    /// The redirect URI sent with a code exchange (`oauth.callback.url`, byte for byte).
    pub redirect_uri: Option<String>,
    /// v3: the request signing secret (`signature.secret`).
    pub signing_secret: Option<Secret>,
    /// v3: `Ocp-Apim-Subscription-Key` (`apim.subscription.key`).
    pub subscription_key: Option<Secret>,
    /// v3.1: `X-Business`; without it Sage uses the user's lead business.
    pub business_id: Option<String>,
    /// `sage.rate_limit`: the calls a minute of the business's rate budget, when a budget is
    /// given ([`SageSourceBuilder::rate_budget`](crate::SageSourceBuilder::rate_budget));
    /// `None`: the budget's default.
    pub rate_limit: Option<u32>,
    /// v3: `X-Site` when the token response carries no `resource_owner_id`.
    pub resource_owner_id: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Time allowed for one HTTP request, body included (default 30 s).
    pub request_timeout: Duration,
    /// The largest response body accepted (default 32 MiB).
    pub max_response_bytes: usize,
    /// Retries of one request.
    pub retry: RetryPolicy,
    /// An access token this close to its expiry is refreshed before use (default 30 s).
    pub refresh_margin: Duration,
}

fn parse_url(what: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("{what} `{text}` is not an absolute URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("{what} `{text}` is not an http(s) URL"),
        ));
    }
    Ok(url)
}

/// The base without a trailing slash, query or fragment; a v3 base given as the vendor's
/// `…/sageone` gets `/accounts/v3` appended.
fn normalise_base(mut url: Url, version: ApiVersion) -> Url {
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().trim_end_matches('/').to_owned();
    if version == ApiVersion::V3 && path.ends_with("/sageone") {
        path.push_str("/accounts/v3");
    }
    url.set_path(&path);
    url
}

impl SageSettings {
    /// Settings for `version` with the default endpoints of `country` (v3 needs one), the
    /// default timeouts and retries, and no v3 credentials yet.
    pub fn new(
        version: ApiVersion,
        country: Option<Country>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Result<SageSettings> {
        let (base, token) = match version {
            ApiVersion::V3 => {
                let country = country.ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidConfig,
                        "sage.api.version v3 needs a country (it picks the region and the token endpoint)",
                    )
                })?;
                (v3_base_url(country)?, v3_token_url(country)?.to_owned())
            }
            _ => (V31_BASE_URL.to_owned(), V31_TOKEN_URL.to_owned()),
        };
        Ok(SageSettings {
            api_version: version,
            base_url: normalise_base(parse_url("base.url", &base)?, version),
            token_url: parse_url("oauth.token.url", &token)?,
            client_id: client_id.into(),
            client_secret,
            redirect_uri: None,
            signing_secret: None,
            subscription_key: None,
            business_id: None,
            rate_limit: None,
            resource_owner_id: None,
            user_agent: concat!("pollen/", env!("CARGO_PKG_VERSION")).to_owned(),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 32 << 20,
            retry: RetryPolicy::default(),
            refresh_margin: Duration::from_secs(30),
        })
    }

    /// The settings an instance describes: `sage.api.version`, `country`, `base.url`,
    /// `oauth.token.url`, `sage.business.id`, the OAuth client and, for v3, `signature.secret`
    /// and `apim.subscription.key`.
    pub fn from_instance(instance: &InstanceConfig) -> Result<SageSettings> {
        let configuration = &instance.configuration;
        let sage = &configuration.sage;
        let oauth = &configuration.oauth;
        let version = sage.api_version;
        let needs_country = sage.base_url.is_none() || oauth.token_url.is_none();
        let country = if version == ApiVersion::V3 && !needs_country {
            sage.country.or(Some(Country::Gb))
        } else {
            sage.country
        };
        let mut settings = SageSettings::new(
            version,
            country,
            oauth.api_key.clone(),
            oauth.api_secret.clone(),
        )?;
        if let Some(base) = &sage.base_url {
            settings.base_url = normalise_base(parse_url("base.url", base.as_str())?, version);
        }
        if let Some(token) = &oauth.token_url {
            settings.token_url = parse_url("oauth.token.url", token.as_str())?;
        }
        settings.redirect_uri = oauth.callback_url.as_ref().map(|u| u.as_str().to_owned());
        settings.signing_secret = sage.signature_secret.clone();
        settings.subscription_key = sage.apim_subscription_key.clone();
        settings.business_id.clone_from(&sage.business_id);
        settings.rate_limit = sage.rate_limit;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what a request would otherwise fail on.
    pub fn validate(&self) -> Result<()> {
        if self.api_version == ApiVersion::V3 {
            for (value, key) in [
                (&self.signing_secret, "signature.secret"),
                (&self.subscription_key, "apim.subscription.key"),
            ] {
                if value.as_ref().is_none_or(|s| s.expose().is_empty()) {
                    return Err(Error::new(
                        ErrorKind::InvalidConfig,
                        format!("sage.api.version v3 needs {key}"),
                    ));
                }
            }
        }
        if self.max_response_bytes == 0 || self.request_timeout.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the response cap and the request timeout must be more than zero",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_table() {
        let expect = [
            (Country::Ca, "ca", "https://oauth.na.sageone.com/token"),
            (Country::Us, "us", "https://oauth.na.sageone.com/token"),
            (Country::Gb, "uki", "https://api.sageone.com/oauth2/token"),
            (Country::Ie, "uki", "https://api.sageone.com/oauth2/token"),
            (Country::De, "de", "https://oauth.eu.sageone.com/token"),
            (Country::Es, "es", "https://oauth.eu.sageone.com/token"),
            (Country::Fr, "fr", "https://oauth.eu.sageone.com/token"),
        ];
        for (country, region, token) in expect {
            assert_eq!(v3_region(country).unwrap(), region);
            assert_eq!(v3_token_url(country).unwrap(), token);
        }
        assert_eq!(
            v3_base_url(Country::Us).unwrap(),
            "https://api.columbus.sage.com/us/sageone/accounts/v3"
        );
    }

    #[test]
    fn vendor_style_v3_bases_get_the_accounts_path() {
        let url = Url::parse("https://api.columbus.sage.com/us/sageone/").unwrap();
        assert_eq!(
            normalise_base(url.clone(), ApiVersion::V3).as_str(),
            "https://api.columbus.sage.com/us/sageone/accounts/v3"
        );
        assert_eq!(
            normalise_base(url, ApiVersion::V3_1).as_str(),
            "https://api.columbus.sage.com/us/sageone"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for (retry, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let d = policy.backoff(retry);
            let full = Duration::from_millis(full);
            assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
        }
    }
}
