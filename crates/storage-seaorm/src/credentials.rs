//! [`CredentialStore`] on sea-orm.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    CredentialKind, CredentialRecord, CredentialStore, NewCredential, SecretHash, StorageError,
    scopes_from_text, scopes_to_text,
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder,
};

use crate::{
    Inner,
    entity::credential,
    mapping::{corrupt, from_micros, to_micros},
    storage_error,
};

#[derive(Clone)]
pub struct SeaOrmCredentialStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SeaOrmCredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmCredentialStore")
            .finish_non_exhaustive()
    }
}

impl SeaOrmCredentialStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SeaOrmCredentialStore { inner }
    }
}

const TABLE: &str = "credentials";
const KINDS: [CredentialKind; 2] = [CredentialKind::WebhookToken, CredentialKind::ApiKey];

fn record(row: credential::Model) -> Result<CredentialRecord, StorageError> {
    let instant = |micros: Option<i64>| micros.map(|m| from_micros(TABLE, row.id, m)).transpose();
    let kind = KINDS
        .into_iter()
        .find(|kind| kind.code() == row.kind)
        .ok_or_else(|| corrupt(TABLE, row.id, format!("unknown kind {}", row.kind)))?;
    Ok(CredentialRecord {
        id: row.id,
        kind,
        scopes: scopes_from_text(&row.scopes),
        created_at: from_micros(TABLE, row.id, row.created_at_us)?,
        expires_at: instant(row.expires_at_us)?,
        revoked_at: instant(row.revoked_at_us)?,
        name: row.name,
    })
}

#[async_trait]
impl CredentialStore for SeaOrmCredentialStore {
    async fn create(&self, credential: NewCredential) -> Result<CredentialRecord, StorageError> {
        let _writer = self.inner.write_turn().await;
        let row = credential::ActiveModel {
            id: NotSet,
            kind: Set(credential.kind.code().to_owned()),
            name: Set(credential.name),
            secret_hash: Set(credential.hash.to_hex()),
            scopes: Set(scopes_to_text(&credential.scopes)),
            created_at_us: Set(to_micros(&credential.created_at)),
            expires_at_us: Set(credential.expires_at.as_ref().map(to_micros)),
            revoked_at_us: Set(None),
        };
        record(row.insert(&self.inner.db).await.map_err(storage_error)?)
    }

    async fn list(&self, kind: CredentialKind) -> Result<Vec<CredentialRecord>, StorageError> {
        credential::Entity::find()
            .filter(credential::Column::Kind.eq(kind.code()))
            .order_by_asc(credential::Column::Id)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?
            .into_iter()
            .map(record)
            .collect()
    }

    async fn revoke(
        &self,
        kind: CredentialKind,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StorageError> {
        let _writer = self.inner.write_turn().await;
        credential::Entity::update_many()
            .col_expr(
                credential::Column::RevokedAtUs,
                sea_orm::sea_query::Expr::value(to_micros(&at)),
            )
            .filter(credential::Column::Id.eq(id))
            .filter(credential::Column::Kind.eq(kind.code()))
            .filter(credential::Column::RevokedAtUs.is_null())
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        credential::Entity::find_by_id(id)
            .filter(credential::Column::Kind.eq(kind.code()))
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(record)
            .transpose()
    }

    async fn find_valid(
        &self,
        kind: CredentialKind,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StorageError> {
        credential::Entity::find()
            .filter(credential::Column::SecretHash.eq(hash.to_hex()))
            .filter(credential::Column::Kind.eq(kind.code()))
            .filter(credential::Column::RevokedAtUs.is_null())
            .filter(
                Condition::any()
                    .add(credential::Column::ExpiresAtUs.is_null())
                    .add(credential::Column::ExpiresAtUs.gt(to_micros(&now))),
            )
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(record)
            .transpose()
    }
}
