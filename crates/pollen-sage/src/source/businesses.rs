//! The businesses the authorized user can reach: what `sage.business.id` picks from.
//!
//! v3.1 lists them at `GET {base}/businesses` (every business on one page, `displayed_as` and
//! `id`) and names the lead at `GET {base}/businesses/lead`. v3 lists them on its core API,
//! `…/sageone/core/v3/businesses` beside `…/sageone/accounts/v3`; its lead is the business the
//! token was granted for (`resource_owner_id`). Neither request sends `X-Business`: the list
//! must show even when the configured business is wrong.

use pollen_config::ApiVersion;
use pollen_core::Purpose;
use serde_json::Value;
use url::Url;

use super::{read_envelope, SageSource};
use crate::client::describe;
use crate::error::{Error, ErrorKind, Result};

/// A business list longer than this many pages is not followed further (Sage sends one page).
const MAX_PAGES: usize = 50;

/// One business of the authorized user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Business {
    /// Sage's business id: the value of `sage.business.id` (`X-Business`) that selects it.
    pub id: String,
    /// Its name (`name`, else `displayed_as`, else the id).
    pub name: String,
    /// Whether it is the lead business: the one polled without `sage.business.id`.
    pub lead: bool,
}

/// `…/sageone/core/v3` for a v3 base `…/sageone/accounts/v3`.
fn core_base(base: &Url) -> Result<Url> {
    let path = base.path().trim_end_matches('/');
    let Some(prefix) = path.strip_suffix("/accounts/v3") else {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "cannot find Sage's core API (which lists businesses) from base.url `{base}`: \
                 a v3 base URL ends with /accounts/v3"
            ),
        ));
    };
    let mut core = base.clone();
    core.set_path(&format!("{prefix}/core/v3"));
    Ok(core)
}

fn join(base: &Url, path: &str) -> Result<Url> {
    let text = format!("{}{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("cannot build a request URL from `{path}`: {e}"),
        )
    })
}

/// The business at `/$items/{index}` of a list page.
fn read_business(item: &Value, index: usize, url: &Url) -> Result<Business> {
    let text = |name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let id = text("id").ok_or_else(|| {
        Error::new(
            ErrorKind::MalformedResponse,
            format!(
                "{}: unexpected response shape at /$items/{index}/id: expected a business id",
                describe(url)
            ),
        )
    })?;
    Ok(Business {
        id: id.to_owned(),
        name: text("name")
            .or(text("displayed_as"))
            .unwrap_or(id)
            .to_owned(),
        lead: false,
    })
}

impl SageSource {
    /// The businesses the authorized user can reach, in Sage's order, the lead one marked.
    /// Uses (and if need be refreshes, or first obtains from the code) the instance's tokens;
    /// fails like a poll does when Sage refuses.
    pub async fn businesses(&self) -> Result<Vec<Business>> {
        // Sage decides which business each request is for by X-Business: listing sends none.
        let api = self.api.without_business();
        let (base, lead) = match self.settings.api_version {
            ApiVersion::V3 => (core_base(&self.settings.base_url)?, None),
            _ => (self.settings.base_url.clone(), Some("/businesses/lead")),
        };
        let mut businesses = Vec::new();
        let mut url = join(&base, "/businesses")?;
        for page in 1.. {
            let fetched = api.get(&url, Purpose::Changes).await?;
            let envelope = read_envelope(&fetched.body).map_err(|detail| {
                Error::new(
                    ErrorKind::MalformedResponse,
                    format!("{}: {detail}", describe(&url)),
                )
            })?;
            for (index, item) in envelope.items.iter().enumerate() {
                let business = read_business(item, index, &url)?;
                if !businesses.iter().any(|b: &Business| b.id == business.id) {
                    businesses.push(business);
                }
            }
            match envelope.next.filter(|n| !n.is_empty()) {
                Some(next) if page < MAX_PAGES && !envelope.items.is_empty() => {
                    url = if next.starts_with("http://") || next.starts_with("https://") {
                        self.next_url(&next)?
                    } else {
                        join(&base, &format!("/{}", next.trim_start_matches('/')))?
                    };
                }
                _ => break,
            }
        }
        let lead_id = match lead {
            Some(path) => {
                let url = join(&base, path)?;
                let fetched = api.get(&url, Purpose::Changes).await?;
                let value: Value = serde_json::from_slice(&fetched.body).map_err(|e| {
                    Error::new(
                        ErrorKind::MalformedResponse,
                        format!("{}: malformed JSON: {e}", describe(&url)),
                    )
                })?;
                value.get("id").and_then(Value::as_str).map(str::to_owned)
            }
            None => self.auth.access().await?.resource_owner_id,
        };
        for business in &mut businesses {
            business.lead = lead_id.as_deref() == Some(business.id.as_str());
        }
        Ok(businesses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_api_sits_beside_the_accounts_api() {
        let base = Url::parse("https://api.columbus.sage.com/uki/sageone/accounts/v3").unwrap();
        assert_eq!(
            core_base(&base).unwrap().as_str(),
            "https://api.columbus.sage.com/uki/sageone/core/v3"
        );
        let other = Url::parse("http://127.0.0.1:9/sage").unwrap();
        let error = core_base(&other).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidConfig);
        assert!(
            error.message().contains("`http://127.0.0.1:9/sage`"),
            "{error}"
        );
    }
}
