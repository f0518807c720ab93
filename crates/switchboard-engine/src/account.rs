//! The stored account as the engine needs it: whose token signs an account's webhooks, where its
//! debugger events go, and whether it is the main account. Rendering it is the HTTP layer's job.

use serde::{Deserialize, Serialize};
use switchboard_store::{Kind, Record, Store};

use crate::error::EngineResult;
use crate::now_ms;

/// A stored account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub sid: String,
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    pub auth_token: String,
    /// The parent for a subaccount; the account itself for a main account.
    pub owner_account_sid: String,
    pub date_created: i64,
    pub date_updated: i64,
    /// Extension: where Debug Events for this account's alerts are posted.
    #[serde(default)]
    pub debugger_webhook_url: String,
}

impl Account {
    /// A new active account; `owner` is the parent of a subaccount.
    pub fn new(
        sid: String,
        auth_token: String,
        owner: Option<&str>,
        friendly_name: String,
    ) -> Account {
        let now = now_ms();
        Account {
            owner_account_sid: owner.map_or_else(|| sid.clone(), str::to_owned),
            sid,
            friendly_name,
            status: "active".into(),
            auth_token,
            date_created: now,
            date_updated: now,
            debugger_webhook_url: String::new(),
        }
    }

    pub fn is_main(&self) -> bool {
        self.owner_account_sid == self.sid
    }

    /// The stored row: the account as its document, with its indexed columns.
    pub fn record(&self) -> Record {
        // Serialising a struct of strings and integers cannot fail.
        let doc = serde_json::to_value(self).unwrap_or_default();
        let mut record = Record::new(
            Kind::Account,
            self.sid.clone(),
            self.owner_account_sid.clone(),
            self.date_created,
            doc,
        );
        record.parent_sid = (!self.is_main()).then(|| self.owner_account_sid.clone());
        record.friendly_name = Some(self.friendly_name.clone());
        record.status = Some(self.status.clone());
        record
    }
}

/// The account `sid`, if it exists.
pub async fn load(store: &dyn Store, sid: &str) -> EngineResult<Option<Account>> {
    let Some(record) = store.get_shared(Kind::Account, sid).await? else {
        return Ok(None);
    };
    // Read from the shared row without copying its document first.
    let account = Account::deserialize(&record.doc).map_err(switchboard_store::StoreError::from)?;
    Ok(Some(account))
}
