//! [`WebhookTokenStore`] on sea-orm.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{NewToken, SecretHash, StorageError, TokenRecord, WebhookTokenStore};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder,
};

use crate::{
    Inner,
    entity::webhook_token,
    mapping::{from_micros, to_micros},
    storage_error,
};

#[derive(Clone)]
pub struct SeaOrmWebhookTokenStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SeaOrmWebhookTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmWebhookTokenStore")
            .finish_non_exhaustive()
    }
}

impl SeaOrmWebhookTokenStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SeaOrmWebhookTokenStore { inner }
    }
}

const TABLE: &str = "webhook_tokens";

fn record(row: webhook_token::Model) -> Result<TokenRecord, StorageError> {
    let instant = |micros: Option<i64>| micros.map(|m| from_micros(TABLE, row.id, m)).transpose();
    Ok(TokenRecord {
        id: row.id,
        created_at: from_micros(TABLE, row.id, row.created_at_us)?,
        expires_at: instant(row.expires_at_us)?,
        revoked_at: instant(row.revoked_at_us)?,
        name: row.name,
    })
}

#[async_trait]
impl WebhookTokenStore for SeaOrmWebhookTokenStore {
    async fn create(&self, token: NewToken) -> Result<TokenRecord, StorageError> {
        let _writer = self.inner.write_turn().await;
        let row = webhook_token::ActiveModel {
            id: NotSet,
            name: Set(token.name),
            token_hash: Set(token.hash.to_hex()),
            created_at_us: Set(to_micros(&token.created_at)),
            expires_at_us: Set(token.expires_at.as_ref().map(to_micros)),
            revoked_at_us: Set(None),
        };
        record(row.insert(&self.inner.db).await.map_err(storage_error)?)
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        webhook_token::Entity::find()
            .order_by_asc(webhook_token::Column::Id)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?
            .into_iter()
            .map(record)
            .collect()
    }

    async fn revoke(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StorageError> {
        let _writer = self.inner.write_turn().await;
        webhook_token::Entity::update_many()
            .col_expr(
                webhook_token::Column::RevokedAtUs,
                sea_orm::sea_query::Expr::value(to_micros(&at)),
            )
            .filter(webhook_token::Column::Id.eq(id))
            .filter(webhook_token::Column::RevokedAtUs.is_null())
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        webhook_token::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(record)
            .transpose()
    }

    async fn find_valid(
        &self,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StorageError> {
        webhook_token::Entity::find()
            .filter(webhook_token::Column::TokenHash.eq(hash.to_hex()))
            .filter(webhook_token::Column::RevokedAtUs.is_null())
            .filter(
                Condition::any()
                    .add(webhook_token::Column::ExpiresAtUs.is_null())
                    .add(webhook_token::Column::ExpiresAtUs.gt(to_micros(&now))),
            )
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(record)
            .transpose()
    }
}
