//! API access: who calls `/api/v1`, and what they may do.

use std::{fmt, sync::Arc};

use secrecy::SecretString;

use crate::{AccessError, ApiKeyVerifier};

/// What an API key allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read leads and the quarantine.
    Read,
    /// Change leads.
    Write,
    /// Manage the quarantine, erase personal data.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn from_code(code: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|scope| scope.code() == code)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A caller with a valid API key. `name` identifies the key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPrincipal {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl ApiPrincipal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// The use case "may this key do that?".
#[derive(Clone)]
pub struct ApiAccess {
    keys: Arc<dyn ApiKeyVerifier>,
}

impl fmt::Debug for ApiAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiAccess").finish_non_exhaustive()
    }
}

impl ApiAccess {
    pub fn new(keys: Arc<dyn ApiKeyVerifier>) -> Self {
        ApiAccess { keys }
    }

    /// The principal of `key` when it is valid and has `scope`.
    pub async fn authorize(
        &self,
        key: Option<&SecretString>,
        scope: Scope,
    ) -> Result<ApiPrincipal, AccessError> {
        let key = key.ok_or(AccessError::Unauthorized)?;
        let principal = self
            .keys
            .verify(key)
            .await?
            .ok_or(AccessError::Unauthorized)?;
        if principal.has(scope) {
            Ok(principal)
        } else {
            Err(AccessError::Forbidden(scope))
        }
    }
}
