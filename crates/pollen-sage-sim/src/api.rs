//! The Sage API itself: v3.1 and v3 list and show endpoints, OAuth endpoints, Sage's errors.

// Handlers answer early with a ready HTTP reply as the `Err` of their helpers; it is built
// only on the error path and moved once, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State as Extract};
use axum::routing::{get, post};
use axum::Router;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use serde_json::json;

use crate::auth::{bearer, ApiVersion, TokenProblem};
use crate::businesses::{business_for, BusinessData};
use crate::clock::parse_query_datetime;
use crate::generate::{CUSTOMER, VENDOR};
use crate::resource::Resource;
use crate::server::State;
use crate::store::{push_json_str, push_object, Attributes, ListQuery, Page};

/// Regions of the v3 URL.
pub(crate) const REGIONS: &[&str] = &["us", "ca", "uki", "de", "es", "fr"];

/// Default and maximum `items_per_page`.
const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 200;

type Shared = Extract<Arc<State>>;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v3.1/businesses", get(crate::businesses::list_v31))
        .route("/v3.1/businesses/{key}", get(crate::businesses::show_v31))
        .route(
            "/{region}/sageone/core/v3/businesses",
            get(crate::businesses::list_v3),
        )
        .route(
            "/{region}/sageone/core/v3/businesses/{key}",
            get(crate::businesses::show_v3),
        )
        .route("/v3.1/{resource}", get(list_v31))
        .route("/v3.1/{resource}/{id}", get(show_v31))
        .route("/{region}/sageone/accounts/v3/{resource}", get(list_v3))
        .route(
            "/{region}/sageone/accounts/v3/{resource}/{id}",
            get(show_v3),
        )
        .route("/token", post(token))
        .route("/oauth2/token", post(token))
        .route("/revoke", post(revoke))
        .route("/oauth2/auth/central", get(authorize))
        .nest("/_sim", crate::control::router())
        .fallback(not_found)
        .with_state(state)
}

/// Sage's error body: a top-level array of one diagnosis.
pub(crate) fn sage_error(
    status: StatusCode,
    severity: &str,
    data_code: &str,
    message: &str,
    source: &str,
) -> Response<Body> {
    let body = json!([{
        "$severity": severity,
        "$dataCode": data_code,
        "$message": message,
        "$source": source,
    }]);
    json_response(status, body.to_string())
}

/// Sage's 429, with `Retry-After: <seconds>` when given: what the rate limit and an injected
/// [`FaultKind::TooManyRequests`](crate::FaultKind::TooManyRequests) answer.
pub(crate) fn too_many_requests(retry_after: Option<u64>) -> Response<Body> {
    let mut response = sage_error(
        StatusCode::TOO_MANY_REQUESTS,
        "error",
        "TooManyRequests",
        "Too many requests. Please retry after a short while.",
        "",
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// 401 for a missing, unknown, revoked or expired access token.
pub(crate) fn token_error(problem: TokenProblem) -> Response<Body> {
    let message = match problem {
        TokenProblem::Missing => "No access token was provided.",
        TokenProblem::Unknown => "The access token is invalid.",
        TokenProblem::Expired => "The access token has expired.",
    };
    sage_error(
        StatusCode::UNAUTHORIZED,
        "error",
        "AuthorizationFailure",
        message,
        "",
    )
}

pub(crate) fn not_found_error() -> Response<Body> {
    sage_error(
        StatusCode::NOT_FOUND,
        "error",
        "RecordNotFound",
        "Resource not found",
        "",
    )
}

async fn not_found() -> Response<Body> {
    not_found_error()
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

fn apim_missing(name: &str, position: u8) -> Response<Body> {
    sage_error(
        StatusCode::UNAUTHORIZED,
        "APIM error",
        "HeaderNotFound",
        &format!("Header {name} was not found in the request. Access denied."),
        &format!("check-header[{position}]"),
    )
}

/// The checks a request passes before it reaches a resource, per generation; the business
/// it is for ([`business_for`](crate::businesses::business_for)). v3's core endpoints
/// (`/businesses`) do without `X-Site`.
pub(crate) fn admit<'a>(
    state: &'a State,
    version: ApiVersion,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<&'a BusinessData, Response<Body>> {
    let now = state.now();
    let token = bearer(header_str(headers, "authorization"));
    match version {
        ApiVersion::V31 => {
            state.auth.check(token, now).map_err(token_error)?;
            business_for(state, version, headers)
        }
        ApiVersion::V3 => {
            let Some(key) = header_str(headers, "ocp-apim-subscription-key") else {
                return Err(apim_missing("Ocp-Apim-Subscription-Key", 1));
            };
            if let Some(expected) = &state.config.subscription_key {
                if key != expected {
                    return Err(sage_error(
                        StatusCode::UNAUTHORIZED,
                        "APIM error",
                        "InvalidSubscriptionKey",
                        "Access denied due to invalid subscription key.",
                        "",
                    ));
                }
            }
            let core = uri.path().contains("/sageone/core/");
            if !core && header_str(headers, "x-site").is_none() {
                return Err(apim_missing("X-Site", 2));
            }
            state.auth.check(token, now).map_err(token_error)?;
            let business = business_for(state, version, headers)?;
            if state.config.verify_signatures {
                check_signature(
                    (method, uri, headers),
                    &business.id,
                    &state.config.signing_secret,
                    token.unwrap_or_default(),
                )?;
            }
            Ok(business)
        }
    }
}

/// Checks `X-Signature`, signed for the business `site` (the `X-Site` sent).
fn check_signature(
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    site: &str,
    signing_secret: &str,
    token: &str,
) -> Result<(), Response<Body>> {
    let invalid = |message: &str| {
        sage_error(
            StatusCode::UNAUTHORIZED,
            "error",
            "AuthorizationFailure",
            message,
            "X-Signature",
        )
    };
    let (Some(signature), Some(nonce)) = (
        header_str(headers, "x-signature"),
        header_str(headers, "x-nonce"),
    ) else {
        return Err(invalid(
            "The request is not signed: X-Signature and X-Nonce are required.",
        ));
    };
    let host = header_str(headers, "host").unwrap_or("localhost");
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("http://{host}{path_and_query}");
    // The list and show endpoints are GET only, so the signed body is always empty.
    let ok = crate::signing::verify(
        signature,
        (method.as_str(), &url, b""),
        nonce,
        site,
        signing_secret,
        token,
    );
    if ok {
        Ok(())
    } else {
        Err(invalid("The signature is invalid."))
    }
}

fn invalid_parameter(name: &str, message: &str) -> Response<Body> {
    sage_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "error",
        "InvalidParameter",
        message,
        name,
    )
}

/// Parses the query of a list request, or answers 422 naming the bad parameter.
fn parse_list_query(
    resource: Resource,
    params: &[(String, String)],
) -> Result<(ListQuery, Attributes), Response<Body>> {
    let mut query = ListQuery {
        page: 1,
        items_per_page: DEFAULT_PER_PAGE,
        since: None,
        deleted_since: None,
        contact_types: None,
    };
    let mut attributes = Attributes::Default;
    for (name, value) in params {
        match name.as_str() {
            "page" => {
                query.page = value.parse::<usize>().map_err(|_| {
                    invalid_parameter(
                        "page",
                        &format!("page must be a positive integer, not `{value}`"),
                    )
                })?;
            }
            "items_per_page" => {
                let per_page = value.parse::<usize>().ok().filter(|n| *n >= 1);
                query.items_per_page = match per_page {
                    Some(n) if n <= MAX_PER_PAGE => n,
                    _ => {
                        return Err(invalid_parameter(
                            "items_per_page",
                            &format!(
                                "items_per_page must be between 1 and {MAX_PER_PAGE}, not `{value}`"
                            ),
                        ))
                    }
                };
            }
            "attributes" => {
                attributes = if value.trim() == "all" {
                    Attributes::All
                } else {
                    Attributes::Some(
                        value
                            .split(',')
                            .map(|name| name.trim().to_owned())
                            .filter(|name| !name.is_empty())
                            .collect(),
                    )
                };
            }
            "updated_or_created_since" => {
                query.since = Some(parse_query_datetime(value).ok_or_else(|| {
                    invalid_parameter(
                        name,
                        &format!("updated_or_created_since is not a valid date-time: `{value}`"),
                    )
                })?);
            }
            "deleted_since" if resource.supports_deleted_since() => {
                query.deleted_since = Some(parse_query_datetime(value).ok_or_else(|| {
                    invalid_parameter(
                        name,
                        &format!("deleted_since is not a valid date-time: `{value}`"),
                    )
                })?);
            }
            "contact_type_id" if resource == Resource::Contacts => {
                let mut bits = 0;
                for id in value.split(',') {
                    match id.trim().to_ascii_uppercase().as_str() {
                        "CUSTOMER" => bits |= CUSTOMER,
                        "VENDOR" => bits |= VENDOR,
                        _ => {}
                    }
                }
                query.contact_types = Some(bits);
            }
            _ => {}
        }
    }
    Ok((query, attributes))
}

/// `/resource?page=N&items_per_page=M&<the other parameters as given>`.
fn page_link(
    resource: Resource,
    page: usize,
    per_page: usize,
    params: &[(String, String)],
) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    serializer.append_pair("page", &page.to_string());
    serializer.append_pair("items_per_page", &per_page.to_string());
    for (name, value) in params {
        if name != "page" && name != "items_per_page" {
            serializer.append_pair(name, value);
        }
    }
    format!("/{}?{}", resource.name(), serializer.finish())
}

/// The list envelope, written straight from the rows' pre-serialized JSON.
fn envelope(
    resource: Resource,
    query: &ListQuery,
    attributes: &Attributes,
    params: &[(String, String)],
    page: &Page,
) -> String {
    let per_page = query.items_per_page;
    let row_size = page.rows.first().map_or(64, |row| match attributes {
        Attributes::Default => row.short.len(),
        _ => row.full.len(),
    });
    let mut out = String::with_capacity(256 + page.rows.len() * (row_size + 1));
    out.push_str("{\"$total\":");
    out.push_str(&page.total.to_string());
    out.push_str(",\"$page\":");
    out.push_str(&page.page.to_string());
    out.push_str(",\"$next\":");
    if page.page < page.last_page {
        push_json_str(
            &mut out,
            &page_link(resource, page.page + 1, per_page, params),
        );
    } else {
        out.push_str("null");
    }
    out.push_str(",\"$back\":");
    if page.page > 1 {
        push_json_str(
            &mut out,
            &page_link(resource, page.page - 1, per_page, params),
        );
    } else {
        out.push_str("null");
    }
    out.push_str(",\"$itemsPerPage\":");
    out.push_str(&per_page.to_string());
    out.push_str(",\"$items\":[");
    for (index, row) in page.rows.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match attributes {
            Attributes::Default => out.push_str(&row.short),
            Attributes::All => out.push_str(&row.full),
            Attributes::Some(names) => push_object(
                &mut out,
                row.attributes
                    .iter()
                    .enumerate()
                    .filter(|(position, (name, _))| *position < 3 || names.contains(name))
                    .map(|(_, attribute)| attribute),
            ),
        }
    }
    out.push_str("]}");
    out
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn list(
    state: &State,
    version: ApiVersion,
    resource: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    let business = match admit(state, version, method, uri, headers) {
        Ok(business) => business,
        Err(response) => return response,
    };
    let Ok(resource) = resource.parse::<Resource>() else {
        return not_found_error();
    };
    if version == ApiVersion::V3 && !resource.in_v3() {
        return not_found_error();
    }
    let params = query_pairs(uri);
    let (query, attributes) = match parse_list_query(resource, &params) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let page = business.store.list(resource, &query);
    json_response(
        StatusCode::OK,
        envelope(resource, &query, &attributes, &params, &page),
    )
}

fn show(
    state: &State,
    version: ApiVersion,
    (resource, id): (&str, &str),
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    let business = match admit(state, version, method, uri, headers) {
        Ok(business) => business,
        Err(response) => return response,
    };
    let Ok(resource) = resource.parse::<Resource>() else {
        return not_found_error();
    };
    if version == ApiVersion::V3 && !resource.in_v3() {
        return not_found_error();
    }
    match business.store.get(resource, id) {
        Some(record) if record.deleted_at().is_none() => {
            json_response(StatusCode::OK, record.to_json().to_string())
        }
        _ => not_found_error(),
    }
}

async fn list_v31(
    Extract(state): Shared,
    Path(resource): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    list(&state, ApiVersion::V31, &resource, &method, &uri, &headers)
}

async fn show_v31(
    Extract(state): Shared,
    Path((resource, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    show(
        &state,
        ApiVersion::V31,
        (&resource, &id),
        &method,
        &uri,
        &headers,
    )
}

async fn list_v3(
    Extract(state): Shared,
    Path((region, resource)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    if !REGIONS.contains(&region.as_str()) {
        return not_found_error();
    }
    list(&state, ApiVersion::V3, &resource, &method, &uri, &headers)
}

async fn show_v3(
    Extract(state): Shared,
    Path((region, resource, id)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    if !REGIONS.contains(&region.as_str()) {
        return not_found_error();
    }
    show(
        &state,
        ApiVersion::V3,
        (&resource, &id),
        &method,
        &uri,
        &headers,
    )
}

fn oauth_error(status: StatusCode, error: &str) -> Response<Body> {
    json_response(status, json!({ "error": error }).to_string())
}

/// Client credentials from the form or from HTTP Basic authentication.
fn client_credentials(
    form: &[(String, String)],
    headers: &HeaderMap,
) -> (Option<String>, Option<String>) {
    let from_form = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let mut id = from_form("client_id");
    let mut secret = from_form("client_secret");
    if let Some(basic) = header_str(headers, "authorization").and_then(|v| v.strip_prefix("Basic "))
    {
        use base64::Engine as _;
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) {
            let text = String::from_utf8_lossy(&decoded).into_owned();
            if let Some((user, password)) = text.split_once(':') {
                id = id.or_else(|| Some(user.to_owned()));
                secret = secret.or_else(|| Some(password.to_owned()));
            }
        }
    }
    (id, secret)
}

/// `POST /token`: `authorization_code` and `refresh_token` grants, form-encoded.
async fn token(Extract(state): Shared, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let form_encoded = header_str(&headers, "content-type")
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let (client_id, client_secret) = client_credentials(&form, &headers);
    let id_ok = state
        .config
        .client_id
        .as_ref()
        .is_none_or(|expected| client_id.as_deref() == Some(expected));
    let secret_ok = state
        .config
        .client_secret
        .as_ref()
        .is_none_or(|expected| client_secret.as_deref() == Some(expected));
    if !id_ok || !secret_ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let now = state.now();
    let tokens = match field("grant_type") {
        Some("authorization_code") => {
            field("code").and_then(|code| state.auth.redeem_code(code, now))
        }
        Some("refresh_token") => {
            field("refresh_token").and_then(|token| state.auth.refresh(token, now))
        }
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    };
    match tokens {
        Some(tokens) => json_response(StatusCode::OK, tokens.to_json().to_string()),
        None => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
    }
}

/// `POST /revoke`: revokes the access or refresh token in the form field `token`.
async fn revoke(Extract(state): Shared, body: Bytes) -> Response<Body> {
    for (name, value) in url::form_urlencoded::parse(&body) {
        if name == "token" {
            state.auth.revoke(&value);
        }
    }
    json_response(StatusCode::OK, "{}".to_owned())
}

/// `GET /oauth2/auth/central`: the consent screen, approved at once: redirects to
/// `redirect_uri` with a fresh code (a v3.1 code when `filter=apiv3.1`).
async fn authorize(Extract(state): Shared, uri: Uri) -> Response<Body> {
    let params = query_pairs(&uri);
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let Some(redirect) = param("redirect_uri").and_then(|uri| url::Url::parse(uri).ok()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let version = if param("filter") == Some("apiv3.1") {
        ApiVersion::V31
    } else {
        ApiVersion::V3
    };
    let code = state.auth.new_code(version, state.now());
    let mut location = redirect;
    {
        let mut pairs = location.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state_param) = param("state") {
            pairs.append_pair("state", state_param);
        }
        pairs.append_pair(
            "country",
            &param("country").unwrap_or("GB").to_ascii_uppercase(),
        );
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
