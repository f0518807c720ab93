//! `EngineError`: what the engine reports when it cannot do what it was asked, each with the
//! platform code (from `switchboard_core::error_code`) that the HTTP layer maps to its answer.
//!
//! Answers are not errors: a call that is not live, a number not provisioned, a transcript not
//! kept are `false`/`None` values of the engine's methods.

use switchboard_core::{ErrorCode, error_code};
use switchboard_store::StoreError;

/// A request the engine could not carry out. Nothing was applied.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed (or was closed); the operation was not applied.
    #[error("the store could not complete the request: {0}")]
    Store(#[from] StoreError),
    /// `Engine::shutdown` has begun: no new call or message is started.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The account (or its parent) is suspended or closed: it places no call and sends no
    /// message (`account::is_active`).
    #[error("the account is not active")]
    AccountNotActive,
    /// Something the engine built itself did not hold (a bug, reported rather than a panic).
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// The platform code a client sees for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Store(StoreError::Unstorable { .. } | StoreError::FilterTooLong) => {
                error_code::INVALID_PARAMETER
            }
            EngineError::Store(_) => error_code::INTERNAL_SERVER_ERROR,
            EngineError::ShuttingDown => error_code::SERVICE_UNAVAILABLE,
            EngineError::AccountNotActive => error_code::ACCOUNT_NOT_ACTIVE,
            EngineError::Internal(_) => error_code::INTERNAL_SERVER_ERROR,
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;
