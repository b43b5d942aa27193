//! Sage's v3 request signature (`X-Signature`, `X-Nonce`), as Sage's PHP, C# and Ruby samples
//! compute it: HMAC-SHA1 over `METHOD&pct(base_url)&pct(params)&pct(nonce)&pct(owner)` with the
//! key `pct(signing_secret)&pct(access_token)`, Base64-encoded.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;

/// RFC 3986: everything but the unreserved characters `A-Z a-z 0-9 - . _ ~` is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn pct(text: &str) -> String {
    utf8_percent_encode(text, RFC3986).to_string()
}

/// The string that is signed, for a request to `url` (absolute, query included).
///
/// Returns `None` when `url` is not an absolute URL.
pub(crate) fn base_string(
    method: &str,
    url: &str,
    body: &[u8],
    nonce: &str,
    resource_owner_id: &str,
) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let base_url = match parsed.port() {
        Some(port) => format!("{}://{host}:{port}{}", parsed.scheme(), parsed.path()),
        None => format!("{}://{host}{}", parsed.scheme(), parsed.path()),
    };
    let mut params: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(key, value)| (pct(&key), pct(&value)))
        .collect();
    let body = base64::engine::general_purpose::STANDARD.encode(body);
    params.push(("body".to_owned(), pct(&body)));
    params.sort();
    let param_string = params
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    Some(format!(
        "{}&{}&{}&{}&{}",
        method.to_ascii_uppercase(),
        pct(&base_url),
        pct(&param_string),
        pct(nonce),
        pct(resource_owner_id)
    ))
}

/// The `X-Signature` value Sage's v3 API expects for a request.
///
/// `url` is the absolute request URL with its query string, `body` the raw request body (empty
/// for GET and DELETE). Returns `None` when `url` is not an absolute URL.
///
/// ```
/// let signature = pollen_sage_sim::v3_signature(
///     "POST",
///     "https://api.sage.com/gb/sageone/accounts/v3/contacts?config_setting=foo",
///     b"",
///     "d6657d14f6d3d9de453ff4b0dc686c6d",
///     "bad0ff1ce",
///     "TestSigningSecret",
///     "TestToken",
/// );
/// assert_eq!(signature.as_deref(), Some("DatvLzX4xSITnWQisCbf3bnap+8="));
/// ```
pub fn v3_signature(
    method: &str,
    url: &str,
    body: &[u8],
    nonce: &str,
    resource_owner_id: &str,
    signing_secret: &str,
    access_token: &str,
) -> Option<String> {
    let base = base_string(method, url, body, nonce, resource_owner_id)?;
    let key = format!("{}&{}", pct(signing_secret), pct(access_token));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(base.as_bytes());
    Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether `signature` is the right one, compared in constant time.
pub(crate) fn verify(
    signature: &str,
    request: (&str, &str, &[u8]),
    nonce: &str,
    resource_owner_id: &str,
    signing_secret: &str,
    access_token: &str,
) -> bool {
    let (method, url, body) = request;
    let Some(base) = base_string(method, url, body, nonce, resource_owner_id) else {
        return false;
    };
    let key = format!("{}&{}", pct(signing_secret), pct(access_token));
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key.as_bytes()) else {
        return false;
    };
    mac.update(base.as_bytes());
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://api.sage.com/gb/sageone/accounts/v3/contacts?config_setting=foo";
    const NONCE: &str = "d6657d14f6d3d9de453ff4b0dc686c6d";

    #[test]
    fn reference_test_vector_base_string() {
        assert_eq!(
            base_string("post", URL, b"", NONCE, "bad0ff1ce").unwrap(),
            "POST&https%3A%2F%2Fapi.sage.com%2Fgb%2Fsageone%2Faccounts%2Fv3%2Fcontacts\
             &body%3D%26config_setting%3Dfoo&d6657d14f6d3d9de453ff4b0dc686c6d&bad0ff1ce"
        );
    }

    #[test]
    fn reference_test_vector_signature_and_verifier() {
        let signature = v3_signature(
            "POST",
            URL,
            b"",
            NONCE,
            "bad0ff1ce",
            "TestSigningSecret",
            "TestToken",
        );
        assert_eq!(signature.as_deref(), Some("DatvLzX4xSITnWQisCbf3bnap+8="));
        let request = ("POST", URL, &b""[..]);
        let verify_with = |signature: &str, secret: &str, token: &str| {
            verify(signature, request, NONCE, "bad0ff1ce", secret, token)
        };
        assert!(verify_with(
            "DatvLzX4xSITnWQisCbf3bnap+8=",
            "TestSigningSecret",
            "TestToken"
        ));
        assert!(!verify_with(
            "DatvLzX4xSITnWQisCbf3bnap+9=",
            "TestSigningSecret",
            "TestToken"
        ));
        assert!(!verify_with(
            "DatvLzX4xSITnWQisCbf3bnap+8=",
            "OtherSecret",
            "TestToken"
        ));
        assert!(!verify_with(
            "DatvLzX4xSITnWQisCbf3bnap+8=",
            "TestSigningSecret",
            "Other"
        ));
        assert!(!verify_with(
            "not base64!",
            "TestSigningSecret",
            "TestToken"
        ));
    }

    #[test]
    fn ports_spaces_and_bodies_are_part_of_the_base_string() {
        let base = base_string(
            "GET",
            "http://127.0.0.1:8080/uki/sageone/accounts/v3/contacts?search=a b&page=2",
            b"{}",
            "n",
            "o",
        )
        .unwrap();
        assert_eq!(
            base,
            "GET&http%3A%2F%2F127.0.0.1%3A8080%2Fuki%2Fsageone%2Faccounts%2Fv3%2Fcontacts\
             &body%3De30%253D%26page%3D2%26search%3Da%2520b&n&o"
        );
        assert_eq!(base_string("GET", "/relative", b"", "n", "o"), None);
    }
}
