//! The engine on its own: built in-process from a fresh SQLite store and a webhook client, with
//! real local HTTP apps as the customer's URLs, driven through `Engine`'s methods (no HTTP
//! layer). What the HTTP contract adds on top is covered end to end in `switchboard-cli`.

mod failover;
mod lifecycle;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::{Sid, SidKind};
use switchboard_engine::voice::InboundCall;
use switchboard_engine::{Account, Engine, Parts, Settings};
use switchboard_store::{Kind, Record};
use switchboard_webhook::{ClientSettings, FallbackScope, WebhookClient};

pub const XML: &str = "text/xml";

/// An engine on a fresh SQLite file, its main account, and the scratch directory to remove.
pub struct TestEngine {
    pub engine: Engine,
    pub account: Account,
    dir: PathBuf,
}

impl TestEngine {
    pub async fn start(scope: FallbackScope) -> TestEngine {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-engine-it-{:016x}",
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let url = format!("sqlite://{}", dir.join("switchboard.db").display());
        let store = switchboard_store::open(&url).await.expect("store");
        let account = Account::new(
            Sid::generate(SidKind::Account).into_string(),
            format!("{:032x}", rand::random::<u128>()),
            None,
            "test".into(),
        );
        store.insert(&account.record()).await.expect("account");
        let engine = Engine::new(Parts {
            store,
            webhooks: Arc::new(WebhookClient::new(ClientSettings::default()).expect("client")),
            telephony: None,
            settings: Settings {
                public_url: "http://127.0.0.1:9".into(),
                error_prompt: "Application error.".into(),
                fallback_scope: scope,
                node_id: "test".into(),
                sole_node: true,
                lkg_max_age: std::time::Duration::from_secs(86_400),
                stream_retry_for: std::time::Duration::from_secs(10),
                node_lease: std::time::Duration::from_secs(10),
                callback_retry_for: std::time::Duration::from_secs(4 * 3600),
                schedule_min_ahead: std::time::Duration::from_secs(900),
            },
        });
        TestEngine {
            engine,
            account,
            dir,
        }
    }

    /// Provisions `number` with these settings (stored fields, e.g. `voice_url`).
    pub async fn provision(&self, number: &str, settings: Value) -> Record {
        let sid = Sid::generate(SidKind::PhoneNumber).into_string();
        let mut doc = json!({"sid": sid, "account_sid": self.account.sid, "phone_number": number});
        if let (Some(doc), Some(settings)) = (doc.as_object_mut(), settings.as_object()) {
            doc.extend(settings.clone());
        }
        let mut record = Record::new(Kind::PhoneNumber, sid, self.account.sid.clone(), 0, doc);
        record.phone_number = Some(number.to_owned());
        self.engine.store().insert(&record).await.expect("number");
        record
    }

    /// A sandbox caller calls `number` on the virtual clock; returns the call's SID.
    pub async fn call(&self, number: &str) -> String {
        let row = self
            .engine
            .find_number(number)
            .await
            .expect("lookup")
            .expect("provisioned");
        let call = InboundCall {
            from: "+15005550006".into(),
            to: number.into(),
            caller_name: None,
            forwarded_from: None,
            fast: true,
            digits: None,
            drill: false,
            geo: Default::default(),
        };
        self.engine
            .inbound_call(&self.account, &row, call)
            .await
            .expect("call starts")
            .sid
    }

    /// Waits for the session `sid` to end; returns its transcript events.
    pub async fn finished(&self, sid: &str) -> Vec<Value> {
        let log = self.engine.sandbox().log(sid).expect("a transcript");
        assert!(
            log.wait_done(Duration::from_secs(20)).await,
            "{sid} did not end"
        );
        log.snapshot().0
    }

    /// The stored status of the call or message `sid`.
    pub async fn status(&self, kind: Kind, sid: &str) -> String {
        let row = self
            .engine
            .store()
            .get(kind, sid)
            .await
            .expect("get")
            .expect("row");
        row.status.unwrap_or_default()
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The events of `kind` in a transcript.
pub fn events<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["type"] == kind)
        .collect()
}

/// The form parameters of a request body.
pub fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}
