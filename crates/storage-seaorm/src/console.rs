//! [`UserStore`] and [`SessionStore`] on sea-orm: the web console's people.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    NewUser, PasswordHash, Role, SecretHash, SessionRecord, SessionStore, StorageError, UserRecord,
    UserStore, Username,
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, SqlErr,
    sea_query::Expr,
};

use crate::{
    Inner,
    entity::{console_session as session, console_user as user},
    mapping::{corrupt, from_micros, to_micros},
    storage_error,
};

#[derive(Clone)]
pub struct SeaOrmConsoleStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SeaOrmConsoleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmConsoleStore").finish_non_exhaustive()
    }
}

impl SeaOrmConsoleStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SeaOrmConsoleStore { inner }
    }
}

const USERS: &str = "console_users";
const SESSIONS: &str = "console_sessions";

fn user_record(row: &user::Model) -> Result<UserRecord, StorageError> {
    Ok(UserRecord {
        id: row.id,
        username: Username::parse(&row.username)
            .map_err(|_| corrupt(USERS, row.id, "a username that does not parse"))?,
        role: Role::from_code(&row.role)
            .ok_or_else(|| corrupt(USERS, row.id, format!("unknown role {}", row.role)))?,
        created_at: from_micros(USERS, row.id, row.created_at_us)?,
        disabled_at: row
            .disabled_at_us
            .map(|m| from_micros(USERS, row.id, m))
            .transpose()?,
    })
}

fn session_record(row: &session::Model) -> Result<SessionRecord, StorageError> {
    Ok(SessionRecord {
        id: row.id,
        user_id: row.user_id,
        created_at: from_micros(SESSIONS, row.id, row.created_at_us)?,
        last_seen_at: from_micros(SESSIONS, row.id, row.last_seen_at_us)?,
    })
}

impl SeaOrmConsoleStore {
    /// Sets `column` to `value` on the user `username` (only where `only_if` holds),
    /// then reads the user back.
    async fn update_user(
        &self,
        username: &Username,
        column: user::Column,
        value: sea_orm::Value,
        only_if: Option<sea_orm::Condition>,
    ) -> Result<Option<UserRecord>, StorageError> {
        let _writer = self.inner.write_turn().await;
        let mut update = user::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(user::Column::Username.eq(username.as_str()));
        if let Some(condition) = only_if {
            update = update.filter(condition);
        }
        update.exec(&self.inner.db).await.map_err(storage_error)?;
        self.user_named(username)
            .await?
            .as_ref()
            .map(user_record)
            .transpose()
    }

    /// Revokes, at `at`, the open sessions that `which` selects; returns how many.
    async fn revoke_where(
        &self,
        which: sea_orm::Condition,
        at: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let _writer = self.inner.write_turn().await;
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAtUs, Expr::value(to_micros(&at)))
            .filter(which)
            .filter(session::Column::RevokedAtUs.is_null())
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(result.rows_affected)
    }

    async fn user_named(&self, username: &Username) -> Result<Option<user::Model>, StorageError> {
        user::Entity::find()
            .filter(user::Column::Username.eq(username.as_str()))
            .one(&self.inner.db)
            .await
            .map_err(storage_error)
    }
}

#[async_trait]
impl UserStore for SeaOrmConsoleStore {
    async fn create(&self, new: NewUser) -> Result<Option<UserRecord>, StorageError> {
        let _writer = self.inner.write_turn().await;
        let row = user::ActiveModel {
            id: NotSet,
            username: Set(new.username.as_str().to_owned()),
            role: Set(new.role.code().to_owned()),
            password_hash: Set(new.password.0),
            created_at_us: Set(to_micros(&new.created_at)),
            disabled_at_us: Set(None),
        };
        match row.insert(&self.inner.db).await {
            Ok(row) => user_record(&row).map(Some),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(None)
            }
            Err(error) => Err(storage_error(error)),
        }
    }

    async fn list(&self) -> Result<Vec<UserRecord>, StorageError> {
        user::Entity::find()
            .order_by_asc(user::Column::Username)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?
            .iter()
            .map(user_record)
            .collect()
    }

    async fn find(
        &self,
        username: &Username,
    ) -> Result<Option<(UserRecord, PasswordHash)>, StorageError> {
        self.user_named(username)
            .await?
            .map(|row| Ok((user_record(&row)?, PasswordHash(row.password_hash))))
            .transpose()
    }

    async fn get(&self, id: i64) -> Result<Option<UserRecord>, StorageError> {
        user::Entity::find_by_id(id)
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .as_ref()
            .map(user_record)
            .transpose()
    }

    async fn disable(
        &self,
        username: &Username,
        at: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StorageError> {
        // Disabling twice keeps the first time.
        let not_yet = sea_orm::Condition::all().add(user::Column::DisabledAtUs.is_null());
        self.update_user(
            username,
            user::Column::DisabledAtUs,
            to_micros(&at).into(),
            Some(not_yet),
        )
        .await
    }

    async fn set_password(
        &self,
        username: &Username,
        password: PasswordHash,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.update_user(
            username,
            user::Column::PasswordHash,
            password.0.into(),
            None,
        )
        .await
    }
}

#[async_trait]
impl SessionStore for SeaOrmConsoleStore {
    async fn create(
        &self,
        user_id: i64,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<SessionRecord, StorageError> {
        let _writer = self.inner.write_turn().await;
        let row = session::ActiveModel {
            id: NotSet,
            user_id: Set(user_id),
            token_hash: Set(hash.to_hex()),
            created_at_us: Set(to_micros(&at)),
            last_seen_at_us: Set(to_micros(&at)),
            revoked_at_us: Set(None),
        };
        session_record(&row.insert(&self.inner.db).await.map_err(storage_error)?)
    }

    async fn find(&self, hash: &SecretHash) -> Result<Option<SessionRecord>, StorageError> {
        session::Entity::find()
            .filter(session::Column::TokenHash.eq(hash.to_hex()))
            .filter(session::Column::RevokedAtUs.is_null())
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .as_ref()
            .map(session_record)
            .transpose()
    }

    async fn touch(&self, id: i64, at: DateTime<Utc>) -> Result<(), StorageError> {
        let _writer = self.inner.write_turn().await;
        // Never earlier than it was: two requests may touch out of order.
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAtUs, Expr::value(to_micros(&at)))
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::LastSeenAtUs.lt(to_micros(&at)))
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn revoke(&self, hash: &SecretHash, at: DateTime<Utc>) -> Result<(), StorageError> {
        let which = sea_orm::Condition::all().add(session::Column::TokenHash.eq(hash.to_hex()));
        self.revoke_where(which, at).await.map(|_| ())
    }

    async fn revoke_user(&self, user_id: i64, at: DateTime<Utc>) -> Result<u64, StorageError> {
        let which = sea_orm::Condition::all().add(session::Column::UserId.eq(user_id));
        self.revoke_where(which, at).await
    }
}
