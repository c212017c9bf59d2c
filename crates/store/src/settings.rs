//! Installation-wide key/value settings.

use crate::Result;
use crate::entities::system_setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

pub const TOKEN_SIGNING_KEY: &str = "token_signing_key";
pub const SETUP_TOKEN_HASH: &str = "setup_token_hash";

pub async fn get(conn: &impl ConnectionTrait, key: &str) -> Result<Option<String>> {
    Ok(system_setting::Entity::find_by_id(key.to_owned())
        .one(conn)
        .await?
        .map(|s| s.value))
}

pub async fn put(conn: &impl ConnectionTrait, key: &str, value: &str) -> Result<()> {
    system_setting::Entity::insert(system_setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
    })
    .on_conflict(
        OnConflict::column(system_setting::Column::Key)
            .update_column(system_setting::Column::Value)
            .to_owned(),
    )
    .exec(conn)
    .await?;
    Ok(())
}

/// Insert only if absent; returns the value that is stored afterwards. Two
/// nodes starting at once agree on one value.
pub async fn get_or_insert(conn: &impl ConnectionTrait, key: &str, value: &str) -> Result<String> {
    system_setting::Entity::insert(system_setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
    })
    .on_conflict(
        OnConflict::column(system_setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec(conn)
    .await?;
    get(conn, key)
        .await?
        .ok_or_else(|| crate::StoreError::Corrupt(format!("setting {key} vanished")))
}

pub async fn delete(conn: &impl ConnectionTrait, key: &str) -> Result<()> {
    system_setting::Entity::delete_by_id(key.to_owned())
        .exec(conn)
        .await?;
    Ok(())
}

/// Delete a setting, returning whether it was there. Used as a one-shot
/// claim: of two concurrent takers, one gets true.
pub async fn take(conn: &impl ConnectionTrait, key: &str) -> Result<bool> {
    Ok(system_setting::Entity::delete_by_id(key.to_owned())
        .exec(conn)
        .await?
        .rows_affected
        == 1)
}
