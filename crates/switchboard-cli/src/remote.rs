//! Talking to a running engine from the CLI: where it is and whose credentials to use.

use clap::Args;

/// `--server` and the credentials, from flags or the same environment variables `serve` reads.
#[derive(Debug, Args)]
pub struct Remote {
    /// The engine's base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SID", hide_env_values = true)]
    pub account_sid: String,
    #[arg(long, env = "SWITCHBOARD_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: String,
}

impl Remote {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    pub fn post(&self, client: &reqwest::Client, path: &str) -> reqwest::RequestBuilder {
        client
            .post(self.url(path))
            .basic_auth(&self.account_sid, Some(&self.auth_token))
    }

    pub fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::RequestBuilder {
        client
            .get(self.url(path))
            .basic_auth(&self.account_sid, Some(&self.auth_token))
    }
}

/// The Twilio-style error message of a failed answer, or its status line.
pub async fn failure(response: reqwest::Response) -> anyhow::Error {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match (body["code"].as_u64(), body["message"].as_str()) {
        (Some(code), Some(message)) => anyhow::anyhow!("{status}: {code} {message}"),
        _ => anyhow::anyhow!("{status}"),
    }
}
