//! The token endpoint: codes, refresh rotation, errors, expiry.

use std::time::Duration;

use pollen_sage_sim::{ApiVersion, SimConfig};
use serde_json::Value;

use crate::{check, config, http, send, start, Api, Reply};

async fn exchange(url: &str, form: &[(&str, &str)]) -> Reply {
    send(http().post(url).form(form)).await
}

#[tokio::test]
async fn an_authorization_code_works_once() {
    let sim = start(config(2)).await;
    let code = sim.authorization_code(ApiVersion::V31);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "id"),
        ("client_secret", "secret"),
        ("redirect_uri", "https://app.example/callback"),
    ];
    let first = exchange(&sim.token_url(), &form).await;
    assert_eq!(first.status, 200);
    let tokens = first.json();
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(tokens["refresh_token_expires_in"], 2_678_400);
    assert!(tokens["requested_by_id"].is_string(), "v3.1 names the user");
    assert!(tokens.get("resource_owner_id").is_none());
    assert!(tokens["access_token"].as_str().expect("token").len() >= 1200);

    let again = exchange(&sim.token_url(), &form).await;
    check("oauth/invalid_grant.json", &again.fixture());
    let unknown = exchange(
        &sim.token_url(),
        &[("grant_type", "authorization_code"), ("code", "nope")],
    )
    .await;
    assert_eq!(unknown.fixture(), again.fixture());
}

#[tokio::test]
async fn a_v3_code_gives_the_resource_owner_id() {
    let sim = start(config(2)).await;
    let code = sim.authorization_code(ApiVersion::V3);
    let reply = exchange(
        &format!("{}/oauth2/token", sim.base_url()),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ],
    )
    .await;
    let tokens = reply.json();
    assert_eq!(tokens["resource_owner_id"], sim.resource_owner_id());
    assert!(tokens.get("requested_by_id").is_none());
}

#[tokio::test]
async fn codes_expire_after_60_seconds() {
    let sim = start(config(2)).await;
    let code = sim.authorization_code(ApiVersion::V31);
    sim.advance_clock(Duration::from_secs(60));
    let reply = exchange(
        &sim.token_url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ],
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_grant");
    // A code registered by value (e.g. an instance JSON's providerData.code) works once.
    sim.add_authorization_code("1c6ff4089d58d80e86482ab7d5b97f15dd7b041d", ApiVersion::V3);
    let known = exchange(
        &sim.token_url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", "1c6ff4089d58d80e86482ab7d5b97f15dd7b041d"),
        ],
    )
    .await;
    assert_eq!(known.status, 200);
}

#[tokio::test]
async fn refresh_tokens_rotate() {
    let sim = start(config(2)).await;
    let first = sim.issue_tokens(ApiVersion::V31);
    let refresh = |token: String| {
        let url = sim.token_url();
        async move {
            exchange(
                &url,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ],
            )
            .await
        }
    };
    let second = refresh(first.refresh_token.clone()).await;
    assert_eq!(second.status, 200);
    let second = second.json();
    let new_refresh = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(new_refresh, first.refresh_token);

    let reused = refresh(first.refresh_token.clone()).await;
    assert_eq!(reused.status, 400);
    assert_eq!(
        reused.json()["error"],
        "invalid_grant",
        "the old refresh token is spent"
    );

    let api = Api {
        token: second["access_token"].as_str().expect("access").to_owned(),
        ..Api::v31(&sim)
    };
    assert_eq!(api.get("/contacts").await.status, 200);
    assert_eq!(
        refresh(new_refresh).await.status,
        200,
        "the new one works once"
    );
}

#[tokio::test]
async fn an_expired_access_token_gets_401_in_sages_shape() {
    let sim = start(SimConfig {
        token_lifetime: Duration::from_secs(120),
        ..config(2)
    })
    .await;
    let api = Api::v31(&sim);
    sim.advance_clock(Duration::from_secs(119));
    assert_eq!(api.get("/contacts").await.status, 200);
    sim.advance_clock(Duration::from_secs(1));
    let expired = api.get("/contacts").await;
    assert_eq!(expired.status, 401);
    check("errors/expired_token.json", &expired.fixture());

    let missing = send(http().get(format!("{}/contacts", sim.v31_base_url()))).await;
    check("errors/missing_token.json", &missing.fixture());
    let unknown = Api {
        token: "forged".into(),
        ..Api::v31(&sim)
    };
    assert_eq!(unknown.get("/contacts").await.status, 401);
}

#[tokio::test]
async fn client_credentials_are_checked_when_configured() {
    let sim = start(SimConfig {
        client_id: Some("app".into()),
        client_secret: Some("s3cret".into()),
        ..config(1)
    })
    .await;
    assert!(!format!("{:?}", sim.config()).contains("s3cret"));
    let code = sim.authorization_code(ApiVersion::V31);
    let wrong = exchange(
        &sim.token_url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", "app"),
            ("client_secret", "guess"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"], "invalid_client");
    let basic = send(
        http()
            .post(sim.token_url())
            .basic_auth("app", Some("s3cret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
            ]),
    )
    .await;
    assert_eq!(
        basic.status, 200,
        "HTTP Basic client authentication; code still unused"
    );
}

#[tokio::test]
async fn bad_token_requests_get_oauth_errors() {
    let sim = start(config(1)).await;
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("grant_type", "password")], "unsupported_grant_type"),
        (&[("code", "x")], "invalid_request"),
        (&[("grant_type", "refresh_token")], "invalid_grant"),
    ];
    for (form, error) in cases {
        let reply = exchange(&sim.token_url(), form).await;
        assert_eq!(reply.status, 400, "{form:?}");
        assert_eq!(reply.json()["error"], error, "{form:?}");
    }
    let json_body = send(
        http()
            .post(sim.token_url())
            .json(&serde_json::json!({"grant_type": "refresh_token"})),
    )
    .await;
    assert_eq!(
        json_body.json()["error"],
        "invalid_request",
        "form-encoded only"
    );
}

#[tokio::test]
async fn revoke_and_authorize_endpoints() {
    let sim = start(config(1)).await;
    let api = Api::v31(&sim);
    let revoked = send(
        http()
            .post(format!("{}/revoke", sim.base_url()))
            .form(&[("token", api.token.as_str())]),
    )
    .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(api.get("/contacts").await.status, 401);

    let consent = send(http().get(format!(
        "{}/oauth2/auth/central?filter=apiv3.1&client_id=app&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz",
        sim.base_url()
    )))
    .await;
    assert_eq!(consent.status, 302);
    let location = url::Url::parse(consent.header("location").expect("location")).expect("url");
    let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let code = pairs
        .iter()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .clone();
    assert!(pairs.contains(&("state".into(), "xyz".into())));
    let tokens = exchange(
        &sim.token_url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ],
    )
    .await;
    assert!(tokens.json()["requested_by_id"].is_string());
    let _: Value = tokens.json();
}
